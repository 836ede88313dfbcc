"""Links in mails that act only on a button press: turning bounced mail back on, confirming
a join or leave asked for by email, and confirming a post that names its author; and the
notice a member whose mail bounces stopped gets.

Mail scanners fetch links before people do, so each GET must change nothing; the POST
needs the CSRF token its page carries; a second press must do no harm.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker as SessionMaker

from forum import bounces, confirmations, subscriptions
from forum.access import membership_of, user_by_email
from forum.models import (
    Delivery,
    Membership,
    MemberStatus,
    OutboxItem,
    Post,
    PostingPolicy,
    PostStatus,
    Role,
    SubscriptionRequest,
    utcnow,
)
from forum.posting import Draft, community_by_slug, submit_post
from forum.site import Site
from tests.support import make_community, make_member

SITE_LINK = re.compile(r"http://127\.0\.0\.1:8080(/\S+)")


@pytest.fixture(autouse=True)
def communities(sessionmaker: SessionMaker[Session]) -> None:
    with sessionmaker.begin() as session:
        housing = make_community(session, "housing")
        make_member(session, housing, "ann@example.org", role=Role.facilitator)
        make_member(session, housing, "bob@example.org", delivery=Delivery.daily)
        allotments = make_community(session, "allotments", visibility="restricted")
        make_member(session, allotments, "ann@example.org", role=Role.facilitator)


def membership(sessionmaker: SessionMaker[Session], address: str, slug: str = "housing") -> Membership | None:
    with sessionmaker() as session:
        return membership_of(session, user_by_email(session, address), community_by_slug(session, slug))


def mailed_path(sessionmaker: SessionMaker[Session], address: str, key_prefix: str = "") -> str:
    """The path of the site link in the last notice queued for ``address``."""
    with sessionmaker() as session:
        notice = session.scalars(
            select(OutboxItem)
            .where(OutboxItem.address == address, OutboxItem.dedupe_key.startswith(key_prefix))
            .order_by(OutboxItem.id.desc())
        ).first()
    assert notice is not None, f"no mail queued for {address}"
    found = SITE_LINK.search(notice.payload["text"])
    assert found, notice.payload["text"]
    return found.group(1)


@pytest.fixture
def stop_bobs_mail(site: Site, sessionmaker: SessionMaker[Session]) -> Callable[[], str]:
    """Bounce Bob's Housing mail until it stops; the re-enable link the facilitator is mailed."""

    def stop() -> str:
        with sessionmaker.begin() as session:
            bobs = membership_of(
                session, user_by_email(session, "bob@example.org"), community_by_slug(session, "housing")
            )
            assert bobs is not None
            for day in (2, 1):
                bounces.record_bounce(
                    session, site, bobs, permanent=True, reason="5.1.1 user unknown", now=utcnow() - timedelta(days=day)
                )
            assert bobs.bounce_disabled_at is not None
        return mailed_path(sessionmaker, "ann@example.org", "bounce-stop:")

    return stop


def is_stopped(sessionmaker: SessionMaker[Session]) -> bool:
    bobs = membership(sessionmaker, "bob@example.org")
    assert bobs is not None
    return bobs.bounce_disabled_at is not None


class TestReenableLink:
    def test_the_page_explains_and_changes_nothing(
        self, client: FlaskClient, stop_bobs_mail: Callable[[], str], sessionmaker: SessionMaker[Session]
    ) -> None:
        link = stop_bobs_mail()
        assert link.startswith(bounces.REENABLE_PATH)
        for _ in range(2):  # a mail scanner's fetch first
            page = client.get(link)
            assert page.status_code == 200 and "Mail to bob@example.org has stopped" in page.text
            assert "kept bouncing" in page.text and "5.1.1 user unknown" in page.text
            assert f'<form method="post" action="{link}">' in page.text and 'name="csrf_token"' in page.text
            assert '<button type="submit">Start sending again</button>' in page.text
        assert is_stopped(sessionmaker)

    def test_the_button_restores_the_members_choice_and_twice_is_harmless(
        self,
        client: FlaskClient,
        csrf_token: Callable[[], str],
        stop_bobs_mail: Callable[[], str],
        sessionmaker: SessionMaker[Session],
    ) -> None:
        link = stop_bobs_mail()
        for _ in range(2):
            done = client.post(link, data={"csrf_token": csrf_token()})
            assert done.status_code == 200 and "Housing is sending mail to bob@example.org again" in done.text
            bobs = membership(sessionmaker, "bob@example.org")
            assert bobs is not None and (bobs.delivery, bobs.bounce_disabled_at) == (Delivery.daily, None)
        again = client.get(link)
        assert again.status_code == 200 and "there is nothing to do" in again.text and "<form method" not in again.text

    def test_the_button_needs_the_csrf_token(
        self, client: FlaskClient, stop_bobs_mail: Callable[[], str], sessionmaker: SessionMaker[Session]
    ) -> None:
        link = stop_bobs_mail()
        for data in ({}, {"csrf_token": "forged"}):
            refused = client.post(link, data=data)
            assert refused.status_code == 400 and "Please try again" in refused.text
        assert is_stopped(sessionmaker)

    def test_a_bad_link_is_a_clear_404(
        self,
        client: FlaskClient,
        csrf_token: Callable[[], str],
        site: Site,
        stop_bobs_mail: Callable[[], str],
        sessionmaker: SessionMaker[Session],
    ) -> None:
        link = stop_bobs_mail()
        bobs = membership(sessionmaker, "bob@example.org")
        assert bobs is not None
        cut_short = (link[:-4], "the whole link")
        other_purpose = (bounces.REENABLE_PATH + site.signer.make("reply", bobs.id), "the whole link")
        gone = (bounces.REENABLE_PATH + site.signer.make(bounces.REENABLE, bobs.id + 1000), "no longer exists")
        for bad, reason in (cut_short, other_purpose, gone):
            for page in (client.get(bad), client.post(bad, data={"csrf_token": csrf_token()})):
                assert page.status_code == 404 and "This link does not work" in page.text and reason in page.text
        assert is_stopped(sessionmaker)


class TestConfirmLink:
    def ask(
        self, site: Site, sessionmaker: SessionMaker[Session], address: str, action: str, slug: str = "housing"
    ) -> str:
        """The confirmation link an email to SLUG-subscribe@ or SLUG-unsubscribe@ gets."""
        with sessionmaker.begin() as session:
            asked = subscriptions.ask(session, site, community_by_slug(session, slug), address, action, "Carol")
        assert asked.token is not None
        return urlsplit(subscriptions.confirm_url(site, asked.token)).path

    def requests(self, sessionmaker: SessionMaker[Session]) -> int:
        with sessionmaker() as session:
            return len(session.scalars(select(SubscriptionRequest)).all())

    def test_joining_asks_first_then_joins_once(
        self, client: FlaskClient, csrf_token: Callable[[], str], site: Site, sessionmaker: SessionMaker[Session]
    ) -> None:
        link = self.ask(site, sessionmaker, "carol@example.org", subscriptions.SUBSCRIBE)
        assert link.startswith(subscriptions.CONFIRM_PATH)
        for _ in range(2):
            page = client.get(link)
            assert page.status_code == 200 and "<h1>Join Housing?</h1>" in page.text
            assert "carol@example.org" in page.text and 'name="csrf_token"' in page.text
            assert '<button type="submit">Join Housing</button>' in page.text and "private" not in page.text
        with sessionmaker() as session:
            assert user_by_email(session, "carol@example.org") is None
        done = client.post(link, data={"csrf_token": csrf_token()})
        assert done.status_code == 303 and done.headers["Location"] == "/c/housing/"
        assert "Welcome to Housing: you are a member." in client.get("/c/housing/").text
        carols = membership(sessionmaker, "carol@example.org")
        assert carols is not None and carols.status is MemberStatus.active
        again = client.post(link, data={"csrf_token": csrf_token()})
        assert again.status_code == 404 and "already been used" in again.text
        still = membership(sessionmaker, "carol@example.org")
        assert still is not None and still.id == carols.id

    def test_a_restricted_community_queues_the_request_for_its_facilitators(
        self, client: FlaskClient, csrf_token: Callable[[], str], site: Site, sessionmaker: SessionMaker[Session]
    ) -> None:
        link = self.ask(site, sessionmaker, "carol@example.org", subscriptions.SUBSCRIBE, "allotments")
        page = client.get(link)
        assert "your request goes to its facilitators" in page.text
        done = client.post(link, data={"csrf_token": csrf_token()})
        assert done.status_code == 200 and "Request sent" in done.text and "facilitators will decide" in done.text
        assert membership(sessionmaker, "carol@example.org", "allotments") is None, "not a member until approved"
        assert mailed_path(sessionmaker, "ann@example.org", "join-request:") == "/c/allotments/manage/requests"

    def test_leaving(
        self, client: FlaskClient, csrf_token: Callable[[], str], site: Site, sessionmaker: SessionMaker[Session]
    ) -> None:
        link = self.ask(site, sessionmaker, "bob@example.org", subscriptions.UNSUBSCRIBE)
        page = client.get(link)
        assert "<h1>Leave Housing?</h1>" in page.text and "no more mail" in page.text
        assert membership(sessionmaker, "bob@example.org") is not None
        done = client.post(link, data={"csrf_token": csrf_token()})
        assert done.status_code == 200 and "You have left Housing" in done.text
        assert membership(sessionmaker, "bob@example.org") is None

    def test_the_button_needs_the_csrf_token(
        self, client: FlaskClient, site: Site, sessionmaker: SessionMaker[Session]
    ) -> None:
        link = self.ask(site, sessionmaker, "carol@example.org", subscriptions.SUBSCRIBE)
        for data in ({}, {"csrf_token": "forged"}):
            assert client.post(link, data=data).status_code == 400
        assert self.requests(sessionmaker) == 1 and membership(sessionmaker, "carol@example.org") is None

    def test_a_bad_or_expired_link_is_a_clear_404(
        self, client: FlaskClient, csrf_token: Callable[[], str], site: Site, sessionmaker: SessionMaker[Session]
    ) -> None:
        link = self.ask(site, sessionmaker, "carol@example.org", subscriptions.SUBSCRIBE)
        with sessionmaker() as session:
            request_id = session.scalars(select(SubscriptionRequest.id)).one()
        expired = subscriptions.CONFIRM_PATH + site.signer.make(subscriptions.CONFIRM, request_id, ttl_seconds=-60)
        for bad in (link[:-4], expired):
            for page in (client.get(bad), client.post(bad, data={"csrf_token": csrf_token()})):
                assert page.status_code == 404 and "This link does not work" in page.text
                assert "not valid or has expired" in page.text
        assert self.requests(sessionmaker) == 1


class TestStoppedMailNotice:
    def notice(self, client: FlaskClient) -> bool:
        return "Your mail has stopped" in client.get("/account").text

    def test_the_profile_says_so_until_the_member_turns_mail_back_on(
        self,
        client: FlaskClient,
        as_user: Callable[[str], None],
        csrf_token: Callable[[], str],
        stop_bobs_mail: Callable[[], str],
        sessionmaker: SessionMaker[Session],
    ) -> None:
        as_user("bob@example.org")
        assert not self.notice(client)
        stop_bobs_mail()
        page = client.get("/account").text
        assert "Your mail has stopped" in page and "bob@example.org" in page and "5.1.1 user unknown" in page
        assert '<button type="submit">Start sending Housing mail again</button>' in page
        assert 'name="action" value="reenable"' in page
        done = client.post(
            "/c/housing/membership", data={"csrf_token": csrf_token(), "action": "reenable", "next": "/account"}
        )
        assert done.status_code == 303 and done.headers["Location"] == "/account"
        after = client.get("/account").text
        assert "Housing will send you mail again." in after and "Your mail has stopped" not in after
        bobs = membership(sessionmaker, "bob@example.org")
        assert bobs is not None and (bobs.delivery, bobs.bounce_disabled_at) == (Delivery.daily, None)

    def test_only_the_bounced_member_sees_it(
        self, client: FlaskClient, as_user: Callable[[str], None], stop_bobs_mail: Callable[[], str]
    ) -> None:
        stop_bobs_mail()
        as_user("ann@example.org")
        assert not self.notice(client)

    def test_turning_mail_on_needs_a_membership_and_the_csrf_token(
        self,
        client: FlaskClient,
        as_user: Callable[[str], None],
        csrf_token: Callable[[], str],
        stop_bobs_mail: Callable[[], str],
        sessionmaker: SessionMaker[Session],
    ) -> None:
        stop_bobs_mail()
        as_user("bob@example.org")
        assert client.post("/c/housing/membership", data={"action": "reenable"}).status_code == 400
        assert is_stopped(sessionmaker)
        with sessionmaker.begin() as session:
            make_community(session, "gardens")
        elsewhere = client.post("/c/gardens/membership", data={"csrf_token": csrf_token(), "action": "reenable"})
        assert elsewhere.status_code == 404 and "not a member of Gardens" in elsewhere.text

    def test_signing_in_says_it_once(
        self,
        client: FlaskClient,
        csrf_token: Callable[[], str],
        stop_bobs_mail: Callable[[], str],
        sessionmaker: SessionMaker[Session],
    ) -> None:
        stop_bobs_mail()
        client.post("/signin", data={"csrf_token": csrf_token(), "email": "bob@example.org", "next": "/c/housing/"})
        signed_in = client.post(
            mailed_path(sessionmaker, "bob@example.org"), data={"csrf_token": csrf_token()}, follow_redirects=True
        )
        warning = "We stopped sending you mail from Housing because it kept bouncing."
        assert signed_in.request.path == "/c/housing/" and warning in signed_in.text
        assert warning not in client.get("/c/housing/").text


class TestConfirmingAPost:
    """ "Did you send this?": the link a member is mailed for a held post that names them."""

    @pytest.fixture
    def held(self, site: Site, sessionmaker: SessionMaker[Session]) -> int:
        with sessionmaker.begin() as session:
            post = submit_post(
                session,
                Draft(
                    community="housing",
                    author_email="bob@example.org",
                    subject="Rota",
                    body="Who covers Friday?",
                    hold_reason="nothing shows bob sent it",
                ),
                site,
            ).post
            assert confirmations.ask_author(session, site, post, "mallory@evil.example")
            return post.id

    def status(self, sessionmaker: SessionMaker[Session], post_id: int) -> PostStatus:
        with sessionmaker() as session:
            post = session.get(Post, post_id)
            assert post is not None
            return post.status

    def test_a_scanners_get_and_a_form_without_its_token_publish_nothing(
        self, client: FlaskClient, csrf_token: Callable[[], str], held: int, sessionmaker: SessionMaker[Session]
    ) -> None:
        link = mailed_path(sessionmaker, "bob@example.org", "confirm-post:")
        for _ in range(2):
            page = client.get(link)
            assert page.status_code == 200 and "Who covers Friday?" in page.text and "<button" in page.text
        assert client.post(link).status_code == 400
        assert self.status(sessionmaker, held) is PostStatus.held
        done = client.post(link, data={"csrf_token": csrf_token()})
        assert done.status_code == 200 and "Published" in done.text
        assert self.status(sessionmaker, held) is PostStatus.published
        assert client.get(link).status_code == 404
        broken = client.get("/posts/confirm/aaaabbbbcccc")
        assert broken.status_code == 404 and "not valid" in broken.text

    def test_a_community_moderated_since_keeps_the_post_for_its_facilitators(
        self, client: FlaskClient, csrf_token: Callable[[], str], held: int, sessionmaker: SessionMaker[Session]
    ) -> None:
        with sessionmaker.begin() as session:
            community_by_slug(session, "housing").posting_policy = PostingPolicy.moderated
        done = client.post(
            mailed_path(sessionmaker, "bob@example.org", "confirm-post:"), data={"csrf_token": csrf_token()}
        )
        assert done.status_code == 200 and "waits only for a facilitator" in done.text
        assert self.status(sessionmaker, held) is PostStatus.held
