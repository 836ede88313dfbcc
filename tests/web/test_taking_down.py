"""Taking things down on the web: an author's edit and deletion, reports, hiding, bans and
the log, and every way of trying what one may not (someone else's post, too late, as a
member, as an outsider of a private community, without the CSRF token)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from email import message_from_bytes

import pytest
from bs4 import BeautifulSoup
from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker as SessionMaker

from forum import takedown
from forum.access import membership_of, user_by_email
from forum.models import (
    MemberStatus,
    ModerationEntry,
    OutboxItem,
    Post,
    PostingPolicy,
    PostReport,
    PostStatus,
    Role,
)
from forum.moderation_log import OPERATOR
from forum.outbox import NOTICE_EMAIL
from forum.posting import Draft, community_by_slug, submit_post
from forum.site import Site
from tests.support import make_community, make_member

ANN, BOB, CEM, EVE = "ann@example.org", "bob@example.org", "cem@example.org", "eve@example.org"


@pytest.fixture(autouse=True)
def communities(sessionmaker: SessionMaker[Session]) -> None:
    """Housing (public): Ann facilitates, Bob and Cem are members. Board (private): Ann
    facilitates, Bob is a member. Eve is in Garden only."""
    with sessionmaker.begin() as session:
        housing = make_community(session, "housing")
        make_member(session, housing, ANN, role=Role.facilitator)
        make_member(session, housing, BOB)
        make_member(session, housing, CEM)
        board = make_community(session, "board", private=True)
        make_member(session, board, ANN, role=Role.facilitator)
        make_member(session, board, BOB)
        make_member(session, make_community(session, "garden"), EVE)


def post(
    sessionmaker: SessionMaker[Session], site: Site, author: str = BOB, slug: str = "housing", **fields: object
) -> Post:
    values: dict[str, object] = {"subject": "Boiler repairs", "body": "Who fixed theirs last winter?"}
    values.update(fields)
    with sessionmaker.begin() as session:
        return submit_post(session, Draft(community=slug, author_email=author, **values), site).post  # type: ignore[arg-type]


def status(sessionmaker: SessionMaker[Session], post_id: int) -> PostStatus:
    with sessionmaker() as session:
        return session.get_one(Post, post_id).status


def thread_page(client: FlaskClient, found: Post, slug: str = "housing") -> BeautifulSoup:
    page = client.get(f"/c/{slug}/t/{found.thread_id}")
    assert page.status_code == 200
    return BeautifulSoup(page.text, "html.parser")


def links(soup: BeautifulSoup, found: Post) -> list[str]:
    article = soup.find(id=f"post-{found.id}")
    assert article is not None
    return [a.get_text(strip=True) for a in article.select(".post-actions a, .post-actions button")]


Client = FlaskClient
Token = Callable[[], str]
As = Callable[[str], None]


class TestAuthorsOwnPosts:
    def test_the_author_edits_within_the_window_and_the_page_says_mail_is_not_recalled(
        self, client: Client, csrf_token: Token, as_user: As, sessionmaker: SessionMaker[Session], site: Site
    ) -> None:
        mine = post(sessionmaker, site)
        as_user(BOB)
        assert links(thread_page(client, mine), mine) == ["Edit", "Delete"]
        form = client.get(f"/c/housing/p/{mine.id}/edit")
        assert form.status_code == 200 and "cannot be changed" in form.text and "last winter" in form.text
        done = client.post(f"/c/housing/p/{mine.id}/edit", data={"csrf_token": csrf_token(), "body": "Last spring."})
        assert done.status_code == 303
        page = client.get(done.headers["Location"]).text
        assert "Last spring." in page and "(edited" in page and "last winter" not in page

    def test_an_empty_edit_is_refused_on_the_form(
        self, client: Client, csrf_token: Token, as_user: As, sessionmaker: SessionMaker[Session], site: Site
    ) -> None:
        mine = post(sessionmaker, site)
        as_user(BOB)
        page = client.post(f"/c/housing/p/{mine.id}/edit", data={"csrf_token": csrf_token(), "body": "  "})
        assert page.status_code == 400 and "Enter the text of your message" in page.text

    def test_the_author_deletes_after_confirming_and_the_thread_shows_the_gap(
        self, client: Client, csrf_token: Token, as_user: As, sessionmaker: SessionMaker[Session], site: Site
    ) -> None:
        first = post(sessionmaker, site)
        reply = post(sessionmaker, site, CEM, subject="Re: Boiler repairs", body="Ours too", parent_id=first.id)
        as_user(BOB)
        asked = client.get(f"/c/housing/p/{first.id}/delete")
        assert asked.status_code == 200 and "Delete your message?" in asked.text
        assert status(sessionmaker, first.id) is PostStatus.published  # asking changes nothing
        done = client.post(f"/c/housing/p/{first.id}/delete", data={"csrf_token": csrf_token()})
        assert done.status_code == 303
        client.get("/")  # the flash is shown once
        soup = thread_page(client, reply)
        assert "This post was deleted by its author." in soup.text and "last winter" not in soup.text
        assert "Ours too" in soup.text and "1 message" in soup.text

    @pytest.mark.parametrize("action", ["edit", "delete"])
    def test_another_members_post_or_ones_own_after_the_window_is_not_found(
        self,
        client: Client,
        csrf_token: Token,
        as_user: As,
        sessionmaker: SessionMaker[Session],
        site: Site,
        action: str,
    ) -> None:
        theirs = post(sessionmaker, site)
        for address in (CEM, ANN):
            as_user(address)
            assert client.get(f"/c/housing/p/{theirs.id}/{action}").status_code == 404
            tried = client.post(f"/c/housing/p/{theirs.id}/{action}", data={"csrf_token": csrf_token(), "body": "X"})
            assert tried.status_code == 404
        as_user(BOB)
        with sessionmaker.begin() as session:
            session.execute(
                update(Post).where(Post.id == theirs.id).values(created_at=theirs.created_at - timedelta(hours=1))
            )
        assert links(thread_page(client, theirs), theirs) == []
        tried = client.post(f"/c/housing/p/{theirs.id}/{action}", data={"csrf_token": csrf_token(), "body": "X"})
        assert tried.status_code == 404
        with sessionmaker() as session:
            kept = session.get_one(Post, theirs.id)
            assert (kept.status, kept.body) == (PostStatus.published, "Who fixed theirs last winter?")

    def test_without_the_csrf_token_nothing_changes(
        self, client: Client, as_user: As, sessionmaker: SessionMaker[Session], site: Site
    ) -> None:
        mine = post(sessionmaker, site)
        as_user(BOB)
        assert client.post(f"/c/housing/p/{mine.id}/delete").status_code == 400
        assert client.post(f"/c/housing/p/{mine.id}/edit", data={"body": "Forged"}).status_code == 400
        as_user(ANN)
        assert client.post(f"/c/housing/p/{mine.id}/hide").status_code == 400
        assert status(sessionmaker, mine.id) is PostStatus.published


class TestReports:
    def test_a_member_reports_a_post_and_a_facilitator_hides_it_from_the_reports_page(
        self, client: Client, csrf_token: Token, as_user: As, sessionmaker: SessionMaker[Session], site: Site
    ) -> None:
        bad = post(sessionmaker, site, CEM, body="Buy cheap pills")
        as_user(BOB)
        assert links(thread_page(client, bad), bad) == ["Report"]
        empty = client.post(f"/c/housing/p/{bad.id}/report", data={"csrf_token": csrf_token(), "reason": ""})
        assert empty.status_code == 400 and "Say what is wrong with the post" in empty.text
        done = client.post(f"/c/housing/p/{bad.id}/report", data={"csrf_token": csrf_token(), "reason": "Spam"})
        assert done.status_code == 303
        again = client.post(f"/c/housing/p/{bad.id}/report", data={"csrf_token": csrf_token(), "reason": "Spam!"})
        assert again.status_code == 400 and "reported this post already" in again.text
        with sessionmaker() as session:
            assert session.scalars(select(OutboxItem.address).where(OutboxItem.kind == NOTICE_EMAIL)).all() == [ANN]

        as_user(ANN)
        page = client.get("/c/housing/manage/reports")
        assert page.status_code == 200 and "Buy cheap pills" in page.text and "Spam" in page.text
        [report_id] = [r.id for r in _reports(sessionmaker)]
        hidden = client.post(
            f"/c/housing/manage/reports/{report_id}", data={"csrf_token": csrf_token(), "action": "hide"}
        )
        assert hidden.status_code == 303 and status(sessionmaker, bad.id) is PostStatus.hidden
        assert "No reports are waiting" in client.get("/c/housing/manage/reports").text

    def test_an_outsider_cannot_report_in_a_private_community_nor_a_member_open_the_reports(
        self, client: Client, csrf_token: Token, as_user: As, sessionmaker: SessionMaker[Session], site: Site
    ) -> None:
        secret = post(sessionmaker, site, BOB, slug="board")
        as_user(EVE)
        assert client.get(f"/c/board/p/{secret.id}/report").status_code == 404
        tried = client.post(f"/c/board/p/{secret.id}/report", data={"csrf_token": csrf_token(), "reason": "Spam"})
        assert tried.status_code == 404
        assert client.get(f"/c/housing/p/{secret.id}/report").status_code == 404  # not a post of that community
        as_user(BOB)
        assert client.get("/c/board/manage/reports").status_code == 404
        assert client.get("/c/board/manage/log").status_code == 404
        assert _reports(sessionmaker) == []

    def test_visitors_are_sent_to_sign_in(
        self, client: Client, sessionmaker: SessionMaker[Session], site: Site
    ) -> None:
        shown = post(sessionmaker, site)
        assert client.get(f"/c/housing/p/{shown.id}/report").headers["Location"].startswith("/signin")
        assert "Report" not in links(thread_page(client, shown), shown)


def _reports(sessionmaker: SessionMaker[Session]) -> list[PostReport]:
    with sessionmaker() as session:
        return list(session.scalars(select(PostReport)))


class TestHiding:
    def test_a_facilitator_hides_after_confirming_and_still_sees_it_marked_with_a_way_back(
        self, client: Client, csrf_token: Token, as_user: As, sessionmaker: SessionMaker[Session], site: Site
    ) -> None:
        first = post(sessionmaker, site)
        bad = post(sessionmaker, site, CEM, subject="Re: Boiler repairs", body="Buy cheap pills", parent_id=first.id)
        assert "Buy cheap" in client.get("/search?q=pills").text  # found while it is shown
        as_user(ANN)
        assert links(thread_page(client, bad), bad) == ["Report", "Hide"]
        assert "Hide this post?" in client.get(f"/c/housing/p/{bad.id}/hide").text
        done = client.post(f"/c/housing/p/{bad.id}/hide", data={"csrf_token": csrf_token(), "reason": "Spam"})
        assert done.status_code == 303 and status(sessionmaker, bad.id) is PostStatus.hidden
        soup = thread_page(client, bad)
        assert "only the facilitators see this post" in soup.text and "Buy cheap pills" in soup.text
        assert links(soup, bad) == ["Show this post again"]

        as_user(BOB)
        assert "Buy cheap pills" not in thread_page(client, first).text
        client.get("/signout")
        assert "Buy cheap pills" not in thread_page(client, first).text
        assert "Buy cheap" not in client.get("/search?q=pills").text
        assert "pills" not in client.get("/c/housing/feed.atom").text

        as_user(ANN)
        back = client.post(f"/c/housing/p/{bad.id}/unhide", data={"csrf_token": csrf_token()})
        assert back.status_code == 303 and status(sessionmaker, bad.id) is PostStatus.published

    def test_a_member_hiding_or_unhiding_is_answered_not_found(
        self, client: Client, csrf_token: Token, as_user: As, sessionmaker: SessionMaker[Session], site: Site
    ) -> None:
        shown = post(sessionmaker, site, CEM)
        as_user(BOB)
        assert client.get(f"/c/housing/p/{shown.id}/hide").status_code == 404
        assert client.post(f"/c/housing/p/{shown.id}/hide", data={"csrf_token": csrf_token()}).status_code == 404
        assert client.post(f"/c/housing/t/{shown.thread_id}/hide", data={"csrf_token": csrf_token()}).status_code == 404
        assert status(sessionmaker, shown.id) is PostStatus.published
        as_user(EVE)  # a facilitator elsewhere is nobody here
        assert client.post(f"/c/board/p/{shown.id}/unhide", data={"csrf_token": csrf_token()}).status_code == 404

    def test_a_hidden_thread_leaves_the_community_page_and_comes_back(
        self, client: Client, csrf_token: Token, as_user: As, sessionmaker: SessionMaker[Session], site: Site
    ) -> None:
        first = post(sessionmaker, site, subject="Flame war")
        as_user(ANN)
        soup = thread_page(client, first)
        assert soup.find("a", string="Hide this thread") is not None
        done = client.post(f"/c/housing/t/{first.thread_id}/hide", data={"csrf_token": csrf_token(), "reason": ""})
        assert done.status_code == 303
        assert "This thread is hidden" in thread_page(client, first).text
        as_user(BOB)
        assert "Flame war" not in client.get("/c/housing/").text
        assert client.get(f"/c/housing/t/{first.thread_id}").status_code == 404
        as_user(ANN)
        client.post(f"/c/housing/t/{first.thread_id}/unhide", data={"csrf_token": csrf_token()})
        as_user(BOB)
        assert "Flame war" in client.get("/c/housing/").text


class TestBans:
    def test_a_facilitator_bans_from_the_members_page_and_lifts_it(
        self, client: Client, csrf_token: Token, as_user: As, sessionmaker: SessionMaker[Session]
    ) -> None:
        cem = _user_id(sessionmaker, CEM)
        as_user(ANN)
        members = client.get("/c/housing/manage/members").text
        assert f'href="/c/housing/manage/members/{cem}/ban"' in members
        assert "Ban Cem?" in client.get(f"/c/housing/manage/members/{cem}/ban").text
        done = client.post(f"/c/housing/manage/members/{cem}/ban", data={"csrf_token": csrf_token(), "reason": "Abuse"})
        assert done.status_code == 303 and _standing(sessionmaker, CEM) is MemberStatus.banned
        assert "Lift the ban on Cem" in client.get("/c/housing/manage/members").text
        log = client.get("/c/housing/manage/log")
        assert log.status_code == 200 and "Banned a member" in log.text and "Abuse" in log.text
        client.post(f"/c/housing/manage/members/{cem}/unban", data={"csrf_token": csrf_token()})
        assert _standing(sessionmaker, CEM) is MemberStatus.active

    def test_a_member_cannot_ban(
        self, client: Client, csrf_token: Token, as_user: As, sessionmaker: SessionMaker[Session]
    ) -> None:
        as_user(BOB)
        cem = _user_id(sessionmaker, CEM)
        tried = client.post(f"/c/housing/manage/members/{cem}/ban", data={"csrf_token": csrf_token()})
        assert tried.status_code == 404 and _standing(sessionmaker, CEM) is MemberStatus.active

    def test_a_banned_member_cannot_join_again_on_the_web(
        self, client: Client, csrf_token: Token, as_user: As, sessionmaker: SessionMaker[Session]
    ) -> None:
        with sessionmaker.begin() as session:
            takedown.ban(session, OPERATOR, community_by_slug(session, "housing"), CEM)
        as_user(CEM)
        tried = client.post("/c/housing/membership", data={"csrf_token": csrf_token(), "action": "join"})
        assert tried.status_code == 403 and _standing(sessionmaker, CEM) is MemberStatus.banned

    def test_a_banned_member_cannot_report(
        self, client: Client, csrf_token: Token, as_user: As, sessionmaker: SessionMaker[Session], site: Site
    ) -> None:
        shown = post(sessionmaker, site)
        with sessionmaker.begin() as session:
            takedown.ban(session, OPERATOR, community_by_slug(session, "housing"), CEM)
        as_user(CEM)
        tried = client.post(f"/c/housing/p/{shown.id}/report", data={"csrf_token": csrf_token(), "reason": "X"})
        assert tried.status_code == 404


class TestTheLog:
    def test_the_log_pages_through_entries_and_shows_the_text_an_edit_replaced(
        self, client: Client, csrf_token: Token, as_user: As, sessionmaker: SessionMaker[Session], site: Site
    ) -> None:
        mine = post(sessionmaker, site, body="First wording")
        as_user(BOB)
        client.post(f"/c/housing/p/{mine.id}/edit", data={"csrf_token": csrf_token(), "body": "Second wording"})
        with sessionmaker.begin() as session:
            community_id = community_by_slug(session, "housing").id
            session.add_all(
                ModerationEntry(community_id=community_id, actor_name="Ann", action="hide", target_name=f"Post {n}")
                for n in range(60)
            )
        as_user(ANN)
        first = client.get("/c/housing/manage/log")
        assert "Page 1 of 2" in first.text and "Post 59" in first.text
        second = client.get("/c/housing/manage/log?page=2")
        assert "Edited their post" in second.text and "First wording" in second.text
        assert client.get("/c/housing/manage/log?page=3").status_code == 404


def _user_id(sessionmaker: SessionMaker[Session], address: str) -> int:
    with sessionmaker() as session:
        found = user_by_email(session, address)
        assert found is not None
        return found.id


def _standing(sessionmaker: SessionMaker[Session], address: str) -> MemberStatus:
    with sessionmaker() as session:
        found = membership_of(session, user_by_email(session, address), community_by_slug(session, "housing"))
        assert found is not None
        return found.status


def test_the_mbox_download_leaves_hidden_posts_out(
    client: Client, as_user: As, sessionmaker: SessionMaker[Session], site: Site
) -> None:
    kept = post(sessionmaker, site, body="Kept text")
    gone = post(sessionmaker, site, CEM, subject="Re: Boiler repairs", body="Hidden text", parent_id=kept.id)
    with sessionmaker.begin() as session:
        takedown.hide_post(session, OPERATOR, session.get_one(Post, gone.id))
    as_user(BOB)
    mbox = client.get("/c/housing/archive.mbox").data
    bodies = [message_from_bytes(part).get_payload() for part in mbox.split(b"\nFrom MAILER-DAEMON")]
    assert any("Kept text" in str(b) for b in bodies) and not any("Hidden text" in str(b) for b in bodies)


def test_a_held_post_decided_on_the_web_is_logged_with_the_facilitators_name(
    client: Client, csrf_token: Token, as_user: As, sessionmaker: SessionMaker[Session], site: Site
) -> None:
    with sessionmaker.begin() as session:
        community_by_slug(session, "housing").posting_policy = PostingPolicy.moderated
    waiting = post(sessionmaker, site, CEM)
    assert status(sessionmaker, waiting.id) is PostStatus.held
    as_user(ANN)
    client.post(f"/c/housing/manage/held/{waiting.id}", data={"csrf_token": csrf_token(), "action": "approve"})
    log = client.get("/c/housing/manage/log").text
    soup = BeautifulSoup(log, "html.parser")
    [row] = [[cell.get_text(strip=True) for cell in tr.find_all("td")] for tr in soup.select("tbody tr")]
    assert row[1:4] == ["Ann", "Approved a held message", "Boiler repairs"]
