"""Storing accepted messages, several to a transaction (group commit).

The gateway answers 250 only once a message is committed to disk, and that commit (its
flush to disk) is the slowest step of accepting a message. Messages whose DATA ends while
one commit is under way are stored together by the next, so concurrent senders share the
flushes instead of each waiting for one of their own; with a single sender it is one
message a transaction, as before. One writing thread also means this process's own
writes never queue on SQLite's write lock, where a waiting writer sleeps in steps of
milliseconds.

A failed transaction fails every message in it: each sender hears a temporary failure
(451) and sends again later, so nothing is lost.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from mailgateway import inbound


@dataclass(frozen=True)
class Accepted:
    """One message to store, as :func:`mailgateway.inbound.spool` takes it."""

    raw: bytes
    mail_from: str
    rcpts: list[str]
    channel: str
    client_ip: str | None


class SpoolWriter:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions
        self._queue: asyncio.Queue[tuple[Accepted, asyncio.Future[int]] | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def store(self, message: Accepted) -> int:
        """The spool id of ``message``, once it is committed."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="spool-writer")
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((message, done))
        return await done

    async def _run(self) -> None:
        closing = False
        while not closing:
            batch = []
            for item in [await self._queue.get()] + [self._queue.get_nowait() for _ in range(self._queue.qsize())]:
                if item is None:
                    closing = True
                else:
                    batch.append(item)
            if not batch:
                continue
            try:
                ids = await asyncio.to_thread(self._commit, [message for message, _ in batch])
            except Exception as exc:  # noqa: BLE001 - each sender is told, by its own DATA handler
                for _, done in batch:
                    done.set_exception(exc)
                continue
            for (_, done), inbound_id in zip(batch, ids):
                done.set_result(inbound_id)

    def _commit(self, messages: list[Accepted]) -> list[int]:
        with self.sessions.begin() as session:
            return [inbound.spool(session, m.raw, m.mail_from, m.rcpts, m.channel, client_ip=m.client_ip)
                    for m in messages]

    async def close(self) -> None:
        """Stop, once every message handed to :meth:`store` has its answer."""
        if self._task is not None:
            self._queue.put_nowait(None)
            await self._task
