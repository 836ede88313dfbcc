"""The digest scheduler: APScheduler with its job kept in the site's database, so a restart
resumes the schedule and an outage costs one catch-up run, not one per missed check."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker as SessionMaker

from digest.run import Digests
from digest.scheduler import JOB_ID, DigestScheduler
from forum import outbox_signal
from forum.config import Settings
from forum.db import make_engine
from forum.models import Delivery, OutboxItem, utcnow
from forum.outbox import DIGEST_EMAIL
from forum.posting import Draft, submit_post
from forum.site import Site
from tests.support import make_community, make_member

pytestmark = pytest.mark.integration

NOW = datetime(2025, 1, 15, 9, 0, tzinfo=UTC)  # what the scheduler's runs are told it is


@pytest.fixture
def runs(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """When the stored job ran (each call of DigestScheduler.run_due)."""
    calls: list[float] = []
    original = DigestScheduler.run_due

    def counted(self: DigestScheduler) -> None:
        calls.append(time.monotonic())
        original(self)

    monkeypatch.setattr(DigestScheduler, "run_due", counted)
    # The job also runs at every quarter hour of the wall clock: keep the test clear of one.
    seconds = utcnow().timestamp() % 900
    if seconds > 880:
        time.sleep(901 - seconds)
    return calls


@pytest.fixture
def owed(site: Site, engine: Engine, sessionmaker: SessionMaker[Session]) -> None:
    """Dan's last daily digest went out the day before yesterday; a post is new since."""
    with sessionmaker.begin() as session:
        housing = make_community(session, "housing")
        make_member(session, housing, "alice@council.example")
        make_member(session, housing, "dan@council.example", delivery=Delivery.daily)
    Digests(site, engine).run(Delivery.daily, NOW - timedelta(days=2))
    with sessionmaker.begin() as session:
        submit_post(
            session,
            Draft(community="housing", author_email="alice@council.example", subject="Hello", body="News."),
            site,
        )


@pytest.fixture
def start(site: Site, engine: Engine) -> Iterator[Callable[..., DigestScheduler]]:
    """Start a scheduler as ``listbridge serve`` does (stopped again after the test)."""
    made: list[DigestScheduler] = []

    def start() -> DigestScheduler:
        made.append(DigestScheduler(site, engine, clock=lambda: NOW))
        made[-1].start()
        return made[-1]

    yield start
    for one in made:
        one.stop()


def digests_queued(sessionmaker: SessionMaker[Session]) -> int:
    with sessionmaker() as session:
        return len(session.scalars(select(OutboxItem).where(OutboxItem.kind == DIGEST_EMAIL)).all())


def wait_for(runs: list[float], count: int) -> None:
    deadline = time.monotonic() + 10
    while len(runs) < count:
        assert time.monotonic() < deadline, f"the job ran {len(runs)} times, not {count}"
        time.sleep(0.05)
    time.sleep(1)  # and no more
    assert len(runs) == count


def test_the_first_start_checks_at_once_and_keeps_the_job_in_the_database(
    owed: None,
    start: Callable[..., DigestScheduler],
    runs: list[float],
    engine: Engine,
    sessionmaker: SessionMaker[Session],
) -> None:
    queued = threading.Event()
    unsubscribe = outbox_signal.subscribe(queued.set)
    try:
        start()
        assert queued.wait(10), "the owed digest was not announced on start"
    finally:
        unsubscribe()
    wait_for(runs, 1)
    assert digests_queued(sessionmaker) == 1
    with engine.connect() as conn:
        assert conn.execute(text("SELECT id FROM apscheduler_jobs")).scalars().all() == [JOB_ID]


def test_a_restart_resumes_the_schedule_and_an_outage_costs_one_run(
    owed: None,
    start: Callable[..., DigestScheduler],
    runs: list[float],
    engine: Engine,
    sessionmaker: SessionMaker[Session],
) -> None:
    first = start()
    wait_for(runs, 1)
    first.stop()
    second = start()  # the stored job is next due at the next quarter hour: nothing runs now
    wait_for(runs, 1)
    second.stop()

    # The process was down for three hours: twelve checks were missed.
    store = BackgroundScheduler(jobstores={"default": SQLAlchemyJobStore(engine=engine)}, timezone=UTC)
    store.start(paused=True)
    store.modify_job(JOB_ID, next_run_time=utcnow() - timedelta(hours=3))
    store.remove_jobstore("default")  # before shutting down, which would run (and so move) the due job
    store.shutdown()

    start()
    wait_for(runs, 2)
    assert digests_queued(sessionmaker) == 1, "one digest for the slot, however often the job ran"


def test_one_scheduler_runs_among_processes_sharing_the_database_and_a_standby_takes_over(
    site: Site, engine: Engine, settings: Settings
) -> None:
    """Two schedulers with their own engines, as two ``listbridge serve --only scheduler``
    processes have (an advisory lock on PostgreSQL, a file lock beside SQLite): one runs
    the schedule, the other waits; when the first stops, the second takes over."""
    other_engine = make_engine(settings.database.url)
    first = DigestScheduler(site, engine, clock=lambda: NOW, standby_seconds=0.1)
    second = DigestScheduler(site, other_engine, clock=lambda: NOW, standby_seconds=0.1)
    try:
        first.start()
        deadline = time.monotonic() + 10
        while not first.leading:
            assert time.monotonic() < deadline, "the first scheduler did not start"
            time.sleep(0.05)
        second.start()
        time.sleep(0.5)  # five of its tries
        assert not second.leading, "a second scheduler ran alongside the first"

        first.stop()
        deadline = time.monotonic() + 10
        while not second.leading:
            assert time.monotonic() < deadline, "the standby did not take over"
            time.sleep(0.05)
        assert not first.leading
    finally:
        first.stop()
        second.stop()
        other_engine.dispose()
