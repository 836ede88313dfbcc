"""Facilitators' pages: who may open them, members, the moderation queue, settings."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from bs4 import BeautifulSoup
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker as SessionMaker

from forum.access import membership_of, user_by_email
from forum.models import (
    Community,
    MemberStatus,
    OutboxItem,
    Post,
    PostingPolicy,
    PostStatus,
    Role,
    Visibility,
)
from forum.posting import Draft, community_by_slug, submit_post
from forum.site import Site
from tests.support import browser_session, make_community, make_member
from web.auth import SESSION_KEY

ANN, MO, BOB, EVE = "ann@example.org", "mo@example.org", "bob@example.org", "eve@example.org"


@pytest.fixture(autouse=True)
def communities(sessionmaker: SessionMaker[Session]) -> None:
    """Housing (public, moderated): Ann facilitates, Mo moderates, Bob is a member.
    Board (private): Ann facilitates, Bob is a member. Eve is in Garden only."""
    with sessionmaker.begin() as session:
        housing = make_community(session, "housing", policy="moderated")
        make_member(session, housing, ANN, role=Role.facilitator)
        make_member(session, housing, MO, role=Role.moderator)
        make_member(session, housing, BOB)
        board = make_community(session, "board", private=True)
        make_member(session, board, ANN, role=Role.facilitator)
        make_member(session, board, BOB)
        make_member(session, make_community(session, "garden"), EVE)


def user_id(sessionmaker: SessionMaker[Session], address: str) -> int:
    with sessionmaker() as session:
        user = user_by_email(session, address)
        assert user is not None
        return user.id


def member(sessionmaker: SessionMaker[Session], address: str, slug: str = "housing") -> tuple[str, str] | None:
    with sessionmaker() as session:
        found = membership_of(session, user_by_email(session, address), community_by_slug(session, slug))
        return (found.role.value, found.status.value) if found else None


def held_post(sessionmaker: SessionMaker[Session], site: Site, subject: str = "Grants") -> int:
    with sessionmaker.begin() as session:
        outcome = submit_post(
            session,
            Draft(community="housing", author_email=BOB, subject=subject, body="Any **news**?", body_format="markdown"),
            site,
        )
        assert outcome.held
        return outcome.post.id


PAGES = ["/c/{}/manage/members", "/c/{}/manage/held", "/c/{}/manage/settings"]


class TestWhoMayManage:
    @pytest.mark.parametrize("page", PAGES)
    def test_outsiders_of_a_private_community_are_told_nothing(
        self, client: FlaskClient, as_user: Callable[[str], None], page: str
    ) -> None:
        as_user(EVE)
        assert client.get(page.format("board")).status_code == 404
        assert client.get(page.format("nowhere")).status_code == 404

    @pytest.mark.parametrize("page", PAGES)
    def test_members_are_refused_plainly(self, client: FlaskClient, as_user: Callable[[str], None], page: str) -> None:
        as_user(BOB)
        for slug in ("board", "housing"):  # both known to Bob: saying "forbidden" reveals nothing
            refused = client.get(page.format(slug))
            assert refused.status_code == 403 and "Only the facilitators and moderators" in refused.text
        as_user(EVE)
        assert client.get(page.format("housing")).status_code == 403

    def test_anonymous_visitors_are_sent_to_sign_in(self, client: FlaskClient) -> None:
        page = client.get("/c/board/manage/members")
        assert page.status_code == 302 and page.headers["Location"].startswith("/signin?next=")

    def test_refused_actions_change_nothing(
        self,
        client: FlaskClient,
        csrf_token: Callable[[], str],
        as_user: Callable[[str], None],
        sessionmaker: SessionMaker[Session],
        site: Site,
    ) -> None:
        post_id = held_post(sessionmaker, site)
        as_user(BOB)
        assert (
            client.post(
                f"/c/housing/manage/held/{post_id}", data={"csrf_token": csrf_token(), "action": "approve"}
            ).status_code
            == 403
        )
        assert (
            client.post(
                f"/c/housing/manage/members/{user_id(sessionmaker, ANN)}",
                data={"csrf_token": csrf_token(), "action": "remove"},
            ).status_code
            == 403
        )
        assert member(sessionmaker, ANN) == ("facilitator", "active")
        with sessionmaker() as session:
            assert session.get(Post, post_id).status is PostStatus.held


class TestMembers:
    def test_the_list_shows_email_role_delivery_and_status(
        self, client: FlaskClient, as_user: Callable[[str], None]
    ) -> None:
        as_user(MO)
        page = client.get("/c/housing/manage/members")
        assert page.status_code == 200 and "3 members" in page.text
        addresses = [td.get_text() for td in BeautifulSoup(page.text, "html.parser").select("td.address")]
        assert sorted(addresses) == sorted([ANN, MO, BOB])
        assert 'aria-current="page"' in page.text and page.text.count("<h1") == 1

    def test_add_change_role_and_remove(
        self,
        client: FlaskClient,
        csrf_token: Callable[[], str],
        as_user: Callable[[str], None],
        sessionmaker: SessionMaker[Session],
    ) -> None:
        as_user(ANN)
        added = client.post(
            "/c/housing/manage/members",
            data={
                "csrf_token": csrf_token(),
                "email": "New.Person@Example.org",
                "name": "Nia",
                "role": "member",
                "delivery": "daily",
            },
        )
        assert added.status_code == 303
        assert member(sessionmaker, "new.person@example.org") == ("member", "active")
        nia = user_id(sessionmaker, "new.person@example.org")
        assert "new.person@example.org: added." in client.get("/c/housing/manage/members").text

        client.post(
            f"/c/housing/manage/members/{nia}",
            data={"csrf_token": csrf_token(), "action": "role", f"member-{nia}-role": "moderator"},
        )
        assert member(sessionmaker, "new.person@example.org") == ("moderator", "active")
        client.post(f"/c/housing/manage/members/{nia}", data={"csrf_token": csrf_token(), "action": "remove"})
        assert member(sessionmaker, "new.person@example.org") is None

    def test_removal_from_their_last_community_signs_them_out(
        self,
        app: Flask,
        client: FlaskClient,
        csrf_token: Callable[[], str],
        as_user: Callable[[str], None],
        sessionmaker: SessionMaker[Session],
    ) -> None:
        bob = app.test_client()
        with bob.session_transaction() as cookie:
            cookie[SESSION_KEY] = browser_session(sessionmaker, user_id(sessionmaker, BOB))
        assert bob.get("/account").status_code == 200
        as_user(ANN)
        client.post(
            f"/c/housing/manage/members/{user_id(sessionmaker, BOB)}",
            data={"csrf_token": csrf_token(), "action": "remove"},
        )
        assert bob.get("/account").status_code == 200, "still in Board: still signed in"
        client.post(
            f"/c/board/manage/members/{user_id(sessionmaker, BOB)}",
            data={"csrf_token": csrf_token(), "action": "remove"},
        )
        assert member(sessionmaker, BOB, "board") is None
        assert bob.get("/account").headers["Location"].startswith("/signin"), "in no community: signed out"

    def test_a_bad_address_is_shown_on_the_form(
        self, client: FlaskClient, csrf_token: Callable[[], str], as_user: Callable[[str], None]
    ) -> None:
        as_user(ANN)
        page = client.post(
            "/c/housing/manage/members",
            data={"csrf_token": csrf_token(), "email": "nobody", "role": "member", "delivery": "each"},
        )
        assert page.status_code == 400 and 'href="#email"' in page.text and 'value="nobody"' in page.text

    def test_the_last_facilitator_stays(
        self,
        client: FlaskClient,
        csrf_token: Callable[[], str],
        as_user: Callable[[str], None],
        sessionmaker: SessionMaker[Session],
    ) -> None:
        as_user(ANN)
        ann = user_id(sessionmaker, ANN)
        client.post(f"/c/housing/manage/members/{ann}", data={"csrf_token": csrf_token(), "action": "remove"})
        assert "needs at least one facilitator" in client.get("/c/housing/manage/members").text
        assert member(sessionmaker, ANN) == ("facilitator", "active")

    def test_approving_a_request_to_join(
        self,
        client: FlaskClient,
        csrf_token: Callable[[], str],
        as_user: Callable[[str], None],
        sessionmaker: SessionMaker[Session],
    ) -> None:
        with sessionmaker.begin() as session:
            make_member(session, community_by_slug(session, "board"), EVE, status=MemberStatus.pending)
        as_user(ANN)
        page = BeautifulSoup(client.get("/c/board/manage/members").text, "html.parser").get_text()
        assert "Asking to join" in page and EVE in page
        client.post(
            f"/c/board/manage/members/{user_id(sessionmaker, EVE)}",
            data={"csrf_token": csrf_token(), "action": "approve"},
        )
        assert member(sessionmaker, EVE, "board") == ("member", "active")


class TestHeld:
    def test_approve_publishes_and_mails(
        self,
        client: FlaskClient,
        csrf_token: Callable[[], str],
        as_user: Callable[[str], None],
        sessionmaker: SessionMaker[Session],
        site: Site,
    ) -> None:
        post_id = held_post(sessionmaker, site)
        as_user(MO)
        queue = client.get("/c/housing/manage/held").text
        assert "Grants" in queue and "<strong>news</strong>" in queue and f'id="post-{post_id}-reason"' in queue
        done = client.post(f"/c/housing/manage/held/{post_id}", data={"csrf_token": csrf_token(), "action": "approve"})
        assert done.status_code == 303
        with sessionmaker() as session:
            assert session.get(Post, post_id).status is PostStatus.published
            assert sorted(session.scalars(select(OutboxItem.address).where(OutboxItem.post_id == post_id))) == [ANN, MO]
        assert "No messages are waiting" in client.get("/c/housing/manage/held").text
        again = client.post(f"/c/housing/manage/held/{post_id}", data={"csrf_token": csrf_token(), "action": "approve"})
        assert again.status_code == 303  # a second click (or a second facilitator) is told, not failed
        assert "is not awaiting moderation" in client.get("/c/housing/manage/held").text

    def test_reject_mails_the_reason_to_the_sender(
        self,
        client: FlaskClient,
        csrf_token: Callable[[], str],
        as_user: Callable[[str], None],
        sessionmaker: SessionMaker[Session],
        site: Site,
    ) -> None:
        post_id = held_post(sessionmaker, site)
        as_user(ANN)
        client.post(
            f"/c/housing/manage/held/{post_id}",
            data={"csrf_token": csrf_token(), "action": "reject", f"post-{post_id}-reason": "Please ask the helpdesk."},
        )
        with sessionmaker() as session:
            assert session.get(Post, post_id).status is PostStatus.rejected
            notice = session.scalar(select(OutboxItem).where(OutboxItem.dedupe_key == f"rejected:{post_id}"))
        assert notice is not None and notice.address == BOB
        assert "Please ask the helpdesk." in notice.payload["text"]

    def test_a_post_of_another_community_is_not_found(
        self,
        client: FlaskClient,
        csrf_token: Callable[[], str],
        as_user: Callable[[str], None],
        sessionmaker: SessionMaker[Session],
        site: Site,
    ) -> None:
        post_id = held_post(sessionmaker, site)
        as_user(ANN)
        assert (
            client.post(
                f"/c/board/manage/held/{post_id}", data={"csrf_token": csrf_token(), "action": "approve"}
            ).status_code
            == 404
        )


class TestSettings:
    def test_changes_take_effect(
        self,
        client: FlaskClient,
        csrf_token: Callable[[], str],
        as_user: Callable[[str], None],
        sessionmaker: SessionMaker[Session],
        site: Site,
    ) -> None:
        as_user(ANN)
        form = client.get("/c/housing/manage/settings").text
        assert '<input checked id="posting_policy-1" name="posting_policy" type="radio" value="moderated">' in form
        saved = client.post(
            "/c/housing/manage/settings",
            data={
                "csrf_token": csrf_token(),
                "name": "Housing Advice",
                "description": "For housing officers",
                "visibility": "private",
                "posting_policy": "members",
                "subject_prefix": "[Housing]",
            },
        )
        assert saved.status_code == 303
        with sessionmaker() as session:
            housing = session.scalar(select(Community).where(Community.slug == "housing"))
        assert housing is not None
        assert (
            housing.name,
            housing.description,
            housing.visibility,
            housing.posting_policy,
            housing.subject_prefix,
        ) == ("Housing Advice", "For housing officers", Visibility.private, PostingPolicy.members, "[Housing]")
        with sessionmaker.begin() as session:  # members post without a moderator now
            outcome = submit_post(
                session, Draft(community="housing", author_email=BOB, subject="Hi", body="Hello"), site
            )
        assert not outcome.held
        as_user(EVE)  # and outsiders cannot see it any more
        assert client.get("/c/housing/membership").status_code == 404

    def test_an_empty_name_is_refused(
        self,
        client: FlaskClient,
        csrf_token: Callable[[], str],
        as_user: Callable[[str], None],
        sessionmaker: SessionMaker[Session],
    ) -> None:
        as_user(ANN)
        page = client.post(
            "/c/housing/manage/settings",
            data={"csrf_token": csrf_token(), "name": "", "visibility": "public", "posting_policy": "open"},
        )
        assert page.status_code == 400 and "Enter the community&#39;s name" in page.text
        assert 'aria-describedby="name-hint name-error"' in page.text
        with sessionmaker() as session:
            assert community_by_slug(session, "housing").posting_policy is PostingPolicy.moderated


def test_every_page_has_one_heading_and_labelled_controls(
    client: FlaskClient, as_user: Callable[[str], None], sessionmaker: SessionMaker[Session], site: Site
) -> None:
    """The structure WCAG asks of forms: one h1, unique ids, and a label for every control."""
    held_post(sessionmaker, site)
    with sessionmaker.begin() as session:
        published = submit_post(
            session, Draft(community="housing", author_email=ANN, subject="Open", body="Hi"), site
        ).post
    as_user(ANN)
    pages = [
        "/signin",
        "/account",
        "/c/housing/membership",
        "/c/housing/new",
        "/c/board/membership",
        f"/c/housing/t/{published.thread_id}/reply",
        *(page.format("housing") for page in PAGES),
    ]
    for path in pages:
        page = client.get(path)
        assert page.status_code == 200, path
        soup = BeautifulSoup(page.text, "html.parser")
        assert len(soup.find_all("h1")) == 1, path
        ids = [tag["id"] for tag in soup.find_all(id=True)]
        assert len(ids) == len(set(ids)), (path, sorted(i for i in ids if ids.count(i) > 1))
        labelled = {label.get("for") for label in soup.find_all("label")}
        for control in soup.find_all(["input", "select", "textarea"]):
            if control.get("type") in ("hidden", "submit"):
                continue
            assert control.get("id") in labelled or control.get("aria-label"), (path, str(control)[:120])
