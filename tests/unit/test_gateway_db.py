"""The SMTP listener's database thread: every command answered, concurrent ones together."""

from __future__ import annotations

import asyncio

from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import Session, sessionmaker

from forum.db import make_sessionmaker
from forum.models import InboundMessage
from mailgateway.incoming import spooling
from mailgateway.incoming.gateway_db import GatewayDB

RCPT = "housing@lists.example.org"


def nothing(_session: Session) -> None:
    return None


def store(n: int):
    def work(session: Session, _checked: None) -> int:
        raw = f"From: m{n}@council.example\r\nTo: {RCPT}\r\nSubject: {n}\r\n\r\nPost {n}.\r\n".encode()
        return spooling.spool(session, raw, f"m{n}@council.example", [RCPT], "smtp", client_ip="192.0.2.1")

    return work


def count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(InboundMessage)) or 0


def test_concurrent_messages_share_a_commit_and_each_gets_its_own_row(
    engine: Engine, sessionmaker: sessionmaker[Session]
) -> None:
    commits: list[int] = []
    event.listen(engine, "commit", lambda _conn: commits.append(1))

    async def accept_all() -> tuple[list[int], int]:
        db = GatewayDB(sessionmaker, make_sessionmaker(engine, readonly=True))
        ids = await asyncio.gather(*(db.store(nothing, store(n)) for n in range(8)))
        ids.append(await db.store(nothing, store(8)))  # alone: a transaction of its own
        seen = await db.read(count)
        await db.close()
        return ids, seen

    ids, seen = asyncio.run(accept_all())
    assert len(set(ids)) == 9 and seen == 9
    assert len(commits) == 2, "the eight sent together were committed together"
    with sessionmaker() as session:
        row = session.get(InboundMessage, ids[3])
        assert row is not None and row.raw.startswith(b"From: m3@") and row.client_ip == "192.0.2.1"


def test_a_failed_commit_fails_every_message_in_it_and_a_bug_only_its_own(
    engine: Engine, sessionmaker: sessionmaker[Session]
) -> None:
    def refuse(*_args: object) -> None:
        raise OSError("disk full")

    def bug(_session: Session, _checked: None) -> int:
        raise ValueError("a bug")

    async def accept(works) -> list[object]:
        db = GatewayDB(sessionmaker, make_sessionmaker(engine, readonly=True))
        results = await asyncio.gather(*(db.store(nothing, w) for w in works), return_exceptions=True)
        await db.close()
        return results

    event.listen(engine, "commit", refuse)
    results = asyncio.run(accept([store(1), store(2)]))
    assert [type(r) for r in results] == [OSError, OSError], "each sender hears it (a 451 to send again)"
    event.remove(engine, "commit", refuse)
    with sessionmaker() as session:
        assert count(session) == 0

    results = asyncio.run(accept([store(3), bug, store(4)]))
    assert isinstance(results[1], ValueError) and all(isinstance(r, int) for r in (results[0], results[2]))
    with sessionmaker() as session:
        assert count(session) == 2
