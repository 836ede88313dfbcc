"""The outbox: claimed once, retried with backoff, never lost when a worker dies."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker as SessionMaker

from forum import db, outbox
from forum.models import OutboxItem, OutboxStatus, utcnow

LEASE = timedelta(minutes=5)


def enqueue(sessionmaker: SessionMaker[Session], n: int, prefix: str = "notice") -> list[str]:
    keys = [f"{prefix}:{i}" for i in range(n)]
    with sessionmaker.begin() as session:
        for key in keys:
            outbox.enqueue_notice(
                session, dedupe_key=key, address=f"{key.replace(':', '-')}@example.org", payload={"subject": key}
            )
    return keys


def claim(sessionmaker: SessionMaker[Session], limit: int = 100) -> list[outbox.Claimed]:
    with sessionmaker.begin() as session:
        return outbox.claim(session, [outbox.NOTICE_EMAIL], limit, lease=LEASE)


def status_of(sessionmaker: SessionMaker[Session], item_id: int) -> OutboxItem:
    with sessionmaker() as session:
        item = session.get(OutboxItem, item_id)
        assert item is not None
        return item


class Clock:
    """The outbox's idea of now: the real time, plus however far the test moved it on."""

    def __init__(self) -> None:
        self.ahead = timedelta(0)

    def __call__(self) -> datetime:
        return utcnow() + self.ahead


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(outbox, "utcnow", clock)
    return clock


def test_claim_returns_due_rows_oldest_first_and_marks_them_sending(sessionmaker: SessionMaker[Session]) -> None:
    keys = enqueue(sessionmaker, 5)
    claimed = claim(sessionmaker, limit=3)
    assert [c.payload["subject"] for c in claimed] == keys[:3]
    assert [c.attempts for c in claimed] == [1, 1, 1]
    assert status_of(sessionmaker, claimed[0].id).status is OutboxStatus.sending


def test_claimed_rows_are_not_claimed_again(sessionmaker: SessionMaker[Session]) -> None:
    enqueue(sessionmaker, 3)
    first = claim(sessionmaker, limit=2)
    second = claim(sessionmaker)
    assert {c.id for c in first}.isdisjoint(c.id for c in second) and len(second) == 1
    assert claim(sessionmaker) == []


def test_claim_only_takes_the_kinds_asked_for(sessionmaker: SessionMaker[Session]) -> None:
    enqueue(sessionmaker, 2)
    with sessionmaker.begin() as session:
        assert outbox.claim(session, [outbox.POST_EMAIL], 10) == []


def test_enqueue_is_idempotent_by_dedupe_key(sessionmaker: SessionMaker[Session]) -> None:
    enqueue(sessionmaker, 2)
    enqueue(sessionmaker, 2)
    assert len(claim(sessionmaker)) == 2


def test_rows_of_a_dead_worker_become_claimable_when_the_lease_runs_out(
    sessionmaker: SessionMaker[Session], clock: Clock
) -> None:
    enqueue(sessionmaker, 2)
    crashed = claim(sessionmaker)
    clock.ahead = LEASE - timedelta(seconds=1)
    assert claim(sessionmaker) == []
    clock.ahead = LEASE + timedelta(seconds=1)
    again = claim(sessionmaker)
    assert [c.id for c in again] == [c.id for c in crashed]
    assert [c.attempts for c in again] == [2, 2]


def test_done_rows_are_never_claimed_again(sessionmaker: SessionMaker[Session], clock: Clock) -> None:
    enqueue(sessionmaker, 2)
    claimed = claim(sessionmaker)
    with sessionmaker.begin() as session:
        outbox.mark_done(session, [c.id for c in claimed])
        assert outbox.pending_count(session) == 0
    clock.ahead = timedelta(days=1)
    assert claim(sessionmaker) == []
    assert status_of(sessionmaker, claimed[0].id).done_at is not None


def test_retry_later_waits_for_the_delay(sessionmaker: SessionMaker[Session], clock: Clock) -> None:
    enqueue(sessionmaker, 1)
    (item,) = claim(sessionmaker)
    with sessionmaker.begin() as session:
        outbox.retry_later(session, item.id, "451 4.3.0 try later", timedelta(seconds=60))
    row = status_of(sessionmaker, item.id)
    assert (row.status, row.last_error, row.claimed_until) == (OutboxStatus.pending, "451 4.3.0 try later", None)
    clock.ahead = timedelta(seconds=59)
    assert claim(sessionmaker) == []
    clock.ahead = timedelta(seconds=61)
    (again,) = claim(sessionmaker)
    assert (again.id, again.attempts) == (item.id, 2)


def test_backoff_doubles_up_to_the_cap() -> None:
    delays = [outbox.backoff(n, base_seconds=30, max_seconds=3600).total_seconds() for n in range(1, 10)]
    assert delays == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]


def test_permanent_failure_is_recorded_and_never_retried(sessionmaker: SessionMaker[Session], clock: Clock) -> None:
    enqueue(sessionmaker, 1)
    (item,) = claim(sessionmaker)
    with sessionmaker.begin() as session:
        outbox.mark_failed(session, item.id, "550 5.1.1 no such user")
    row = status_of(sessionmaker, item.id)
    assert (row.status, row.last_error) == (OutboxStatus.failed, "550 5.1.1 no such user")
    clock.ahead = timedelta(days=30)
    assert claim(sessionmaker) == []


def test_release_hands_rows_back_untouched(sessionmaker: SessionMaker[Session]) -> None:
    enqueue(sessionmaker, 2)
    claimed = claim(sessionmaker)
    with sessionmaker.begin() as session:
        outbox.release(session, [c.id for c in claimed])
        assert outbox.pending_count(session) == 2
    again = claim(sessionmaker)
    assert [c.id for c in again] == [c.id for c in claimed]
    assert [c.attempts for c in again] == [1, 1]  # a clean shutdown is not a failed attempt


def test_concurrent_workers_claim_disjoint_rows_on_postgresql(engine: Engine) -> None:
    """Two workers, each in an open transaction, must never be handed the same row."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SKIP LOCKED is PostgreSQL's; SQLite has a single writer, so claims cannot overlap")
    other_engine = db.make_engine(engine.url.render_as_string(hide_password=False))
    try:
        first, second = db.make_sessionmaker(engine), db.make_sessionmaker(other_engine)
        enqueue(first, 10)
        with first.begin() as worker_a, second.begin() as worker_b:
            a = outbox.claim(worker_a, [outbox.NOTICE_EMAIL], 4)  # locks held until commit
            b = outbox.claim(worker_b, [outbox.NOTICE_EMAIL], 10)
        assert len(a) == 4 and len(b) == 6
        assert {c.id for c in a}.isdisjoint(c.id for c in b)
        with first() as session:
            statuses = set(session.scalars(select(OutboxItem.status)))
        assert statuses == {OutboxStatus.sending}
    finally:
        other_engine.dispose()
