"""Engines and sessions.

SQLite is tuned for a single embedded process serving many readers: WAL (readers never
block the writer), ``synchronous=FULL`` (a committed inbound message survives power loss,
which the gateway's 250 promises), a busy timeout instead of instant "database is locked",
and foreign keys on. PostgreSQL needs nothing special.
"""

from __future__ import annotations

import itertools
import os
import sqlite3
import time
import weakref
from typing import Any

from sqlalchemy import CursorResult, Engine, Result, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

READONLY = "listbridge_readonly"


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # Let SQLAlchemy, not pysqlite, decide when transactions begin (see "begin" below).
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cur.close()


BUSY_TIMEOUT_MS = 30_000
# A writer waiting for SQLite's write lock tries again after these pauses, then every
# last one, until BUSY_TIMEOUT_MS. SQLite's own busy handler pauses in steps of whole and
# growing milliseconds, so a writer that just missed a short transaction waited several
# times its length; writers here (the SMTP listener storing a message while its sender
# waits, the spool processor, the web) hold the lock only briefly (bench/README.md, "SMTP
# ingest").
BUSY_PAUSES = (0.0002, 0.0005, 0.001, 0.002)


def _sqlite_begin(conn: Any) -> None:
    # A writing transaction takes the write lock up front (BEGIN IMMEDIATE), so two writers
    # queue instead of failing with "database is locked" when a reader upgrades to a
    # writer; read-only sessions begin deferred and never wait for writers.
    if conn.get_execution_options().get(READONLY, False):
        conn.exec_driver_sql("BEGIN")
        return
    dbapi = conn.connection.dbapi_connection
    dbapi.execute("PRAGMA busy_timeout=0")
    try:
        _begin_immediate(dbapi)
    finally:
        dbapi.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")


def _begin_immediate(dbapi: Any) -> None:
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    for attempt in itertools.count():
        try:
            dbapi.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
        time.sleep(BUSY_PAUSES[min(attempt, len(BUSY_PAUSES) - 1)])


# Every engine made here. A forked process (the web archive's servers) must never use a
# connection its parent opened: both would talk over one socket or file handle at once.
_ENGINES: weakref.WeakSet[Engine] = weakref.WeakSet()


def _forget_parents_connections() -> None:
    for engine in list(_ENGINES):
        engine.dispose(close=False)  # a new pool here; the parent's connections stay the parent's


os.register_at_fork(after_in_child=_forget_parents_connections)


def _sqlite_no_flush_on_commit(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.execute("PRAGMA synchronous=NORMAL")


def make_engine(url: str, *, flush_commits: bool = True, **kwargs: Any) -> Engine:
    """An engine for ``url`` with the per-dialect settings above.

    ``flush_commits=False`` is for records written many times a second whose loss would
    cost a repeat, never data (delivery outcomes): a commit returns before the disk
    flush, so it survives the process's death (even SIGKILL) but not the machine's
    (SQLite ``synchronous=NORMAL``; PostgreSQL ``synchronous_commit=off``, and each
    statement its own transaction: one round trip instead of three).
    """
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        if not flush_commits:
            event.listen(engine, "connect", _sqlite_no_flush_on_commit)
        event.listen(engine, "begin", _sqlite_begin)
    else:
        if not flush_commits:
            kwargs = {
                "connect_args": {"options": "-c synchronous_commit=off"},
                "isolation_level": "AUTOCOMMIT",
                **kwargs,
            }
        engine = create_engine(url, **{"pool_pre_ping": True, **kwargs})
    _ENGINES.add(engine)
    return engine


def make_sessionmaker(engine: Engine, *, readonly: bool = False) -> sessionmaker[Session]:
    """Sessions that keep loaded values after commit (callers read results after the block).

    ``readonly=True`` is for sessions that only read (SMTP checks, web pages): on SQLite
    they never queue behind a writer; on PostgreSQL each statement is its own transaction,
    two round trips (BEGIN, ROLLBACK) fewer a session and no difference in what is read
    (at READ COMMITTED every statement sees what was committed when it began anyway).
    """
    options: dict[str, Any] = {READONLY: True} if readonly else {}
    if readonly and not is_sqlite(engine):
        options["isolation_level"] = "AUTOCOMMIT"
    bind = engine.execution_options(**options) if options else engine
    return sessionmaker(bind, expire_on_commit=False)


def rowcount(result: Result[Any]) -> int:
    """How many rows the INSERT, UPDATE or DELETE that gave ``result`` touched.

    ``Session.execute`` is typed to return a plain Result; for these statements it is the
    driver's cursor result, which has the count."""
    if not isinstance(result, CursorResult):
        raise TypeError(f"not the result of an INSERT, UPDATE or DELETE: {result!r}")
    return result.rowcount
