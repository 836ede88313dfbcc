"""Each test's database gets the newest schema copied in, made once per run by the migrations.

Running every migration costs over half a second a test on SQLite and more on PostgreSQL;
copying their result costs a file copy on SQLite and one script on PostgreSQL. The
migrations themselves still run from scratch in tests/unit/test_migrations.py and in the
served tests that check ``listbridge init``.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from sqlalchemy import create_engine, make_url
from sqlalchemy.pool import NullPool

from forum import db, schema

# A test's schema need not survive a crash of the machine: not waiting for the disk makes
# dropping and making it several times faster.
UNFLUSHED = "SET LOCAL synchronous_commit = off"


def reset_postgres(url: str) -> None:
    """Empty the test database by dropping and recreating its ``public`` schema.

    Faster than a database per test, and safe because tests run one at a time. The lock
    timeout turns a connection some earlier test leaked into an error instead of a hang.
    """
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(UNFLUSHED)
            conn.exec_driver_sql("SET LOCAL lock_timeout = '10s'")
            conn.exec_driver_sql("DROP SCHEMA IF EXISTS public CASCADE")
            conn.exec_driver_sql("CREATE SCHEMA public")
    finally:
        engine.dispose()


class _SqliteHead:
    """A migrated database file; a test's database starts as a copy of it."""

    def __init__(self) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix="listbridge-head-schema-")
        self._file = Path(self._folder.name) / "head.db"
        engine = db.make_engine(f"sqlite:///{self._file}")
        schema.upgrade(engine)
        engine.dispose()

    def copy_into(self, url: str) -> None:
        path = make_url(url).database
        assert path and not Path(path).exists(), f"{url} is not a fresh database"
        shutil.copyfile(self._file, path)


class _PostgresHead:
    """``pg_dump``'s SQL of a migrated ``public`` schema, run in a test's emptied one.

    Without pg_dump (a server elsewhere, no client tools here) each test migrates.
    """

    def __init__(self, url: str) -> None:
        self._sql: str | None = None
        if shutil.which("pg_dump"):
            reset_postgres(url)
            engine = db.make_engine(url, poolclass=NullPool)
            schema.upgrade(engine)
            engine.dispose()
            self._sql = _dump_public_schema(url)
            reset_postgres(url)

    def copy_into(self, url: str) -> None:
        engine = create_engine(url, poolclass=NullPool)
        try:
            if self._sql is None:
                schema.upgrade(engine)
                return
            with engine.begin() as conn:
                conn.exec_driver_sql(UNFLUSHED)
                conn.exec_driver_sql(self._sql)
        finally:
            engine.dispose()


def _dump_public_schema(url: str) -> str:
    """``pg_dump`` of the ``public`` schema (tables, triggers, functions and rows) as SQL.

    Its statements qualify every name and set ``search_path`` empty, which lasts only for
    the connection that runs them. Left out: ``CREATE SCHEMA public`` (the reset keeps
    one) and psql's meta-commands (``\\restrict``), which only psql understands. A dump of
    one schema leaves out the extensions unless named: search's unaccent (migration 0018)
    is, as dropping the schema drops it.
    """
    libpq_url = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    dump = subprocess.run(
        [
            "pg_dump",
            "--no-owner",
            "--no-privileges",
            "--inserts",
            "--schema=public",
            "--extension=unaccent",
            f"--dbname={libpq_url}",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    kept = (line for line in dump.splitlines() if line.strip() != "CREATE SCHEMA public;" and not line.startswith("\\"))
    return "\n".join(kept)


_HEADS: dict[str, _SqliteHead | _PostgresHead] = {}


def copy_head_schema(url: str) -> None:
    """Give the empty database at ``url`` (a test's) the newest schema, as ``listbridge init`` would."""
    if url.startswith("sqlite"):
        head = _HEADS.get("sqlite") or _HEADS.setdefault("sqlite", _SqliteHead())
    else:
        head = _HEADS.get(url) or _HEADS.setdefault(url, _PostgresHead(url))
    head.copy_into(url)
