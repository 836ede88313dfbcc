"""The "new work" announcement: once per commit that queued outbox rows, never on rollback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker as SessionMaker

from forum import outbox, outbox_signal


@pytest.fixture
def announced() -> Iterator[list[str]]:
    heard: list[str] = []
    unsubscribe = outbox_signal.subscribe(lambda: heard.append("new work"))
    yield heard
    unsubscribe()


def queue_notice(session: Session, key: str) -> None:
    outbox.enqueue_notice(session, dedupe_key=key, address="someone@example.org", payload={"subject": key})


def test_a_commit_that_queued_rows_is_announced_once_after_it(
    sessionmaker: SessionMaker[Session], announced: list[str]
) -> None:
    with sessionmaker.begin() as session:
        queue_notice(session, "a")
        queue_notice(session, "b")
        session.flush()
        assert announced == []  # not before the rows are visible to a worker
    assert announced == ["new work"]
    with sessionmaker.begin() as session:  # a later transaction that queues nothing
        assert outbox.pending_count(session) == 2
    assert announced == ["new work"]


def test_a_rollback_announces_nothing_and_forgets_the_mark(
    sessionmaker: SessionMaker[Session], announced: list[str]
) -> None:
    with sessionmaker() as session:
        queue_notice(session, "a")
        session.flush()
        session.rollback()
        session.commit()  # the same session, nothing queued since the rollback
    with pytest.raises(RuntimeError), sessionmaker.begin() as session:
        queue_notice(session, "b")
        raise RuntimeError("the request failed")
    assert announced == []
    with sessionmaker.begin() as session:
        assert outbox.pending_count(session) == 0


def test_a_failing_subscriber_does_not_fail_the_commit_or_the_others(
    sessionmaker: SessionMaker[Session], announced: list[str]
) -> None:
    def broken() -> None:
        raise OSError("pipe closed")

    unsubscribe = outbox_signal.subscribe(broken)
    try:
        with sessionmaker.begin() as session:
            queue_notice(session, "a")
    finally:
        unsubscribe()
    assert announced == ["new work"]
