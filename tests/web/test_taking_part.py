"""Taking part on the web: joining, delivery, leaving, and posting through the one door."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker as SessionMaker

from forum.access import membership_of, user_by_email
from forum.models import Delivery, MemberStatus, OutboxItem, Post, PostingPolicy, PostStatus, Role, Thread
from forum.posting import Draft, community_by_slug, submit_post
from forum.site import Site
from mailgateway.outgoing import compose, post_views
from tests.support import make_community, make_member

ANN, BOB, CEM, DAN = "ann@example.org", "bob@example.org", "cem@example.org", "dan@example.org"


@pytest.fixture(autouse=True)
def communities(sessionmaker: SessionMaker[Session], site: Site) -> None:
    """Housing (public, members post): Ann facilitates, Bob takes each post, Cem a daily digest.
    Board (private): Ann only. Dan has an account (a member of Board's neighbour) but is in neither."""
    with sessionmaker.begin() as session:
        housing = make_community(session, "housing")
        make_member(session, housing, ANN, role=Role.facilitator)
        make_member(session, housing, BOB)
        make_member(session, housing, CEM, delivery=Delivery.daily)
        board = make_community(session, "board", private=True)
        make_member(session, board, ANN, role=Role.facilitator)
        make_member(session, make_community(session, "garden"), DAN)
        submit_post(
            session,
            Draft(community="housing", author_email=ANN, subject="Damp in flats", body="Who has advice on damp?"),
            site,
        )


def membership(sessionmaker: SessionMaker[Session], address: str, slug: str = "housing") -> tuple[str, str] | None:
    with sessionmaker() as session:
        found = membership_of(session, user_by_email(session, address), community_by_slug(session, slug))
        return (found.status.value, found.delivery.value) if found else None


def queued_for(sessionmaker: SessionMaker[Session], post_id: int) -> list[str]:
    with sessionmaker() as session:
        return sorted(session.scalars(select(OutboxItem.address).where(OutboxItem.post_id == post_id)))


def thread_id(sessionmaker: SessionMaker[Session]) -> int:
    with sessionmaker() as session:
        found = session.scalar(select(Thread.id).where(Thread.subject == "Damp in flats"))
        assert found is not None
        return found


def posts(sessionmaker: SessionMaker[Session]) -> list[Post]:
    with sessionmaker() as session:
        return list(session.scalars(select(Post).order_by(Post.id)))


def without_tokens(page: str) -> str:
    """A page without its CSRF tokens, which carry a timestamp."""
    return re.sub(r'name="csrf_token" value="[^"]*"', "", page)


class TestMembership:
    def test_join_change_delivery_and_leave(
        self,
        client: FlaskClient,
        csrf_token: Callable[[], str],
        as_user: Callable[[str], None],
        sessionmaker: SessionMaker[Session],
    ) -> None:
        as_user(DAN)
        page = client.get("/c/housing/membership")
        assert page.status_code == 200 and "You are not a member of Housing" in page.text
        joined = client.post(
            "/c/housing/membership", data={"csrf_token": csrf_token(), "action": "join", "next": "/c/housing/"}
        )
        assert joined.status_code == 303 and joined.headers["Location"] == "/c/housing/"
        assert membership(sessionmaker, DAN) == ("active", "each")

        client.post(
            "/c/housing/membership",
            data={"csrf_token": csrf_token(), "action": "delivery", "housing-delivery": "weekly"},
        )
        assert membership(sessionmaker, DAN) == ("active", "weekly")
        assert '<option selected value="weekly">' in client.get("/c/housing/membership").text

        refused = client.post(
            "/c/housing/membership",
            data={"csrf_token": csrf_token(), "action": "delivery", "housing-delivery": "hourly"},
        )
        assert (
            refused.status_code == 400
            and 'aria-describedby="housing-delivery-hint housing-delivery-error"' in refused.text
        )
        assert membership(sessionmaker, DAN) == ("active", "weekly")

        left = client.post("/c/housing/membership", data={"csrf_token": csrf_token(), "action": "leave"})
        assert left.status_code == 303 and membership(sessionmaker, DAN) is None

    def test_the_profile_lists_memberships_with_their_controls(
        self,
        client: FlaskClient,
        csrf_token: Callable[[], str],
        as_user: Callable[[str], None],
        sessionmaker: SessionMaker[Session],
    ) -> None:
        as_user(ANN)
        profile = client.get("/account").text
        assert 'id="housing-delivery"' in profile and 'id="board-delivery"' in profile
        saved = client.post(
            "/c/board/membership",
            data={"csrf_token": csrf_token(), "action": "delivery", "board-delivery": "none", "next": "/account"},
        )
        assert saved.headers["Location"] == "/account"
        assert membership(sessionmaker, ANN, "board") == ("active", "none")

    def test_a_member_chooses_whether_other_members_see_their_address(
        self,
        client: FlaskClient,
        csrf_token: Callable[[], str],
        as_user: Callable[[str], None],
        sessionmaker: SessionMaker[Session],
        site: Site,
    ) -> None:
        def footer() -> str:
            with sessionmaker() as session:
                post_id = session.scalar(select(Post.id).where(Post.subject == "Damp in flats"))
                assert post_id is not None
                copy = compose.compose_copy(post_views.load_post(session, post_id), site, 2)
            return copy.decode()

        as_user(ANN)
        page = client.get("/c/housing/membership").text
        assert "Your email address is hidden" in page and "Show my address to other members" in page
        assert ANN not in footer() and "housing-private+" in footer(), "by default the relay, not the address"
        shown = client.post(
            "/c/housing/membership",
            data={"csrf_token": csrf_token(), "action": "address", "show": "yes"},
            follow_redirects=True,
        )
        assert "now see your email address" in shown.text and "Hide my address" in shown.text
        assert f"mailto:{ANN}" in footer()
        client.post("/c/housing/membership", data={"csrf_token": csrf_token(), "action": "address", "show": "no"})
        assert ANN not in footer()
        as_user(DAN)
        refused = client.post(
            "/c/housing/membership", data={"csrf_token": csrf_token(), "action": "address", "show": "yes"}
        )
        assert refused.status_code == 404, "not a member: nothing to show"

    def test_a_private_community_is_not_found_by_outsiders(
        self,
        client: FlaskClient,
        csrf_token: Callable[[], str],
        as_user: Callable[[str], None],
        sessionmaker: SessionMaker[Session],
    ) -> None:
        as_user(DAN)
        assert client.get("/c/board/membership").status_code == 404
        joined = client.post("/c/board/membership", data={"csrf_token": csrf_token(), "action": "join"})
        assert joined.status_code == 404
        unknown = client.get("/c/nowhere/membership")
        assert without_tokens(joined.text.replace("board", "X")) == without_tokens(unknown.text.replace("nowhere", "X"))
        assert membership(sessionmaker, DAN, "board") is None

    def test_a_pending_request_is_shown_to_its_maker(
        self, client: FlaskClient, as_user: Callable[[str], None], sessionmaker: SessionMaker[Session]
    ) -> None:
        with sessionmaker.begin() as session:
            make_member(session, community_by_slug(session, "board"), DAN, status=MemberStatus.pending)
        as_user(DAN)
        assert "A facilitator will approve your request" in client.get("/c/board/membership").text

    def test_signing_in_comes_first(self, client: FlaskClient) -> None:
        page = client.get("/c/housing/membership")
        assert page.status_code == 302 and page.headers["Location"].startswith("/signin?next=/c/housing/membership")


class TestNewThread:
    def test_a_web_thread_reaches_email_members_like_a_mailed_one(
        self,
        client: FlaskClient,
        csrf_token: Callable[[], str],
        as_user: Callable[[str], None],
        sessionmaker: SessionMaker[Session],
        site: Site,
    ) -> None:
        as_user(BOB)
        assert client.get("/c/housing/new").status_code == 200
        done = client.post(
            "/c/housing/new",
            data={
                "csrf_token": csrf_token(),
                "subject": "Boiler grants",
                "body": "Is the **boiler** scheme open?\n\n- yes\n- no",
            },
        )
        post = posts(sessionmaker)[-1]
        assert done.status_code == 303
        assert done.headers["Location"] == f"/c/housing/t/{post.thread_id}#post-{post.id}"
        assert (post.source, post.author_email, post.subject, post.status) == (
            "web",
            BOB,
            "Boiler grants",
            PostStatus.published,
        )
        assert "<strong>boiler</strong>" in (post.html or "") and "<li>yes</li>" in (post.html or "")
        assert post.message_id.endswith(f"@{site.mail_domain}")
        assert queued_for(sessionmaker, post.id) == [ANN]  # not Bob (the author), not Cem (daily)
        assert post.thread_id != thread_id(sessionmaker)

    def test_validation_errors_keep_what_was_typed(
        self,
        client: FlaskClient,
        csrf_token: Callable[[], str],
        as_user: Callable[[str], None],
        sessionmaker: SessionMaker[Session],
    ) -> None:
        as_user(BOB)
        page = client.post(
            "/c/housing/new", data={"csrf_token": csrf_token(), "subject": " ", "body": "A long careful message"}
        )
        assert page.status_code == 400
        assert 'href="#subject"' in page.text and "Enter a subject" in page.text
        assert 'aria-describedby="subject-hint subject-error"' in page.text
        assert "A long careful message</textarea>" in page.text
        assert len(posts(sessionmaker)) == 1

    def test_a_refusal_is_shown_on_the_form(
        self,
        client: FlaskClient,
        csrf_token: Callable[[], str],
        as_user: Callable[[str], None],
        sessionmaker: SessionMaker[Session],
    ) -> None:
        as_user(DAN)
        page = client.post(
            "/c/housing/new", data={"csrf_token": csrf_token(), "subject": "Hello", "body": "My carefully typed text"}
        )
        assert page.status_code == 403
        assert "Only members may post to housing" in page.text.split('class="error-summary"')[1]
        assert 'value="Hello"' in page.text and "My carefully typed text</textarea>" in page.text
        assert len(posts(sessionmaker)) == 1

    def test_a_held_post_says_it_awaits_a_moderator(
        self,
        client: FlaskClient,
        csrf_token: Callable[[], str],
        as_user: Callable[[str], None],
        sessionmaker: SessionMaker[Session],
    ) -> None:
        with sessionmaker.begin() as session:
            community_by_slug(session, "housing").posting_policy = PostingPolicy.moderated
        as_user(BOB)
        assert "A moderator reads messages to this community" in client.get("/c/housing/new").text
        done = client.post(
            "/c/housing/new", data={"csrf_token": csrf_token(), "subject": "Grants", "body": "Any news?"}
        )
        assert done.status_code == 303 and done.headers["Location"] == "/c/housing/"
        post = posts(sessionmaker)[-1]
        assert post.status is PostStatus.held and queued_for(sessionmaker, post.id) == []
        assert "Your message is waiting for a moderator" in client.get("/account").text
        with sessionmaker() as session:
            notices = {
                item.address: item.payload
                for item in session.scalars(select(OutboxItem).where(OutboxItem.kind == "notice_email"))
            }
        assert "/c/housing/manage/held" in notices[ANN]["text"]
        assert "awaiting approval" in notices[BOB]["subject"]

    def test_each_is_told_of_a_held_post_in_their_own_language(
        self,
        client: FlaskClient,
        csrf_token: Callable[[], str],
        as_user: Callable[[str], None],
        sessionmaker: SessionMaker[Session],
    ) -> None:
        with sessionmaker.begin() as session:
            community_by_slug(session, "housing").posting_policy = PostingPolicy.moderated
            facilitator = user_by_email(session, ANN)
            assert facilitator is not None
            facilitator.language = "cy"
        as_user(BOB)
        client.post("/c/housing/new", data={"csrf_token": csrf_token(), "subject": "Grants", "body": "Any news?"})
        with sessionmaker() as session:
            notices = {
                item.address: item.payload
                for item in session.scalars(select(OutboxItem).where(OutboxItem.kind == "notice_email"))
            }
        assert notices[ANN]["subject"].endswith("yn aros i chi ei chymeradwyo: Grants")
        assert (
            "Neu ei chymeradwyo neu ei gwrthod ar y we: " in notices[ANN]["text"]
            and "Approve" not in notices[ANN]["text"]
        )
        assert "Any news?" in notices[ANN]["text"], "what Bob wrote, as he wrote it"
        assert notices[BOB]["subject"].startswith("Your message to ") and "awaiting approval" in notices[BOB]["subject"]

    def test_an_outsider_cannot_open_a_private_form(self, client: FlaskClient, as_user: Callable[[str], None]) -> None:
        as_user(DAN)
        assert client.get("/c/board/new").status_code == 404


class TestReply:
    def reply(
        self, client: FlaskClient, csrf_token: Callable[[], str], thread: int, body: str, parent: int | None = None
    ) -> str:
        data = {"csrf_token": csrf_token(), "body": body}
        if parent is not None:
            data["parent_id"] = str(parent)
        done = client.post(f"/c/housing/t/{thread}/reply", data=data)
        assert done.status_code == 303, done.text
        return done.headers["Location"]

    def test_replies_thread_in_mail_clients(
        self,
        client: FlaskClient,
        csrf_token: Callable[[], str],
        as_user: Callable[[str], None],
        sessionmaker: SessionMaker[Session],
        site: Site,
    ) -> None:
        thread = thread_id(sessionmaker)
        as_user(BOB)
        self.reply(client, csrf_token, thread, "Ventilate _first_.")
        root, first = posts(sessionmaker)
        assert (first.parent_id, first.thread_id, first.subject) == (root.id, thread, "Re: Damp in flats")
        assert queued_for(sessionmaker, first.id) == [ANN]

        as_user(ANN)
        where = self.reply(client, csrf_token, thread, "Thanks both", parent=root.id)
        second = posts(sessionmaker)[-1]
        assert where == f"/c/housing/t/{thread}#post-{second.id}"
        assert second.parent_id == root.id and queued_for(sessionmaker, second.id) == [BOB]

        third_location = self.reply(client, csrf_token, thread, "And a follow-up")  # default: the last post
        third = posts(sessionmaker)[-1]
        assert third.parent_id == second.id and third_location.endswith(f"#post-{third.id}")
        with sessionmaker() as session:
            view = post_views.load_post(session, third.id)
        assert view.in_reply_to == second.message_id
        assert view.references == (root.message_id, second.message_id)

    def test_a_parent_from_another_thread_is_refused(
        self,
        client: FlaskClient,
        csrf_token: Callable[[], str],
        as_user: Callable[[str], None],
        sessionmaker: SessionMaker[Session],
        site: Site,
    ) -> None:
        with sessionmaker.begin() as session:
            other = submit_post(
                session, Draft(community="housing", author_email=ANN, subject="Other", body="Elsewhere"), site
            ).post
        as_user(BOB)
        page = client.post(
            f"/c/housing/t/{thread_id(sessionmaker)}/reply",
            data={"csrf_token": csrf_token(), "body": "Hi", "parent_id": str(other.id)},
        )
        assert page.status_code == 400 and len(posts(sessionmaker)) == 2
        assert client.get("/c/board/t/1/reply").status_code == 404

    def test_an_empty_reply_is_sent_back(
        self,
        client: FlaskClient,
        csrf_token: Callable[[], str],
        as_user: Callable[[str], None],
        sessionmaker: SessionMaker[Session],
    ) -> None:
        as_user(BOB)
        page = client.post(
            f"/c/housing/t/{thread_id(sessionmaker)}/reply", data={"csrf_token": csrf_token(), "body": "  "}
        )
        assert page.status_code == 400 and "Write your reply" in page.text
        assert "Who has advice on damp?" in page.text  # the message being answered is shown

    def test_the_thread_page_ends_with_the_reply_form(
        self, client: FlaskClient, as_user: Callable[[str], None], sessionmaker: SessionMaker[Session]
    ) -> None:
        root = posts(sessionmaker)[0]
        page = f"/c/housing/t/{root.thread_id}"
        assert "Sign in to reply" in client.get(page).text
        as_user(BOB)
        form = client.get(page).text
        assert f'action="/c/housing/t/{root.thread_id}/reply"' in form
        assert f'name="parent_id" type="hidden" value="{root.id}"' in form
        assert re.search(r'<textarea aria-describedby="body-hint" id="body"[^>]* name="body"', form)
        as_user(DAN)
        outsider = client.get(page).text
        assert "Only members can reply" in outsider and 'value="join"' in outsider


def test_the_community_page_offers_joining(client: FlaskClient, as_user: Callable[[str], None]) -> None:
    visitor = client.get("/c/housing/").text
    assert 'action="/c/housing/join"' in visitor and 'name="email"' in visitor
    as_user(DAN)
    box = client.get("/c/housing/").text
    assert 'action="/c/housing/join"' in box and "You will join as dan@example.org." in box
    as_user(BOB)
    box = client.get("/c/housing/").text
    assert "You are a member. Email: every message, as it is posted." in box
    assert 'href="/c/housing/new"' in box and 'href="/c/housing/membership"' in box
