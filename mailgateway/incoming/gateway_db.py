"""The SMTP listener's database work: one thread, in batches.

Every RCPT and DATA command waits on the database: the recipient check, then the posting
rules and the INSERT that must be committed before the 250. Done in the event loop's pool
of threads, each command cost a thread of its own, a session and, for DATA, a transaction
and a flush to disk; with Python running one thread at a time, the threads taking turns
cost more than the queries did. Here one thread takes every command waiting, runs their
checks in one read-only session and stores the messages in one transaction committed once
(a group commit: concurrent senders share the flush to disk), and answers them all in one
wake-up of the event loop. With one sender it is one command at a time, as before. The
write transaction holds only the INSERTs: on SQLite the spool processor (another process)
waits for the write lock meanwhile, and the listener for it.

A database error fails the batch it happened in: every sender in it hears a temporary
failure (451) and sends again later, so nothing is lost.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

T = TypeVar("T")
C = TypeVar("C")


@dataclass(frozen=True)
class _Job(Generic[C, T]):
    check: Callable[[Session], C]
    store: Callable[[Session, C], T] | None  # None: a read only
    done: asyncio.Future[Any]


class GatewayDB:
    def __init__(self, sessions: sessionmaker[Session], readers: sessionmaker[Session]) -> None:
        self.sessions = sessions
        self.readers = readers
        self._jobs: queue.SimpleQueue[_Job[Any, Any] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def read(self, check: Callable[[Session], C]) -> C:
        """``check`` done in a read-only session."""
        return await self._submit(check, None)

    async def store(self, check: Callable[[Session], C], store: Callable[[Session, C], T]) -> T:
        """``check`` done in a read-only session, then ``store`` given its result, in a
        transaction; returned once that is committed. The write lock (SQLite has one for
        the whole database) is taken only for the writing, not for the checks before it."""
        return await self._submit(check, store)

    async def _submit(self, check: Callable[[Session], Any], store: Callable[[Session, Any], Any] | None) -> Any:
        if self._thread is None:
            self._loop = asyncio.get_running_loop()
            self._thread = threading.Thread(target=self._run, name="smtp-db", daemon=True)
            self._thread.start()
        job = _Job(check, store, asyncio.get_running_loop().create_future())
        self._jobs.put(job)
        return await job.done

    def _run(self) -> None:
        assert self._loop is not None
        while True:
            batch = [self._jobs.get()]
            while not self._jobs.empty():
                batch.append(self._jobs.get_nowait())
            jobs = [job for job in batch if job is not None]
            checked = _each([(job, None) for job in jobs], self.readers, lambda job, session, _: job.check(session))
            stored = _each(
                [(job, value) for job, ok, value in checked if ok and job.store], self.sessions.begin, _store
            )
            outcomes = [(job, ok, value) for job, ok, value in checked if not ok or not job.store] + stored
            self._loop.call_soon_threadsafe(_settle, outcomes)
            if None in batch:
                return

    async def close(self) -> None:
        """Stop the thread, once every command handed over has its answer."""
        if self._thread is not None:
            self._jobs.put(None)
            await asyncio.to_thread(self._thread.join)


Outcome = tuple[_Job[Any, Any], bool, Any]  # the job, whether it succeeded, its result or exception


def _each(
    pairs: list[tuple[_Job[Any, Any], Any]],
    session_of: Callable[[], Any],
    work: Callable[[_Job[Any, Any], Session, Any], Any],
) -> list[Outcome]:
    """``work`` for each (job, value) in one session of ``session_of``."""
    if not pairs:
        return []
    outcomes: list[Outcome] = []
    try:
        with session_of() as session:
            for job, value in pairs:
                try:
                    outcomes.append((job, True, work(job, session, value)))
                except SQLAlchemyError:
                    raise  # the session is lost: the whole batch fails
                except Exception as exc:  # noqa: BLE001 - a bug fails its own command only
                    outcomes.append((job, False, exc))
    except Exception as exc:  # noqa: BLE001 - each sender hears it from its own handler
        return [(job, False, exc) for job, _ in pairs]
    return outcomes


def _store(job: _Job[Any, Any], session: Session, checked: Any) -> Any:
    assert job.store is not None  # only jobs with a store reach the write transaction
    return job.store(session, checked)


def _settle(outcomes: list[Outcome]) -> None:
    for job, succeeded, value in outcomes:
        if job.done.cancelled():
            continue
        if succeeded:
            job.done.set_result(value)
        else:
            job.done.set_exception(value)
