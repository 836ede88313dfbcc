"""Taking things down, in the core, on SQLite and PostgreSQL: authors' edits and deletions
within the window, hidden posts and threads gone from every reader's door but kept, bans,
reports, and the log that records each of them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker as SessionMaker

from forum import archive, config, digests, moderation, reports, takedown
from forum.access import membership_of, user_by_email
from forum.accounts import join
from forum.errors import InvalidInput, NotFound, NotPermitted, RateLimited
from forum.models import (
    MemberStatus,
    ModerationEntry,
    OutboxItem,
    Post,
    PostReport,
    PostStatus,
    Role,
    Thread,
    User,
)
from forum.moderation_log import OPERATOR, Actor, LogAction, entries
from forum.outbox import NOTICE_EMAIL, POST_EMAIL
from forum.posting import Draft, community_by_slug, submit_post
from forum.search import search
from forum.site import Site
from forum.subscriptions import Standing, standing
from tests.support import make_community, make_member

ANN, BOB, CEM = "ann@example.org", "bob@example.org", "cem@example.org"


@pytest.fixture
def housing(sessionmaker: SessionMaker[Session]) -> None:
    """Housing: Ann facilitates (and reads Welsh), Bob and Cem are members."""
    with sessionmaker.begin() as session:
        community = make_community(session, "housing")
        make_member(session, community, ANN, role=Role.facilitator).user.language = "cy"
        make_member(session, community, BOB)
        make_member(session, community, CEM)


def post(sessionmaker: SessionMaker[Session], site: Site, author: str = BOB, **fields: Any) -> Post:
    values: dict[str, Any] = {"subject": "Boiler repairs", "body": "Who fixed theirs last winter?"}
    values.update(fields)
    with sessionmaker.begin() as session:
        return submit_post(session, Draft(community="housing", author_email=author, **values), site).post


def user(session: Session, address: str) -> User:
    found = user_by_email(session, address)
    assert found is not None
    return found


def actor(session: Session, address: str) -> Actor:
    return Actor.of(session, user(session, address))


def log_actions(session: Session) -> list[tuple[str, str, str]]:
    return [
        (e.action, e.actor_name, e.detail)
        for e in session.scalars(select(ModerationEntry).order_by(ModerationEntry.id))
    ]


def found(session: Session, words: str) -> list[int]:
    return [hit.post_id for hit in search(session, None, words).hits]


pytestmark = pytest.mark.usefixtures("housing")


class TestAuthorsOwnPosts:
    def test_an_edit_changes_the_text_everywhere_it_is_read_and_keeps_the_old_in_the_log(
        self, sessionmaker: SessionMaker[Session], site: Site
    ) -> None:
        mine = post(sessionmaker, site, body="The boiler at Maes y Coed leaks.")
        with sessionmaker.begin() as session:
            takedown.edit_own(
                session, site.settings, user(session, BOB), session.get_one(Post, mine.id), "The radiator leaks."
            )
        with sessionmaker() as session:
            edited = session.get_one(Post, mine.id)
            assert edited.body == "The radiator leaks." and "radiator" in (edited.html or "")
            assert edited.edited_at is not None
            assert found(session, "radiator") == [mine.id] and found(session, "Maes Coed") == []
            assert log_actions(session) == [("edit", "Bob", "The boiler at Maes y Coed leaks.")]

    def test_nobody_edits_or_deletes_another_members_post_nor_their_own_after_the_window(
        self, sessionmaker: SessionMaker[Session], site: Site
    ) -> None:
        mine = post(sessionmaker, site)
        with sessionmaker.begin() as session:
            theirs = session.get_one(Post, mine.id)
            for address in (CEM, ANN):  # another member, and a facilitator: they hide, never rewrite
                with pytest.raises(NotFound):
                    takedown.edit_own(session, site.settings, user(session, address), theirs, "Rewritten")
                with pytest.raises(NotFound):
                    takedown.delete_own(session, site.settings, user(session, address), theirs)
            theirs.created_at -= timedelta(minutes=site.settings.posting.edit_window_minutes, seconds=1)
            with pytest.raises(NotFound):
                takedown.edit_own(session, site.settings, user(session, BOB), theirs, "Too late")
            with pytest.raises(NotFound):
                takedown.delete_own(session, site.settings, user(session, BOB), theirs)
        with sessionmaker() as session:
            assert session.get_one(Post, mine.id).body == "Who fixed theirs last winter?"
            assert log_actions(session) == []

    def test_a_window_of_zero_minutes_turns_editing_off(
        self, sessionmaker: SessionMaker[Session], make_settings: Callable[..., config.Settings], site: Site
    ) -> None:
        mine = post(sessionmaker, site)
        closed = make_settings(posting={"edit_window_minutes": 0})
        with sessionmaker() as session:
            assert not takedown.may_change_own(session.get_one(Post, mine.id), mine.author_id, closed)
            assert takedown.may_change_own(session.get_one(Post, mine.id), mine.author_id, site.settings)

    def test_a_deleted_first_post_leaves_its_place_and_the_thread_with_its_replies(
        self, sessionmaker: SessionMaker[Session], site: Site
    ) -> None:
        first = post(sessionmaker, site)
        reply = post(sessionmaker, site, CEM, subject="Re: Boiler repairs", body="Ours too.", parent_id=first.id)
        with sessionmaker.begin() as session:
            takedown.delete_own(session, site.settings, user(session, BOB), session.get_one(Post, first.id))
        with sessionmaker() as session:
            thread = session.get_one(Thread, first.thread_id)
            assert thread.post_count == 1
            readable, _thread = archive.readable_community_thread(session, "housing", thread.id, None)
            shown = archive.thread_posts(session, thread.id, deleted_too=True)
            assert [(p.id, p.deleted, p.html) for p in shown] == [
                (first.id, True, ""),
                (reply.id, False, shown[1].html),
            ]
            assert [p.id for p in archive.thread_posts(session, thread.id)] == [reply.id]
            assert found(session, "winter") == []
            listed = archive.thread_list(session, readable.community.id, 1, 30).threads
            assert [(t.id, t.post_count, t.started_by) for t in listed] == [(thread.id, 1, "Cem")]
            assert log_actions(session) == [("delete", "Bob", "")]


class TestHiding:
    def test_a_hidden_post_is_gone_from_every_reader_but_kept(
        self, sessionmaker: SessionMaker[Session], site: Site
    ) -> None:
        first = post(sessionmaker, site, body="Boilers are fine.")
        bad = post(sessionmaker, site, CEM, subject="Re: Boiler repairs", body="Buy cheap pills", parent_id=first.id)
        with sessionmaker() as session:
            assert found(session, "pills") == [bad.id]
            before = digests.newest_publication(session)
        with sessionmaker.begin() as session:
            takedown.hide_post(session, actor(session, ANN), session.get_one(Post, bad.id), "Spam")
        with sessionmaker() as session:
            kept = session.get_one(Post, bad.id)
            assert (kept.status, kept.body) == (PostStatus.hidden, "Buy cheap pills")
            community = community_by_slug(session, "housing")
            assert found(session, "pills") == []
            assert [p.id for p in archive.latest_posts(session, community.id, 50)] == [first.id]
            mbox = b"".join(archive.community_mbox(session, community.id, site.blobs))
            assert b"pills" not in mbox and b"Boilers are fine" in mbox
            assert [p.id for p in digests.new_posts(session, 0, before)] == [first.id]
            assert session.get_one(Thread, first.thread_id).post_count == 1
            assert [p.id for p in archive.thread_posts(session, first.thread_id, deleted_too=True)] == [first.id]
            assert [p.id for p in archive.thread_posts(session, first.thread_id, hidden_too=True)] == [first.id, bad.id]
            assert log_actions(session) == [("hide", "Ann", "Spam")]

        with sessionmaker.begin() as session:
            takedown.unhide_post(session, actor(session, ANN), session.get_one(Post, bad.id))
        with sessionmaker() as session:
            assert found(session, "pills") == [bad.id]
            assert session.get_one(Thread, first.thread_id).post_count == 2

    def test_a_hidden_welsh_post_is_gone_from_the_welsh_search_too(
        self, sessionmaker: SessionMaker[Session], site: Site
    ) -> None:
        welsh = post(sessionmaker, site, CEM, body="Mae'r tabledi rhad hyn ar werth yn y siop ger yr afon heddiw.")
        with sessionmaker() as session:
            assert session.get_one(Post, welsh.id).language == "cy"
            assert found(session, "tabledi") == [welsh.id]
        with sessionmaker.begin() as session:
            takedown.hide_post(session, actor(session, ANN), session.get_one(Post, welsh.id), "Spam")
        with sessionmaker() as session:
            assert found(session, "tabledi") == []

    def test_hiding_twice_or_unhiding_what_is_shown_says_so(
        self, sessionmaker: SessionMaker[Session], site: Site
    ) -> None:
        shown = post(sessionmaker, site)
        with sessionmaker.begin() as session:
            target = session.get_one(Post, shown.id)
            with pytest.raises(InvalidInput, match="not hidden"):
                takedown.unhide_post(session, OPERATOR, target)
            takedown.hide_post(session, OPERATOR, target)
            with pytest.raises(InvalidInput, match="hidden already"):
                takedown.hide_post(session, OPERATOR, target)

    def test_a_hidden_thread_hides_its_replies_to_come_and_unhiding_it_keeps_a_post_hidden_alone(
        self, sessionmaker: SessionMaker[Session], site: Site
    ) -> None:
        first = post(sessionmaker, site)
        alone = post(sessionmaker, site, CEM, subject="Re: Boiler repairs", body="Spam", parent_id=first.id)
        with sessionmaker.begin() as session:
            takedown.hide_post(session, OPERATOR, session.get_one(Post, alone.id))
            thread = session.get_one(Thread, first.thread_id)
            assert takedown.hide_thread(session, actor(session, ANN), thread, "Off topic") == 1
        later = post(sessionmaker, site, CEM, subject="Re: Boiler repairs", body="Still here?", parent_id=first.id)
        with sessionmaker() as session:
            assert session.get_one(Post, later.id).status is PostStatus.hidden
            copies = session.scalars(select(OutboxItem).where(OutboxItem.post_id == later.id)).all()
            assert copies == []  # a reply to a hidden thread goes to nobody
            community = community_by_slug(session, "housing")
            assert archive.thread_list(session, community.id, 1, 30).threads == []
            with pytest.raises(NotFound):
                archive.readable_community_thread(session, "housing", first.thread_id, user(session, BOB).id)
            # its facilitators still find it, to show it again
            archive.readable_community_thread(session, "housing", first.thread_id, user(session, ANN).id)
        with sessionmaker.begin() as session:
            assert takedown.unhide_thread(session, actor(session, ANN), session.get_one(Thread, first.thread_id)) == 2
        with sessionmaker() as session:
            statuses = {p.id: p.status for p in session.scalars(select(Post).where(Post.thread_id == first.thread_id))}
            assert statuses == {
                first.id: PostStatus.published,
                alone.id: PostStatus.hidden,
                later.id: PostStatus.published,
            }
            assert session.get_one(Thread, first.thread_id).post_count == 2
            assert [a for a, _who, _detail in log_actions(session)] == ["hide", "hide_thread", "unhide_thread"]


class TestBans:
    def test_a_banned_member_gets_no_copies_cannot_post_nor_join_again_and_keeps_their_posts(
        self, sessionmaker: SessionMaker[Session], site: Site
    ) -> None:
        earlier = post(sessionmaker, site, CEM)
        with sessionmaker.begin() as session:
            takedown.ban(session, actor(session, ANN), community_by_slug(session, "housing"), CEM, "Abuse")
        with sessionmaker.begin() as session, pytest.raises(NotPermitted, match="may not post"):
            submit_post(session, Draft(community="housing", author_email=CEM, subject="Hi", body="Back"), site)
        news = post(sessionmaker, site, BOB, subject="News", body="For members")
        with sessionmaker() as session:
            community = community_by_slug(session, "housing")
            addressed = session.scalars(
                select(OutboxItem.address).where(OutboxItem.post_id == news.id, OutboxItem.kind == POST_EMAIL)
            ).all()
            assert sorted(addressed) == [ANN]
            assert standing(session, community, CEM) is Standing.banned
            with pytest.raises(NotPermitted):
                join(session, site, user(session, CEM), community)
            assert session.get_one(Post, earlier.id).status is PostStatus.published
            assert log_actions(session) == [("ban", "Ann", "Abuse")]

        with sessionmaker.begin() as session:
            takedown.unban(session, OPERATOR, community_by_slug(session, "housing"), CEM)
        with sessionmaker() as session:
            assert membership_of(session, user(session, CEM), community).status is MemberStatus.active
            assert log_actions(session)[-1] == ("unban", "", "")

    def test_a_stranger_can_be_banned_before_they_write_and_the_last_facilitator_cannot(
        self, sessionmaker: SessionMaker[Session], site: Site
    ) -> None:
        with sessionmaker.begin() as session:
            housing = community_by_slug(session, "housing")
            housing.posting_policy = housing.posting_policy.open
            takedown.ban(session, OPERATOR, housing, "Spammer@Example.net")
            with pytest.raises(InvalidInput, match="banned from housing already"):
                takedown.ban(session, OPERATOR, housing, "spammer@example.net")
            with pytest.raises(InvalidInput, match="needs at least one facilitator"):
                takedown.ban(session, OPERATOR, housing, ANN)
            with pytest.raises(InvalidInput, match="yourself"):
                takedown.ban(session, actor(session, ANN), housing, ANN)
            with pytest.raises(InvalidInput, match="not banned"):
                takedown.unban(session, OPERATOR, housing, BOB)
        with sessionmaker.begin() as session, pytest.raises(NotPermitted):
            submit_post(session, Draft(community="housing", author_email="spammer@example.net", body="Buy"), site)


class TestReports:
    def test_a_report_tells_the_facilitators_in_their_language_and_hiding_answers_it(
        self, sessionmaker: SessionMaker[Session], site: Site
    ) -> None:
        bad = post(sessionmaker, site, CEM, body="Buy cheap pills")
        with sessionmaker.begin() as session:
            reports.report_post(session, site, user(session, BOB), session.get_one(Post, bad.id), "Spam, plainly")
            with pytest.raises(InvalidInput, match="reported this post already"):
                reports.report_post(session, site, user(session, BOB), session.get_one(Post, bad.id), "Again")
        with sessionmaker() as session:
            [notice] = session.scalars(select(OutboxItem).where(OutboxItem.kind == NOTICE_EMAIL)).all()
            assert notice.address == ANN
            assert "Spam, plainly" in notice.payload["text"]
            assert "/c/housing/manage/reports" in notice.payload["text"]
            assert "adroddwyd" in notice.payload["subject"].lower()  # Ann reads Welsh
            community = community_by_slug(session, "housing")
            [waiting] = reports.open_reports(session, community)
            assert (waiting.post_id, waiting.reporter, waiting.reason) == (bad.id, "Bob", "Spam, plainly")
        with sessionmaker.begin() as session:
            reports.resolve(session, actor(session, ANN), community_by_slug(session, "housing"), waiting.id, hide=True)
        with sessionmaker() as session:
            assert session.get_one(Post, bad.id).status is PostStatus.hidden
            assert reports.open_reports(session, community_by_slug(session, "housing")) == []
            assert session.get_one(PostReport, waiting.id).resolution == reports.HIDDEN
            assert [a for a, _who, _detail in log_actions(session)] == ["report", "hide", "resolve"]

    def test_reports_are_counted_per_member_per_hour(
        self, sessionmaker: SessionMaker[Session], make_settings: Callable[..., config.Settings]
    ) -> None:
        site = Site.from_settings(make_settings(posting={"reports_per_hour": 2}))
        posts = [post(sessionmaker, site, CEM, subject=f"Post {n}") for n in range(3)]
        with sessionmaker.begin() as session:
            for each in posts[:2]:
                reports.report_post(session, site, user(session, BOB), session.get_one(Post, each.id), "Spam")
        with sessionmaker.begin() as session, pytest.raises(RateLimited):
            reports.report_post(session, site, user(session, BOB), session.get_one(Post, posts[2].id), "Spam")

    def test_dismissing_leaves_the_post(self, sessionmaker: SessionMaker[Session], site: Site) -> None:
        fine = post(sessionmaker, site, CEM)
        with sessionmaker.begin() as session:
            report = reports.report_post(session, site, user(session, BOB), session.get_one(Post, fine.id), "Rude")
        with sessionmaker.begin() as session:
            housing = community_by_slug(session, "housing")
            reports.resolve(session, OPERATOR, housing, report.id, hide=False)
            with pytest.raises(InvalidInput, match="dealt with already"):
                reports.resolve(session, OPERATOR, housing, report.id, hide=True)
        with sessionmaker() as session:
            assert session.get_one(Post, fine.id).status is PostStatus.published


class TestTheLog:
    def test_held_posts_decided_are_recorded_and_the_site_wide_log_lists_every_community(
        self, sessionmaker: SessionMaker[Session], site: Site
    ) -> None:
        with sessionmaker.begin() as session:
            waste = make_community(session, "waste", policy="moderated")
            make_member(session, waste, BOB)
            outcomes = [
                submit_post(session, Draft(community="waste", author_email=BOB, subject=s, body="Text"), site)
                for s in ("Kept", "Refused")
            ]
            kept, refused = (o.post.id for o in outcomes)
        with sessionmaker.begin() as session:
            moderation.approve(session, site, kept, by=actor(session, ANN))
            moderation.reject(session, refused, "Selling")
            takedown.ban(session, OPERATOR, community_by_slug(session, "housing"), CEM)
        with sessionmaker() as session:
            everything = entries(session, None, 1, 2)
            assert [(line.slug, line.action) for line in everything.lines] == [
                ("housing", LogAction.ban),
                ("waste", LogAction.reject),
            ]
            assert everything.pagination.pages == 2
            waste_log = entries(session, community_by_slug(session, "waste"), 1, 50).lines
            assert [(line.action, line.actor_name, line.target_name, line.detail) for line in waste_log] == [
                (LogAction.reject, "", "Refused", "Selling"),
                (LogAction.approve, "Ann", "Kept", ""),
            ]


def test_a_hidden_posts_chat_copies_are_removed_through_the_outbox(
    sessionmaker: SessionMaker[Session], site: Site
) -> None:
    """Queued for every copy the bridge wrote (the chat tests send them)."""
    from forum import chat
    from forum.models import ChatLink

    shown = post(sessionmaker, site)
    with sessionmaker.begin() as session:
        link = ChatLink(community_id=community_by_slug(session, "housing").id, platform="slack", channel="C0123")
        session.add(link)
        session.flush()
        chat.record(session, link.id, session.get_one(Post, shown.id), "1700000000.000100", ours=True)
        takedown.hide_post(session, OPERATOR, session.get_one(Post, shown.id))
    with sessionmaker() as session:
        kinds = session.scalars(select(OutboxItem.kind).where(OutboxItem.post_id == shown.id)).all()
        assert "slack_delete" in kinds
