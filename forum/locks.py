"""Site-wide locks: for work that must run in one process at a time, across every process
sharing the site's database (the digest scheduler).

On PostgreSQL, a session-level advisory lock held by a connection kept open while the
work runs; on SQLite, whose processes share one machine, an exclusive ``flock`` on a file
next to the database. Either way the lock goes when its holder dies, however it dies
(SIGKILL, a lost machine closes its database connection), so a process waiting on
standby takes over without an operator.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
from typing import Protocol

from sqlalchemy import Connection, Engine, text

log = logging.getLogger(__name__)


class SiteLock(Protocol):
    def acquire(self) -> bool:
        """Take the lock if it is free; never waits."""

    def held(self) -> bool:
        """Still ours? False once the connection that holds it is gone."""

    def release(self) -> None:
        """Give it up (a no-op when not held)."""


def site_lock(engine: Engine, name: str) -> SiteLock:
    """The lock called ``name`` among the processes using ``engine``'s database."""
    if engine.dialect.name == "postgresql":
        return AdvisoryLock(engine, name)
    database = engine.url.database
    if not database or database == ":memory:":
        return ProcessLock()  # an in-memory database is this process's alone
    return FileLock(f"{database}.{name}.lock")


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for ``name`` (what ``pg_try_advisory_lock`` takes)."""
    return int.from_bytes(hashlib.sha256(f"listbridge:{name}".encode()).digest()[:8], "big", signed=True)


class AdvisoryLock:
    def __init__(self, engine: Engine, name: str) -> None:
        self.engine = engine
        self.key = lock_key(name)
        self._conn: Connection | None = None

    def acquire(self) -> bool:
        if self._conn is not None:
            return True
        # Autocommit: the lock belongs to the session, and an idle transaction held for
        # days would keep PostgreSQL from vacuuming.
        conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            got = bool(conn.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key}))
        except Exception:
            conn.close()
            raise
        if got:
            self._conn = conn
        else:
            conn.close()
        return got

    def held(self) -> bool:
        if self._conn is None:
            return False
        try:
            self._conn.scalar(text("SELECT 1"))
            return True
        except Exception as exc:  # noqa: BLE001 - any failure means the session, and the lock, are gone
            log.warning("the connection holding a site lock failed: %s", exc)
            self._conn.invalidate()
            self._conn.close()
            self._conn = None
            return False

    def release(self) -> None:
        if self._conn is None:
            return
        try:
            self._conn.scalar(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
        except Exception as exc:  # noqa: BLE001 - a dead session has released it already
            log.warning("releasing a site lock failed (it goes with its connection): %s", exc)
            self._conn.invalidate()
        self._conn.close()
        self._conn = None


class FileLock:
    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> bool:
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the file gives up the lock
            self._fd = None


class ProcessLock:
    def __init__(self) -> None:
        self._held = False

    def acquire(self) -> bool:
        self._held = True
        return True

    def held(self) -> bool:
        return self._held

    def release(self) -> None:
        self._held = False
