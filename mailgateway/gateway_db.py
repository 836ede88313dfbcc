"""The SMTP listener's database work: one thread, in batches.

Every RCPT and DATA command waits on the database: the recipient check, then the posting
rules and the INSERT that must be committed before the 250. Done in the event loop's pool
of threads, each command cost a thread of its own, a session and, for DATA, a transaction
and a flush to disk; with Python running one thread at a time, the threads taking turns
cost more than the queries did. Here one thread takes every command waiting, runs the
recipient checks in one read-only session and the messages in one transaction committed
once (a group commit: concurrent senders share the flush to disk), and answers them all
in one wake-up of the event loop. With one sender it is one command at a time, as before.
One writer also means the listener's writes never queue on SQLite's write lock behind
each other, where a waiting writer sleeps in steps of milliseconds.

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


@dataclass(frozen=True)
class _Job(Generic[T]):
    work: Callable[[Session], T]
    writes: bool
    done: asyncio.Future[T]


class GatewayDB:
    def __init__(self, sessions: sessionmaker[Session], readers: sessionmaker[Session]) -> None:
        self.sessions = sessions
        self.readers = readers
        self._jobs: queue.SimpleQueue[_Job[Any] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def read(self, work: Callable[[Session], T]) -> T:
        """``work`` done in a read-only session."""
        return await self._submit(work, writes=False)

    async def write(self, work: Callable[[Session], T]) -> T:
        """``work`` done in a transaction, returned once that is committed."""
        return await self._submit(work, writes=True)

    async def _submit(self, work: Callable[[Session], T], writes: bool) -> T:
        if self._thread is None:
            self._loop = asyncio.get_running_loop()
            self._thread = threading.Thread(target=self._run, name="smtp-db", daemon=True)
            self._thread.start()
        job = _Job(work, writes, asyncio.get_running_loop().create_future())
        self._jobs.put(job)
        return await job.done

    def _run(self) -> None:
        assert self._loop is not None
        while True:
            batch = [self._jobs.get()]
            while not self._jobs.empty():
                batch.append(self._jobs.get_nowait())
            jobs = [job for job in batch if job is not None]
            outcomes = self._do([j for j in jobs if not j.writes], self.readers) + \
                self._do([j for j in jobs if j.writes], self.sessions.begin)
            self._loop.call_soon_threadsafe(_settle, outcomes)
            if None in batch:
                return

    @staticmethod
    def _do(jobs: list[_Job[Any]], session_of: Callable[[], Any]) -> list[tuple[_Job[Any], bool, Any]]:
        """Each job's (job, succeeded, result or exception)."""
        if not jobs:
            return []
        outcomes: list[tuple[_Job[Any], bool, Any]] = []
        try:
            with session_of() as session:
                for job in jobs:
                    try:
                        outcomes.append((job, True, job.work(session)))
                    except SQLAlchemyError:
                        raise  # the transaction is lost: the whole batch fails
                    except Exception as exc:  # noqa: BLE001 - a bug fails its own command only
                        outcomes.append((job, False, exc))
        except Exception as exc:  # noqa: BLE001 - each sender hears it from its own handler
            return [(job, False, exc) for job in jobs]
        return outcomes

    async def close(self) -> None:
        """Stop the thread, once every command handed over has its answer."""
        if self._thread is not None:
            self._jobs.put(None)
            await asyncio.to_thread(self._thread.join)


def _settle(outcomes: list[tuple[_Job[Any], bool, Any]]) -> None:
    for job, succeeded, value in outcomes:
        if job.done.cancelled():
            continue
        if succeeded:
            job.done.set_result(value)
        else:
            job.done.set_exception(value)
