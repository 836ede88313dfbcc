"""Joining from a community's page: an address, a delivery choice, and the mailed link that
confirms it (and signs the newcomer in); signed in, one button. And the attacks on it: a
private community, a reused or expired link, a mail scanner's GET, floods, injection."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker as SessionMaker

from forum import joining, subscriptions
from forum.access import membership_of, user_by_email
from forum.models import OutboxItem, Role, SubscriptionRequest
from forum.posting import community_by_slug
from forum.rate_limits import RateLimit
from forum.site import Site
from tests.conftest import MAIL_DOMAIN
from tests.support import make_community, make_member

ANN, BOB, DAN, NEW = "ann@example.org", "bob@example.org", "dan@example.org", "newbie@example.org"
SITE_LINK = re.compile(r"http://127\.0\.0\.1:8080(/\S+)")


@pytest.fixture(autouse=True)
def communities(sessionmaker: SessionMaker[Session]) -> None:
    """Housing (public): Ann facilitates, Bob is a member. Hidden (private): Ann only.
    Dan has an account (through Garden) but is in neither."""
    with sessionmaker.begin() as session:
        housing = make_community(session, "housing")
        housing.description = "Practitioners sharing advice about disrepair claims."
        make_member(session, housing, ANN, role=Role.facilitator)
        make_member(session, housing, BOB)
        hidden = make_community(session, "hidden", private=True)
        make_member(session, hidden, ANN, role=Role.facilitator)
        make_member(session, make_community(session, "garden"), DAN)


def membership(sessionmaker: SessionMaker[Session], address: str, slug: str = "housing") -> tuple[str, str] | None:
    with sessionmaker() as session:
        found = membership_of(session, user_by_email(session, address), community_by_slug(session, slug))
        return (found.status.value, found.delivery.value) if found else None


def mails_to(sessionmaker: SessionMaker[Session], address: str) -> list[OutboxItem]:
    with sessionmaker() as session:
        return list(session.scalars(select(OutboxItem).where(OutboxItem.address == address).order_by(OutboxItem.id)))


def link_in(mail: OutboxItem) -> str:
    """The path of the first site link in a queued mail."""
    found = SITE_LINK.search(mail.payload["text"])
    assert found, mail.payload["text"]
    return found.group(1)


def requests(sessionmaker: SessionMaker[Session]) -> int:
    with sessionmaker() as session:
        return len(session.scalars(select(SubscriptionRequest)).all())


@pytest.fixture
def ask(client: FlaskClient, csrf_token: Callable[[], str]) -> Callable[..., str]:
    """Fill in the join form on the community page; the answer's text."""

    def ask(email: str, delivery: str = "each", slug: str = "housing", status: int = 200) -> str:
        page = client.post(f"/c/{slug}/join", data={"csrf_token": csrf_token(), "email": email, "delivery": delivery})
        assert page.status_code == status, page.text
        return page.text

    return ask


def main(page: str) -> str:
    """The page's main content, without the tokens that differ between requests."""
    content = page[page.index('<main id="main"') : page.index("</main>")]
    return re.sub(r'name="csrf_token" value="[^"]*"', "", content)


class TestTheCommunityPage:
    def test_a_visitor_sees_the_purpose_the_addresses_and_the_join_form(self, client: FlaskClient) -> None:
        page = client.get("/c/housing/").text
        assert "Practitioners sharing advice about disrepair claims." in page
        for address in (
            f"housing@{MAIL_DOMAIN}",
            f"housing-subscribe@{MAIL_DOMAIN}",
            f"housing-unsubscribe@{MAIL_DOMAIN}",
        ):
            assert f'<a href="mailto:{address}">{address}</a>' in page
        form = page[page.index('action="/c/housing/join"') :]
        form = form[: form.index("</form>")]
        assert re.search(r'<input aria-describedby="email-hint" autocomplete="email" id="email" name="email"', form)
        assert re.findall(r'name="delivery" type="radio" value="(\w+)"', form) == ["each", "daily", "weekly", "none"]
        assert 'checked id="delivery-0"' in form  # every post, unless they choose less
        # The digest's time and day, in plain words, in the site's zone for a visitor.
        assert "At about 07:00 (United Kingdom Time). None on days with nothing new." in form
        assert "Each Monday at about 07:00 (United Kingdom Time)." in form
        assert "Read it on the web. You can still post by email." in form
        assert '<button type="submit">Join Housing</button>' in form

    def test_the_hints_follow_a_signed_in_persons_own_hour_and_zone(
        self, client: FlaskClient, as_user: Callable[[str], None], sessionmaker: SessionMaker[Session]
    ) -> None:
        with sessionmaker.begin() as session:
            dan = user_by_email(session, DAN)
            assert dan is not None
            dan.digest_hour, dan.timezone = 18, "America/New_York"
        as_user(DAN)
        page = client.get("/c/housing/").text
        assert "At about 18:00 (United States (New York) Time)." in page
        assert "You will join as dan@example.org." in page and 'name="email"' not in page

    def test_in_welsh(self, client: FlaskClient) -> None:
        page = client.get("/c/housing/?lang=cy").text
        assert "Ymuno â Housing" in page and "Dydd Llun" in page and "Anfon at bawb" in page

    def test_a_member_sees_their_membership_not_the_form(
        self, client: FlaskClient, as_user: Callable[[str], None]
    ) -> None:
        as_user(BOB)
        page = client.get("/c/housing/").text
        assert "You are a member. Email: every message, as it is posted." in page
        assert 'action="/c/housing/join"' not in page


class TestJoiningByAddress:
    def test_the_mailed_link_confirms_creates_the_account_and_signs_in(
        self,
        client: FlaskClient,
        ask: Callable[..., str],
        csrf_token: Callable[[], str],
        sessionmaker: SessionMaker[Session],
    ) -> None:
        answer = ask(NEW, "daily")
        assert "<h1>Check your email</h1>" in answer and f"We have sent a message to {NEW}" in answer
        with sessionmaker() as session:
            assert user_by_email(session, NEW) is None  # nothing happens before the link is followed
        [mail] = mails_to(sessionmaker, NEW)
        assert mail.payload["subject"] == "Confirm: join Housing"
        link = link_in(mail)
        assert link.startswith(subscriptions.CONFIRM_PATH)
        for _ in range(2):  # a mail scanner's prefetch, then the person: neither joins
            page = client.get(link)
            assert page.status_code == 200 and "<h1>Join Housing?</h1>" in page.text
            assert "Email you chose: one email a day, with everything new." in page.text
            assert 'name="name"' in page.text and "Your name (optional)" in page.text
        assert membership(sessionmaker, NEW) is None
        done = client.post(link, data={"csrf_token": csrf_token(), "name": "Nia <b>Newbie</b>"})
        assert done.status_code == 303 and done.headers["Location"] == "/c/housing/"
        home = client.get("/c/housing/").text
        assert "Welcome to Housing: you are a member." in home
        assert f"To post, write to housing@{MAIL_DOMAIN} from {NEW}" in home
        assert "Nia &lt;b&gt;Newbie&lt;/b&gt;" in home and "Sign out" in home  # signed in, name escaped
        assert "You are a member. Email: one email a day, with everything new." in home
        assert membership(sessionmaker, NEW) == ("active", "daily")
        with sessionmaker() as session:
            user = user_by_email(session, NEW)
            assert user is not None and user.display_name == "Nia <b>Newbie</b>"
            assert [e.verified for e in user.emails] == [True]
        reused = client.post(link, data={"csrf_token": csrf_token()})
        assert reused.status_code == 404 and "already been used" in reused.text
        assert requests(sessionmaker) == 0

    def test_without_a_name_or_a_delivery_choice(
        self, client: FlaskClient, csrf_token: Callable[[], str], sessionmaker: SessionMaker[Session]
    ) -> None:
        """What a script (or an old page) sends: only the address. Every message, by default."""
        assert client.post("/c/housing/join", data={"csrf_token": csrf_token(), "email": NEW}).status_code == 200
        link = link_in(mails_to(sessionmaker, NEW)[0])
        assert client.post(link, data={"csrf_token": csrf_token()}).status_code == 303
        assert membership(sessionmaker, NEW) == ("active", "each")
        with sessionmaker() as session:
            user = user_by_email(session, NEW)
            assert user is not None and user.display_name == "newbie"

    def test_in_welsh_the_page_and_the_mail(
        self, client: FlaskClient, csrf_token: Callable[[], str], sessionmaker: SessionMaker[Session]
    ) -> None:
        answer = client.post("/c/housing/join?lang=cy", data={"csrf_token": csrf_token(), "email": NEW})
        assert "Rydym wedi anfon neges at newbie@example.org" in answer.text
        [mail] = mails_to(sessionmaker, NEW)
        assert mail.payload["subject"] == "Cadarnhau: ymuno â Housing"
        assert "I ymuno, agorwch y ddolen hon" in mail.payload["text"]
        page = client.get(link_in(mail) + "?lang=cy").text
        assert "Eich enw (dewisol)" in page and "Yr e-bost a ddewisoch: pob neges" in page

    def test_a_member_gets_the_same_page_and_a_mail_saying_so(
        self, ask: Callable[..., str], sessionmaker: SessionMaker[Session]
    ) -> None:
        for_stranger = ask(NEW).replace(NEW, "ADDRESS")
        for_member = ask(BOB, "weekly").replace(BOB, "ADDRESS")
        assert main(for_member) == main(for_stranger)
        [mail] = mails_to(sessionmaker, BOB)
        assert mail.payload["subject"] == "Housing: you are already a member"
        assert "/signin/" in link_in(mail) and f"housing@{MAIL_DOMAIN}" in mail.payload["text"]
        assert membership(sessionmaker, BOB) == ("active", "each")  # nothing changed
        assert requests(sessionmaker) == 1  # the stranger's only

    def test_an_expired_link_is_a_clear_404(
        self,
        client: FlaskClient,
        ask: Callable[..., str],
        csrf_token: Callable[[], str],
        site: Site,
        sessionmaker: SessionMaker[Session],
    ) -> None:
        ask(NEW)
        with sessionmaker() as session:
            request_id = session.scalars(select(SubscriptionRequest.id)).one()
        expired = subscriptions.CONFIRM_PATH + site.signer.make(subscriptions.CONFIRM, request_id, ttl_seconds=-60)
        for page in (client.get(expired), client.post(expired, data={"csrf_token": csrf_token()})):
            assert page.status_code == 404 and "not valid or has expired" in page.text
        assert membership(sessionmaker, NEW) is None and "Sign out" not in client.get("/").text

    def test_the_confirmation_needs_the_csrf_token(
        self, client: FlaskClient, ask: Callable[..., str], sessionmaker: SessionMaker[Session]
    ) -> None:
        ask(NEW)
        link = link_in(mails_to(sessionmaker, NEW)[0])
        assert client.post(link, data={}).status_code == 400
        assert membership(sessionmaker, NEW) is None and requests(sessionmaker) == 1


class TestRefusals:
    def test_a_bad_address_comes_back_with_its_error_and_the_input_kept(
        self, client: FlaskClient, ask: Callable[..., str], sessionmaker: SessionMaker[Session]
    ) -> None:
        page = ask('"><script>alert(1)</script>', "weekly", status=400)
        assert '<div class="error-summary" role="alert"' in page and '<a href="#email">' in page
        assert 'aria-invalid="true"' in page and 'id="email-error"' in page
        assert "<script>alert(1)</script>" not in page
        assert 'value="&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"' in page
        assert 'checked id="delivery-2"' in page  # their choice kept too
        empty = ask("", status=400)
        assert "Enter an email address" in empty
        assert mails_to(sessionmaker, '"><script>alert(1)</script>') == [] and requests(sessionmaker) == 0

    def test_the_form_needs_its_csrf_token(self, client: FlaskClient, sessionmaker: SessionMaker[Session]) -> None:
        assert client.post("/c/housing/join", data={"email": NEW}).status_code == 400
        assert mails_to(sessionmaker, NEW) == []

    def test_a_private_community_is_not_found_and_nothing_is_sent(
        self,
        client: FlaskClient,
        ask: Callable[..., str],
        as_user: Callable[[str], None],
        sessionmaker: SessionMaker[Session],
    ) -> None:
        hidden = ask(NEW, slug="hidden", status=404)
        missing = ask(NEW, slug="nowhere", status=404)
        assert main(hidden).replace("hidden", "SLUG") == main(missing).replace("nowhere", "SLUG")
        assert client.get("/c/hidden/join").status_code == 404
        as_user(DAN)
        assert ask("", slug="hidden", status=404)
        assert mails_to(sessionmaker, NEW) == [] and membership(sessionmaker, DAN, "hidden") is None
        assert requests(sessionmaker) == 0

    def test_floods_are_limited_per_address(self, ask: Callable[..., str], sessionmaker: SessionMaker[Session]) -> None:
        for _ in range(5):  # [answers] per_address_per_hour
            ask("Victim@example.org")
        refused = ask("victim+again@example.org", status=429)  # the same mailbox
        assert "Too many requests to join" in refused and '<div class="error-summary"' in refused
        assert len(mails_to(sessionmaker, "victim@example.org")) == 5
        assert mails_to(sessionmaker, "victim+again@example.org") == []

    def test_floods_are_limited_per_client(
        self, ask: Callable[..., str], sessionmaker: SessionMaker[Session], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(joining, "JOIN_PER_CLIENT", RateLimit("join-client", 2, timedelta(hours=1)))
        ask("one@example.org")
        ask("two@example.org")
        assert "Too many requests to join" in ask("three@example.org", status=429)
        assert mails_to(sessionmaker, "three@example.org") == []


class TestOneButtonJoin:
    def test_someone_signed_in_joins_with_the_delivery_they_chose(
        self,
        client: FlaskClient,
        as_user: Callable[[str], None],
        csrf_token: Callable[[], str],
        sessionmaker: SessionMaker[Session],
    ) -> None:
        as_user(DAN)
        done = client.post("/c/housing/join", data={"csrf_token": csrf_token(), "delivery": "weekly"})
        assert done.status_code == 303 and done.headers["Location"] == "/c/housing/"
        assert "Welcome to Housing: you are a member." in client.get("/c/housing/").text
        assert membership(sessionmaker, DAN) == ("active", "weekly")
        assert mails_to(sessionmaker, DAN) == []  # their address is proven: no confirmation

    def test_a_bad_choice_is_said_on_the_join_page(
        self, client: FlaskClient, as_user: Callable[[str], None], csrf_token: Callable[[], str]
    ) -> None:
        as_user(DAN)
        page = client.post("/c/housing/join", data={"csrf_token": csrf_token(), "delivery": "hourly"})
        assert page.status_code == 400 and "<h1>Join Housing</h1>" in page.text and "error-summary" in page.text


class TestSignInWithAnUnknownAddress:
    def test_the_page_is_the_same_and_the_mail_offers_communities_to_join(
        self, client: FlaskClient, csrf_token: Callable[[], str], sessionmaker: SessionMaker[Session]
    ) -> None:
        sign_in = client.get("/signin").text
        assert 'href="/communities"' in sign_in
        pages = {}
        for address in (BOB, NEW):
            page = client.post("/signin", data={"csrf_token": csrf_token(), "email": address})
            assert page.status_code == 200
            pages[address] = main(page.text).replace(address, "ADDRESS")
        assert pages[BOB] == pages[NEW] and "Find a community to join" in pages[NEW]
        assert "/signin/" in link_in(mails_to(sessionmaker, BOB)[0])
        [mail] = mails_to(sessionmaker, NEW)
        text = mail.payload["text"]
        assert "no account has that address" in text and "/signin/" not in text
        assert "Housing: http://127.0.0.1:8080/c/housing/" in text and "Hidden" not in text
        assert "http://127.0.0.1:8080/communities" in text

    def test_in_welsh(
        self, client: FlaskClient, csrf_token: Callable[[], str], sessionmaker: SessionMaker[Session]
    ) -> None:
        client.post("/signin?lang=cy", data={"csrf_token": csrf_token(), "email": NEW})
        [mail] = mails_to(sessionmaker, NEW)
        assert "Housing: http://127.0.0.1:8080/c/housing/" in mail.payload["text"]
        assert "cyfrif" in mail.payload["text"]
