"""Digest runs against a real database (SQLite, and PostgreSQL with -m db): who gets what,
exactly once, whatever the timing of runs, posts and crashes. Time is injected: every run
is told what time it is."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker as SessionMaker

from digest.build import Edition
from digest.run import Digests
from forum import config, digests, join_requests, takedown
from forum.access import user_by_email
from forum.models import (
    Delivery,
    DigestBlock,
    DigestCursor,
    DigestRun,
    MemberStatus,
    OutboxItem,
    OutboxStatus,
    Post,
    PostPublication,
    PostStatus,
    Role,
)
from forum.moderation import approve
from forum.moderation_log import OPERATOR
from forum.outbox import DIGEST_EMAIL, Claimed
from forum.posting import Draft, community_by_slug, submit_post
from forum.site import Site
from forum.times import readable
from tests.support import make_community, make_member

AUTHOR = "alice@council.example"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def site(make_settings: Callable[..., config.Settings]) -> Site:
    return Site.from_settings(make_settings(digest={"hour": 7, "timezone": "Europe/London", "weekday": "monday"}))


@pytest.fixture
def runner(site: Site, engine: Engine) -> Digests:
    return Digests(site, engine)


@pytest.fixture
def communities(sessionmaker: SessionMaker[Session]) -> None:
    """Housing (public) and planning (private), each with Alice taking every post, who writes."""
    with sessionmaker.begin() as session:
        for slug, private in (("housing", False), ("planning", True)):
            make_member(session, make_community(session, slug, private=private), AUTHOR)


def member(
    sessionmaker: SessionMaker[Session],
    address: str,
    *slugs: str,
    delivery: Delivery = Delivery.daily,
    zone: str | None = None,
    hour: int | None = None,
    status: MemberStatus = MemberStatus.active,
) -> int:
    with sessionmaker.begin() as session:
        for slug in slugs:
            membership = make_member(
                session, community_by_slug(session, slug), address, delivery=delivery, status=status
            )
        membership.user.timezone, membership.user.digest_hour = zone, hour
        return membership.user_id


def post(
    sessionmaker: SessionMaker[Session], site: Site, slug: str, subject: str, body: str = "", parent: Post | None = None
) -> Post:
    with sessionmaker.begin() as session:
        return submit_post(
            session,
            Draft(
                community=slug,
                author_email=AUTHOR,
                author_name="Alice Adviser",
                subject=subject,
                body=body or f"About {subject.lower()}.",
                parent_id=parent.id if parent else None,
            ),
            site,
        ).post


def seen(runner: Digests, now: str = "2025-01-14 12:00") -> None:
    """A scheduled run notices the members new to digests: their first comes at their next hour."""
    for period in digests.PERIODS:
        assert runner.run(period, at(now)).queued == 0


def queued(sessionmaker: SessionMaker[Session], site: Site) -> list[Claimed]:
    """Every digest queued so far, as mail delivery will see it once claimed."""
    with sessionmaker.begin() as session:
        items = session.scalars(select(OutboxItem).where(OutboxItem.kind == DIGEST_EMAIL).order_by(OutboxItem.id))
        claimed = [
            Claimed(i.id, i.kind, i.post_id, i.user_id, i.address, i.payload, i.attempts, i.created_at) for i in items
        ]
        return digests.expand(session, site.signer, claimed)


def digest_of(sessionmaker: SessionMaker[Session], site: Site, address: str) -> list[dict[str, Any]]:
    return [item.payload for item in queued(sessionmaker, site) if item.address == address]


def test_each_member_gets_one_digest_of_their_daily_communities(
    sessionmaker: SessionMaker[Session], site: Site, runner: Digests, communities: None
) -> None:
    member(sessionmaker, "dan@council.example", "housing", "planning")
    member(sessionmaker, "erin@council.example", "housing")
    member(sessionmaker, "wes@council.example", "housing", delivery=Delivery.weekly)
    seen(runner)
    post(sessionmaker, site, "housing", "Homelessness prevention grant")
    post(sessionmaker, site, "housing", "Temporary accommodation costs")
    post(sessionmaker, site, "planning", "Local plan consultation")

    report = runner.run(Delivery.daily, at("2025-01-15 07:00"))
    assert (report.owed, report.queued, report.empty, report.taken) == (2, 2, 0, 0)
    [dan] = digest_of(sessionmaker, site, "dan@council.example")
    [erin] = digest_of(sessionmaker, site, "erin@council.example")
    assert dan["subject"] == "Daily digest: 3 new posts in 2 communities"
    assert erin["subject"] == "Daily digest: 2 new posts in 1 community"
    assert dan["slug"] == erin["slug"] == "housing"
    assert all(
        s in dan["text"] and s in dan["html"] for s in ("Homelessness prevention grant", "Local plan consultation")
    )
    assert "Local plan" not in erin["text"] + erin["html"], "a private community leaked to a non-member"
    assert digest_of(sessionmaker, site, "wes@council.example") == [] and digest_of(sessionmaker, site, AUTHOR) == []

    assert runner.run(Delivery.daily, at("2025-01-15 07:15")).owed == 0
    assert runner.run(Delivery.weekly, at("2025-01-15 07:15")).owed == 0
    assert runner.run(Delivery.weekly, at("2025-01-20 07:00")).queued == 1  # next Monday
    [wes] = digest_of(sessionmaker, site, "wes@council.example")
    assert wes["subject"] == "Weekly digest: 2 new posts in 1 community"


def test_pending_and_banned_members_of_a_private_community_get_nothing_of_it(
    sessionmaker: SessionMaker[Session], site: Site, runner: Digests, communities: None
) -> None:
    member(sessionmaker, "pat@council.example", "planning", status=MemberStatus.pending)
    member(sessionmaker, "bob@council.example", "housing")
    member(sessionmaker, "bob@council.example", "planning", status=MemberStatus.banned)
    seen(runner)
    post(sessionmaker, site, "planning", "Confidential site allocations")
    post(sessionmaker, site, "housing", "Open question")
    runner.run(Delivery.daily, at("2025-01-15 07:00"))
    assert digest_of(sessionmaker, site, "pat@council.example") == []
    [bob] = digest_of(sessionmaker, site, "bob@council.example")
    assert "Confidential" not in bob["text"] + bob["html"] and "Open question" in bob["text"]


def test_a_restricted_communitys_posts_reach_its_members_and_not_those_still_asking(
    sessionmaker: SessionMaker[Session], site: Site, runner: Digests, communities: None
) -> None:
    with sessionmaker.begin() as session:
        lounge = make_community(session, "lounge", visibility="restricted")
        make_member(session, lounge, AUTHOR, role=Role.facilitator)
    member(sessionmaker, "pat@council.example", "housing")
    with sessionmaker.begin() as session:
        pat = user_by_email(session, "pat@council.example")
        assert pat is not None
        join_requests.ask(session, site, community_by_slug(session, "lounge"), pat, "Please.", Delivery.daily)
    seen(runner)
    post(sessionmaker, site, "lounge", "Wardens rota")
    post(sessionmaker, site, "housing", "Open question")
    runner.run(Delivery.daily, at("2025-01-15 07:00"))
    [asking] = digest_of(sessionmaker, site, "pat@council.example")
    assert "Wardens rota" not in asking["text"] + asking["html"] and "Open question" in asking["text"]
    with sessionmaker.begin() as session:
        lounge = community_by_slug(session, "lounge")
        [waiting] = join_requests.pending(session, lounge)
        facilitator = user_by_email(session, AUTHOR)
        assert facilitator is not None
        join_requests.decide(session, site, waiting, facilitator, approve=True)
    post(sessionmaker, site, "lounge", "Wardens training day")
    runner.run(Delivery.daily, at("2025-01-16 07:00"))
    assert "Wardens training day" in digest_of(sessionmaker, site, "pat@council.example")[-1]["text"]


def test_held_and_deleted_posts_never_appear_and_an_approved_one_comes_in_the_next_digest(
    sessionmaker: SessionMaker[Session], site: Site, runner: Digests
) -> None:
    with sessionmaker.begin() as session:
        moderated = make_community(session, "waste", policy="moderated")
        make_member(session, moderated, AUTHOR)
    member(sessionmaker, "dan@council.example", "waste")
    seen(runner)
    held = post(sessionmaker, site, "waste", "Held for a moderator")
    gone = post(sessionmaker, site, "waste", "Deleted later")
    with sessionmaker.begin() as session:
        assert session.get(Post, held.id).status is PostStatus.held
        approve(session, site, gone.id)
        session.execute(update(Post).where(Post.id == gone.id).values(status=PostStatus.deleted))
    assert runner.run(Delivery.daily, at("2025-01-15 07:00")).empty == 1
    assert digest_of(sessionmaker, site, "dan@council.example") == []

    with sessionmaker.begin() as session:  # approved after the digest it would have been in
        approve(session, site, held.id)
    runner.run(Delivery.daily, at("2025-01-16 07:00"))
    [digest] = digest_of(sessionmaker, site, "dan@council.example")
    assert "Held for a moderator" in digest["text"] and "Deleted later" not in digest["text"]


def test_a_post_hidden_by_a_facilitator_is_left_out_of_the_digests_still_to_come(
    sessionmaker: SessionMaker[Session], site: Site, runner: Digests, communities: None
) -> None:
    member(sessionmaker, "dan@council.example", "housing")
    seen(runner)
    post(sessionmaker, site, "housing", "Repairs backlog")
    hidden = post(sessionmaker, site, "housing", "Cheap pills here")
    with sessionmaker.begin() as session:
        takedown.hide_post(session, OPERATOR, session.get_one(Post, hidden.id), "Spam")
    runner.run(Delivery.daily, at("2025-01-15 07:00"))
    [digest] = digest_of(sessionmaker, site, "dan@council.example")
    assert "Repairs backlog" in digest["text"] and "Cheap pills" not in digest["text"] + digest["html"]


def test_an_imported_archive_is_history_not_news(
    sessionmaker: SessionMaker[Session], site: Site, runner: Digests, communities: None
) -> None:
    member(sessionmaker, "dan@council.example", "housing")
    seen(runner)
    with sessionmaker.begin() as session:  # as ``listbridge import`` stores an mbox's messages
        submit_post(
            session,
            Draft(
                community="housing",
                author_email="old@council.example",
                subject="From 2019",
                body="Old news.",
                source="import",
                trusted=True,
                created_at=at("2019-05-01 10:00"),
            ),
            site,
        )
    post(sessionmaker, site, "housing", "Today's news")
    runner.run(Delivery.daily, at("2025-01-15 07:00"))
    [digest] = digest_of(sessionmaker, site, "dan@council.example")
    assert "Today's news" in digest["text"] and "From 2019" not in digest["text"]


def test_no_new_posts_no_digest_and_the_next_one_starts_where_the_last_ended(
    sessionmaker: SessionMaker[Session], site: Site, runner: Digests, communities: None
) -> None:
    member(sessionmaker, "dan@council.example", "housing")
    seen(runner, "2025-01-12 12:00")
    post(sessionmaker, site, "housing", "Monday's question")
    runner.run(Delivery.daily, at("2025-01-13 07:00"))
    assert runner.run(Delivery.daily, at("2025-01-14 07:00")).empty == 1
    post(sessionmaker, site, "housing", "Wednesday's question")
    runner.run(Delivery.daily, at("2025-01-15 07:00"))
    first, second = digest_of(sessionmaker, site, "dan@council.example")
    assert "Monday's question" in first["text"] and "Wednesday's question" not in first["text"]
    assert "Wednesday's question" in second["text"] and "Monday's question" not in second["text"]


def test_replies_are_grouped_under_their_thread_and_new_threads_are_marked(
    sessionmaker: SessionMaker[Session], site: Site, runner: Digests, communities: None
) -> None:
    member(sessionmaker, "dan@council.example", "housing")
    seen(runner, "2025-01-13 12:00")
    old = post(sessionmaker, site, "housing", "Damp in council flats")
    runner.run(Delivery.daily, at("2025-01-14 07:00"))
    post(sessionmaker, site, "housing", "Re: Damp in council flats", "Try a dehumidifier.", parent=old)
    post(sessionmaker, site, "housing", "Rent arrears pilot")
    post(sessionmaker, site, "housing", "Re: Damp in council flats", "Ventilation first.", parent=old)
    runner.run(Delivery.daily, at("2025-01-15 07:00"))
    digest = digest_of(sessionmaker, site, "dan@council.example")[-1]
    text = digest["text"]
    assert digest["subject"] == "Daily digest: 3 new posts in 1 community"
    assert "\nDamp in council flats\n" in text and "[new] Damp" not in text, "an old thread is not new"
    assert "[new] Rent arrears pilot" in text
    assert text.index("dehumidifier") < text.index("Ventilation") < text.index("Rent arrears"), (
        "grouped by thread, threads in the order they first appear"
    )


def test_a_post_says_when_it_was_written_in_each_readers_own_zone(
    sessionmaker: SessionMaker[Session], site: Site, runner: Digests, communities: None
) -> None:
    member(sessionmaker, "dan@council.example", "housing", zone="Europe/London")
    member(sessionmaker, "priya@council.example", "housing", zone="Asia/Kolkata")
    seen(runner)
    written = post(sessionmaker, site, "housing", "Damp in council flats").created_at
    runner.run(Delivery.daily, at("2025-01-15 07:00"))
    [dan] = digest_of(sessionmaker, site, "dan@council.example")
    [priya] = digest_of(sessionmaker, site, "priya@council.example")
    london, kolkata = readable(written, ZoneInfo("Europe/London")), readable(written, ZoneInfo("Asia/Kolkata"))
    assert london != kolkata
    assert london in dan["text"] and london in dan["html"] and kolkata not in dan["text"] + dan["html"]
    assert kolkata in priya["text"] and kolkata in priya["html"] and london not in priya["text"] + priya["html"]


def test_members_get_their_digest_at_their_own_hour_in_their_own_zone_through_a_clock_change(
    sessionmaker: SessionMaker[Session], site: Site, runner: Digests, communities: None
) -> None:
    """A scheduler ticking every quarter hour from Friday to Tuesday over the weekend the
    clocks change in Europe: each member's digests come once a local day, at their hour."""
    members = {
        "london@council.example": ("Europe/London", None),  # the site's 07:00
        "paris@council.example": ("Europe/Paris", 6),
        "newyork@council.example": ("America/New_York", 2),  # an hour New York skipped three weeks before
        "kolkata@council.example": ("Asia/Kolkata", 7),  # 01:30 UTC
        "default@council.example": (None, None),  # the site's zone and hour
    }
    for address, (zone, hour) in members.items():
        member(sessionmaker, address, "housing", zone=zone, hour=hour)
    seen(runner, "2025-03-27 23:59")
    sent_at: dict[str, datetime] = {}
    tick = at("2025-03-28 00:00")
    while tick < at("2025-04-01 12:00"):
        if tick.minute == 0 and tick.hour % 3 == 0:
            post(sessionmaker, site, "housing", f"News at {tick:%a %H:%M}")
        runner.run(Delivery.daily, tick)
        for item in queued(sessionmaker, site):
            sent_at.setdefault(f"{item.address} {item.id}", tick)
        tick += timedelta(minutes=15)
    expected = {
        # 07:00 London is 07:00 UTC until Sunday 30 March, 06:00 UTC from then on.
        "london@council.example": ["03-28 07:00", "03-29 07:00", "03-30 06:00", "03-31 06:00", "04-01 06:00"],
        "default@council.example": ["03-28 07:00", "03-29 07:00", "03-30 06:00", "03-31 06:00", "04-01 06:00"],
        "paris@council.example": ["03-28 05:00", "03-29 05:00", "03-30 04:00", "03-31 04:00", "04-01 04:00"],
        "newyork@council.example": ["03-28 06:00", "03-29 06:00", "03-30 06:00", "03-31 06:00", "04-01 06:00"],
        "kolkata@council.example": ["03-28 01:30", "03-29 01:30", "03-30 01:30", "03-31 01:30", "04-01 01:30"],
    }
    for address, times in expected.items():
        got = sorted(when for key, when in sent_at.items() if key.startswith(address + " "))
        assert [f"{t:%m-%d %H:%M}" for t in got] == times, address
    texts = {item.address: item.payload["text"] for item in queued(sessionmaker, site)}
    assert "(times in Asia/Kolkata)" in texts["kolkata@council.example"]
    assert "(times in Europe/London)" in texts["default@council.example"]


def test_after_downtime_one_catch_up_digest_not_one_per_missed_day(
    sessionmaker: SessionMaker[Session], site: Site, runner: Digests, communities: None
) -> None:
    member(sessionmaker, "dan@council.example", "housing")
    seen(runner, "2025-01-12 12:00")
    post(sessionmaker, site, "housing", "Before the outage")
    runner.run(Delivery.daily, at("2025-01-13 07:00"))
    for day in ("Tuesday", "Wednesday", "Thursday"):
        post(sessionmaker, site, "housing", f"Posted on {day}")
    assert runner.run(Delivery.daily, at("2025-01-16 10:20")).queued == 1  # the first run after three days down
    assert runner.run(Delivery.daily, at("2025-01-16 10:35")).owed == 0
    catch_up = digest_of(sessionmaker, site, "dan@council.example")[-1]
    assert catch_up["subject"] == "Daily digest: 3 new posts in 1 community"


def test_a_member_new_to_digests_gets_the_first_at_their_next_hour(
    sessionmaker: SessionMaker[Session], site: Site, runner: Digests, communities: None
) -> None:
    """Not at once: the first covers what was published since their latest hour (on
    request, one period before the current one)."""
    post(sessionmaker, site, "housing", "Long ago")
    with sessionmaker.begin() as session:  # the log says when each post was published
        session.execute(update(PostPublication).values(published_at=at("2025-01-10 12:00")))
    post(sessionmaker, site, "housing", "Yesterday")
    with sessionmaker.begin() as session:
        session.execute(
            update(PostPublication)
            .where(PostPublication.published_at > at("2025-01-11"))
            .values(published_at=at("2025-01-14 12:00"))
        )
    member(sessionmaker, "new@council.example", "housing")
    shown = runner.preview("new@council.example", Delivery.daily, at("2025-01-14 13:00"))
    assert shown is not None and "Yesterday" in shown.text and "Long ago" not in shown.text
    report = runner.run(Delivery.daily, at("2025-01-14 13:00"))
    assert (report.owed, report.started) == (0, 1)
    runner.run(Delivery.daily, at("2025-01-15 07:00"))
    [digest] = digest_of(sessionmaker, site, "new@council.example")
    assert "Yesterday" in digest["text"] and "Long ago" not in digest["text"]


def test_an_operators_run_sends_todays_digest_early_and_only_once(
    sessionmaker: SessionMaker[Session], site: Site, runner: Digests, communities: None
) -> None:
    member(sessionmaker, "dan@council.example", "housing")
    seen(runner)
    post(sessionmaker, site, "housing", "Early news")
    member(sessionmaker, "new@council.example", "housing")  # not seen by any run yet
    assert runner.run(Delivery.daily, at("2025-01-15 04:00")).owed == 0, "not yet 07:00"
    assert runner.run(Delivery.daily, at("2025-01-15 04:00"), force=True).queued == 2
    assert runner.run(Delivery.daily, at("2025-01-15 04:05"), force=True).owed == 0
    assert runner.run(Delivery.daily, at("2025-01-15 07:00")).owed == 0, "today's went already"
    assert [len(digest_of(sessionmaker, site, a)) for a in ("dan@council.example", "new@council.example")] == [1, 1]


def test_an_operators_run_after_the_hour_sends_tomorrows_early_or_catches_up_a_missed_one(
    sessionmaker: SessionMaker[Session], site: Site, runner: Digests, communities: None
) -> None:
    member(sessionmaker, "early@council.example", "housing")
    seen(runner, "2025-01-15 08:00")  # today's 07:00 is behind them: their first comes tomorrow
    member(sessionmaker, "late@council.example", "housing")
    seen(runner, "2025-01-14 08:00")
    assert runner.run(Delivery.daily, at("2025-01-14 08:00")).owed == 0
    post(sessionmaker, site, "housing", "Evening news")
    # The scheduler was down at 07:00 on the 15th: late@ is owed that one, early@ gets the 16th's now.
    report = runner.run(Delivery.daily, at("2025-01-15 22:00"), force=True)
    assert report.queued == 2
    assert runner.run(Delivery.daily, at("2025-01-16 07:00")).owed == 1, "late@'s next, not early@'s again"
    with sessionmaker() as session:
        slots = {c.user_id: c.slot_at for c in session.scalars(select(DigestCursor))}
    assert list(slots.values()) == [at("2025-01-16 07:00")] * 2


def test_two_concurrent_runs_queue_one_digest_per_member(
    sessionmaker: SessionMaker[Session], site: Site, engine: Engine, communities: None
) -> None:
    for i in range(30):
        member(sessionmaker, f"m{i}@council.example", "housing")
    seen(Digests(site, engine))
    post(sessionmaker, site, "housing", "Everyone reads this")
    now = at("2025-01-15 07:00")
    reports = []
    start = threading.Barrier(2)

    def run() -> None:
        start.wait()
        reports.append(Digests(site, engine).run(Delivery.daily, now))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(r.queued for r in reports) == 30
    assert sorted(item.address for item in queued(sessionmaker, site)) == sorted(
        f"m{i}@council.example" for i in range(30)
    )


@pytest.fixture
def during_build(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Callable[[], object]], None]]:
    """Run something once, in the middle of a run: after it has read the posts and before it
    records anything (while it builds its first digest)."""
    pending: list[Callable[[], object]] = []
    original = Edition.digest_for

    def digest_for(self: Edition, recipient: Any) -> Any:
        while pending:
            pending.pop()()
        return original(self, recipient)

    monkeypatch.setattr(Edition, "digest_for", digest_for)
    yield pending.append


def test_a_run_that_loses_the_race_to_another_queues_nothing(
    sessionmaker: SessionMaker[Session],
    site: Site,
    runner: Digests,
    engine: Engine,
    communities: None,
    during_build: Callable[[Callable[[], object]], None],
) -> None:
    member(sessionmaker, "dan@council.example", "housing")
    seen(runner)
    post(sessionmaker, site, "housing", "Contended")
    now = at("2025-01-15 07:00")
    other: list[Any] = []
    during_build(lambda: other.append(Digests(site, engine).run(Delivery.daily, now)))
    report = runner.run(Delivery.daily, now)
    assert other[0].queued == 1
    assert (report.queued, report.taken) == (0, 1)
    assert len(digest_of(sessionmaker, site, "dan@council.example")) == 1


def test_a_post_arriving_while_a_run_builds_is_in_the_next_digest(
    sessionmaker: SessionMaker[Session],
    site: Site,
    runner: Digests,
    communities: None,
    during_build: Callable[[Callable[[], object]], None],
) -> None:
    member(sessionmaker, "dan@council.example", "housing")
    seen(runner)
    post(sessionmaker, site, "housing", "Before the run")
    during_build(lambda: post(sessionmaker, site, "housing", "During the run"))
    runner.run(Delivery.daily, at("2025-01-15 07:00"))
    runner.run(Delivery.daily, at("2025-01-16 07:00"))
    first, second = digest_of(sessionmaker, site, "dan@council.example")
    assert "Before the run" in first["text"] and "During the run" not in first["text"]
    assert "During the run" in second["text"] and "Before the run" not in second["text"]


def test_a_post_that_commits_after_a_later_one_is_not_skipped(
    sessionmaker: SessionMaker[Session], site: Site, runner: Digests, engine: Engine, communities: None
) -> None:
    """On PostgreSQL a publication with a smaller id can commit after one with a larger id:
    a run waits for it rather than moving members' high-water marks past it."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time: posts cannot commit out of order")
    member(sessionmaker, "dan@council.example", "housing")
    seen(runner)
    slow = sessionmaker()
    slow.begin()
    submit_post(slow, Draft(community="housing", author_email=AUTHOR, subject="Slow to commit", body="Slow."), site)
    post(sessionmaker, site, "housing", "Quick to commit")
    reports: list[Any] = []
    run = threading.Thread(target=lambda: reports.append(runner.run(Delivery.daily, at("2025-01-15 07:00"))))
    run.start()
    run.join(1)
    assert run.is_alive(), "the run did not wait for the post being published"
    slow.commit()
    slow.close()
    run.join(10)
    [digest] = digest_of(sessionmaker, site, "dan@council.example")
    assert "Slow to commit" in digest["text"] and "Quick to commit" in digest["text"]


def test_a_crash_between_building_and_recording_is_retried_without_a_duplicate(
    sessionmaker: SessionMaker[Session], site: Site, runner: Digests, communities: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    for address in ("dan@council.example", "erin@council.example"):
        member(sessionmaker, address, "housing")
    seen(runner)
    post(sessionmaker, site, "housing", "Crash course")
    original = digests.queue

    def queue_then_die(*args: Any) -> int:
        original(*args)
        raise RuntimeError("the process died before the transaction committed")

    monkeypatch.setattr(digests, "queue", queue_then_die)
    with pytest.raises(RuntimeError):
        runner.run(Delivery.daily, at("2025-01-15 07:00"))
    assert queued(sessionmaker, site) == []
    with sessionmaker() as session:
        assert {c.slot_at for c in session.scalars(select(DigestCursor))} == {at("2025-01-14 07:00")}
        assert session.scalars(select(DigestBlock)).all() == []
    monkeypatch.setattr(digests, "queue", original)
    assert runner.run(Delivery.daily, at("2025-01-15 07:15")).queued == 2
    assert runner.run(Delivery.daily, at("2025-01-15 07:30")).owed == 0
    assert sorted(item.address for item in queued(sessionmaker, site)) == [
        "dan@council.example",
        "erin@council.example",
    ]


def test_a_run_told_to_stop_leaves_the_rest_owed(
    sessionmaker: SessionMaker[Session], site: Site, runner: Digests, communities: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("digest.run.BATCH", 2)
    for i in range(5):
        member(sessionmaker, f"m{i}@council.example", "housing")
    seen(runner)
    post(sessionmaker, site, "housing", "Partial")
    stop = threading.Event()
    report = runner.run(Delivery.daily, at("2025-01-15 07:00"), progress=lambda done, owed: stop.set(), stop=stop)
    assert (report.owed, report.queued) == (5, 2)
    assert runner.run(Delivery.daily, at("2025-01-15 07:15")).queued == 3


def test_preview_shows_what_is_new_without_recording_it(
    sessionmaker: SessionMaker[Session], site: Site, runner: Digests, communities: None
) -> None:
    member(sessionmaker, "dan@council.example", "housing", "planning")
    post(sessionmaker, site, "planning", "Preview me")
    now = at("2025-01-15 04:00")
    shown = runner.preview("Dan@Council.example", Delivery.daily, now)
    assert shown is not None and shown.subject == "Daily digest: 1 new post in 1 community"
    assert "Preview me" in shown.text and "Preview me" in shown.html and "<!DOCTYPE html>" in shown.html
    assert runner.preview("dan@council.example", Delivery.daily, now) == shown
    assert queued(sessionmaker, site) == []
    seen(runner)
    runner.run(Delivery.daily, at("2025-01-15 07:00"))
    assert runner.preview("dan@council.example", Delivery.daily, at("2025-01-15 08:00")) is None


def test_old_runs_and_publications_are_pruned(
    sessionmaker: SessionMaker[Session], site: Site, runner: Digests, communities: None
) -> None:
    member(sessionmaker, "dan@council.example", "housing")
    seen(runner)
    post(sessionmaker, site, "housing", "Soon forgotten")
    now = at("2025-01-15 07:00")
    runner.run(Delivery.daily, now)
    with sessionmaker.begin() as session:
        session.execute(update(DigestRun).values(started_at=now - timedelta(days=5)))
        session.execute(update(PostPublication).values(published_at=now - timedelta(days=40)))
    runner.run(Delivery.daily, now)
    with sessionmaker.begin() as session:
        assert session.scalars(select(DigestBlock)).all() == []
        assert session.scalars(select(PostPublication)).all() == []
    assert queued(sessionmaker, site) == [], "a digest whose blocks are gone is not sent"
    with sessionmaker() as session:
        [row] = session.scalars(select(OutboxItem).where(OutboxItem.kind == DIGEST_EMAIL))
        assert row.status is OutboxStatus.failed and "no longer stored" in row.last_error
