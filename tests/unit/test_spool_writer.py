"""The gateway's spool writer: every accepted message stored, concurrent ones together."""

from __future__ import annotations

import asyncio

from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import Session, sessionmaker

from forum.models import InboundMessage
from mailgateway.spool_writer import Accepted, SpoolWriter

RCPT = "housing@lists.example.org"


def message(n: int) -> Accepted:
    raw = f"From: m{n}@council.example\r\nTo: {RCPT}\r\nSubject: {n}\r\n\r\nPost {n}.\r\n".encode()
    return Accepted(raw, f"m{n}@council.example", [RCPT], "smtp", "192.0.2.1")


def test_concurrent_messages_share_commits_and_each_gets_its_own_row(
    engine: Engine, sessionmaker: sessionmaker[Session]
) -> None:
    commits: list[int] = []
    event.listen(engine, "commit", lambda _conn: commits.append(1))

    async def accept_all() -> list[int]:
        writer = SpoolWriter(sessionmaker)
        ids = await asyncio.gather(*(writer.store(message(n)) for n in range(8)))
        ids.append(await writer.store(message(8)))  # alone: a transaction of its own
        await writer.close()
        return ids

    ids = asyncio.run(accept_all())
    assert len(set(ids)) == 9
    assert len(commits) == 2, "the eight sent together were committed together"
    with sessionmaker() as session:
        stored = {row.id: row for row in session.scalars(select(InboundMessage))}
    assert sorted(stored) == sorted(ids)
    assert stored[ids[3]].raw == message(3).raw and stored[ids[3]].client_ip == "192.0.2.1"


def test_a_failed_commit_fails_every_message_in_it(engine: Engine, sessionmaker: sessionmaker[Session]) -> None:
    def refuse(*_args: object) -> None:
        raise RuntimeError("disk full")

    event.listen(engine, "commit", refuse)

    async def accept_two() -> list[object]:
        writer = SpoolWriter(sessionmaker)
        results = await asyncio.gather(writer.store(message(1)), writer.store(message(2)), return_exceptions=True)
        await writer.close()
        return results

    results = asyncio.run(accept_two())
    assert all(isinstance(r, RuntimeError) for r in results), "each sender hears it (a 451 to retry)"
    event.remove(engine, "commit", refuse)
    with sessionmaker() as session:
        assert session.scalar(select(func.count()).select_from(InboundMessage)) == 0
