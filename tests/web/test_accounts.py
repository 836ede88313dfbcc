"""Accounts on the web: sign-in by emailed link, profile, extra addresses, unsubscribe, CSRF and cookies."""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker as SessionMaker

from forum import subscriptions
from forum.access import membership_of, user_by_email
from forum.config import Settings
from forum.models import Membership, OutboxItem, Role, User
from forum.posting import community_by_slug
from forum.site import Site
from mailgateway.outgoing import rendering
from tests.support import make_community, make_member
from web.accounts.lookup import safe_next
from web.app import create_app


@pytest.fixture(autouse=True)
def housing(sessionmaker: SessionMaker[Session]) -> None:
    with sessionmaker.begin() as session:
        community = make_community(session, "housing")
        make_member(session, community, "ann@example.org", role=Role.facilitator)
        make_member(session, community, "bob@example.org")


def bob(sessionmaker: SessionMaker[Session]) -> User:
    with sessionmaker() as session:
        found = user_by_email(session, "bob@example.org")
        assert found is not None
        return found


def addresses_of(sessionmaker: SessionMaker[Session], user_id: int) -> dict[str, tuple[int, bool]]:
    """A user's addresses: id and whether it is the main one."""
    with sessionmaker() as session:
        user = session.get(User, user_id)
        assert user is not None
        return {e.email: (e.id, e.is_primary) for e in user.emails}


def mailed_link(sessionmaker: SessionMaker[Session], address: str) -> str:
    """The path of the site link in the last notice queued for ``address``."""
    with sessionmaker() as session:
        notice = session.scalars(
            select(OutboxItem).where(OutboxItem.address == address).order_by(OutboxItem.id.desc())
        ).first()
    assert notice is not None, f"no mail queued for {address}"
    url = re.search(r"http://127\.0\.0\.1:8080(/\S+)", notice.payload["text"])
    assert url, notice.payload["text"]
    return url.group(1)


def signed_in_name(client: FlaskClient) -> str | None:
    page = client.get("/account")
    if page.status_code != 200:
        return None
    match = re.search(r'id="display_name"[^>]*value="([^"]*)"', page.text)
    return match.group(1) if match else None


class TestSignIn:
    def ask(self, client: FlaskClient, csrf_token: Callable[[], str], email: str, next_path: str = "") -> str:
        page = client.post(
            f"/signin?next={next_path}" if next_path else "/signin",
            data={"csrf_token": csrf_token(), "email": email, "next": next_path},
        )
        assert page.status_code == 200
        return page.text

    def test_the_whole_flow(
        self, client: FlaskClient, csrf_token: Callable[[], str], sessionmaker: SessionMaker[Session]
    ) -> None:
        assert "Check your email" in self.ask(client, csrf_token, "bob@example.org", "/c/housing/")
        link = mailed_link(sessionmaker, "bob@example.org")
        assert link.startswith("/signin/") and link.endswith("?next=%2Fc%2Fhousing%2F")
        for _ in range(2):  # a mail scanner's GET first: it must not use the link up
            confirm = client.get(link)
            assert confirm.status_code == 200 and "Sign in as Bob" in confirm.text
        assert signed_in_name(client) is None
        done = client.post(link, data={"csrf_token": csrf_token()})
        assert done.status_code == 303 and done.headers["Location"] == "/c/housing/"
        assert signed_in_name(client) == "Bob"
        again = client.post(link, data={"csrf_token": csrf_token()})
        assert again.status_code == 404 and "already been used" in again.text

    def test_a_welsh_member_is_mailed_in_welsh_and_signs_in_by_it(
        self, client: FlaskClient, csrf_token: Callable[[], str], sessionmaker: SessionMaker[Session]
    ) -> None:
        with sessionmaker.begin() as session:
            welsh = user_by_email(session, "bob@example.org")
            assert welsh is not None
            welsh.language = "cy"
        self.ask(client, csrf_token, "bob@example.org")
        with sessionmaker() as session:
            [notice] = session.scalars(select(OutboxItem).where(OutboxItem.address == "bob@example.org"))
        assert notice.payload["subject"] == "Mewngofnodi i Listbridge"
        text = notice.payload["text"]
        assert text.startswith("Gofynnodd rhywun, chi mae'n debyg, am fewngofnodi i Listbridge fel bob@example.org.")
        assert "\nMewngofnodi: http://127.0.0.1:8080/signin/" in text and "15 munud" in text
        assert "Sign in" not in text and "link works" not in text
        done = client.post(mailed_link(sessionmaker, "bob@example.org"), data={"csrf_token": csrf_token()})
        assert done.status_code == 303 and signed_in_name(client) == "Bob"

    def test_unknown_address_gets_the_same_page_and_a_mail_without_a_link_to_sign_in(
        self, client: FlaskClient, csrf_token: Callable[[], str], sessionmaker: SessionMaker[Session]
    ) -> None:
        known = self.ask(client, csrf_token, "bob@example.org")
        unknown = self.ask(client, csrf_token, "nobody@example.org")
        assert known.replace("bob@example.org", "X") == unknown.replace("nobody@example.org", "X")
        with sessionmaker() as session:
            mails = {m.address: m.payload["text"] for m in session.scalars(select(OutboxItem))}
        assert sorted(mails) == ["bob@example.org", "nobody@example.org"]
        assert "/signin/" in mails["bob@example.org"] and "/signin/" not in mails["nobody@example.org"]

    def test_an_expired_link_is_refused(
        self, client: FlaskClient, site: Site, sessionmaker: SessionMaker[Session]
    ) -> None:
        user = bob(sessionmaker)
        token = site.signer.make("login", user.id, user.login_generation, ttl_seconds=-60)
        page = client.get(f"/signin/{token}")
        assert page.status_code == 404 and "expired" in page.text
        assert client.get("/signin/garbage").status_code == 404

    def test_the_sixth_link_in_an_hour_is_refused(
        self, client: FlaskClient, csrf_token: Callable[[], str], sessionmaker: SessionMaker[Session]
    ) -> None:
        for _ in range(5):
            self.ask(client, csrf_token, "bob@example.org")
        refused = client.post("/signin", data={"csrf_token": csrf_token(), "email": "bob@example.org"})
        assert refused.status_code == 429 and refused.headers["Retry-After"] == "3600"
        assert "Too many sign-in links" in refused.text
        with sessionmaker() as session:
            assert len(session.scalars(select(OutboxItem)).all()) == 5

    def test_tags_and_case_do_not_multiply_the_limit(
        self, client: FlaskClient, csrf_token: Callable[[], str], sessionmaker: SessionMaker[Session]
    ) -> None:
        for n in range(5):
            self.ask(client, csrf_token, "bob@example.org" if n == 0 else f"Bob+{n}@example.org")
        refused = client.post("/signin", data={"csrf_token": csrf_token(), "email": "bob+six@EXAMPLE.org"})
        assert refused.status_code == 429 and "Too many sign-in links" in refused.text
        refused = client.post("/signin", data={"csrf_token": csrf_token(), "email": "bob@example.org"})
        assert refused.status_code == 429

    def test_a_bad_address_is_shown_next_to_the_field(self, client: FlaskClient, csrf_token: Callable[[], str]) -> None:
        page = client.post("/signin", data={"csrf_token": csrf_token(), "email": "bob at home"})
        assert page.status_code == 400
        assert 'class="error-summary"' in page.text and 'href="#email"' in page.text
        assert 'aria-describedby="email-hint email-error"' in page.text
        assert 'id="email-error"' in page.text and "not a valid email address" in page.text

    def test_sign_out_needs_a_post_with_the_token(
        self,
        client: FlaskClient,
        csrf_token: Callable[[], str],
        sign_in: Callable[[int], None],
        sessionmaker: SessionMaker[Session],
    ) -> None:
        sign_in(bob(sessionmaker).id)
        assert client.post("/signout").status_code == 400
        assert signed_in_name(client) == "Bob"
        assert client.post("/signout", data={"csrf_token": csrf_token()}).status_code == 303
        assert signed_in_name(client) is None


def form_token(page: str) -> str:
    """The CSRF token of the (first) form on a page, as a browser sends it back."""
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    assert match, "no form with a CSRF token on the page"
    return match.group(1)


def signed_in_by_link(browser: FlaskClient, sessionmaker: SessionMaker[Session], address: str) -> None:
    """Sign ``browser`` in as a person does: ask for a link, open it, press the button."""
    asked = browser.post("/signin", data={"csrf_token": form_token(browser.get("/signin").text), "email": address})
    assert asked.status_code == 200
    link = mailed_link(sessionmaker, address)
    done = browser.post(link, data={"csrf_token": form_token(browser.get(link).text)})
    assert done.status_code == 303


class TestSessions:
    """Signing out ends a session on the server: a copy of the cookie signs nobody in."""

    def test_a_copied_cookie_stops_working_after_sign_out(
        self, app: Flask, sessionmaker: SessionMaker[Session]
    ) -> None:
        browser, thief = app.test_client(), app.test_client()
        signed_in_by_link(browser, sessionmaker, "bob@example.org")
        cookie = browser.get_cookie("listbridge_session")
        assert cookie is not None
        thief.set_cookie("listbridge_session", cookie.value)
        assert signed_in_name(thief) == "Bob"
        assert (
            browser.post("/signout", data={"csrf_token": form_token(browser.get("/account").text)}).status_code == 303
        )
        assert signed_in_name(browser) is None
        assert signed_in_name(thief) is None
        assert thief.get("/account").headers["Location"].startswith("/signin")

    def test_sign_out_everywhere_ends_another_browsers_session(
        self, app: Flask, sessionmaker: SessionMaker[Session]
    ) -> None:
        laptop, phone, ann = app.test_client(), app.test_client(), app.test_client()
        signed_in_by_link(laptop, sessionmaker, "bob@example.org")
        signed_in_by_link(phone, sessionmaker, "bob@example.org")
        signed_in_by_link(ann, sessionmaker, "ann@example.org")
        page = laptop.get("/account").text
        assert 'action="/account/signout-everywhere"' in page and "Sign out everywhere" in page
        token = form_token(phone.get("/account").text)
        done = phone.post("/account/signout-everywhere", data={"csrf_token": token})
        assert done.status_code == 303 and "every browser" in phone.get("/").text
        assert signed_in_name(laptop) is None and signed_in_name(phone) is None
        assert signed_in_name(ann) == "Ann"  # only Bob's sessions ended

    def test_signing_out_here_leaves_other_browsers_signed_in(
        self, app: Flask, sessionmaker: SessionMaker[Session]
    ) -> None:
        laptop, phone = app.test_client(), app.test_client()
        signed_in_by_link(laptop, sessionmaker, "bob@example.org")
        signed_in_by_link(phone, sessionmaker, "bob@example.org")
        laptop.post("/signout", data={"csrf_token": form_token(laptop.get("/account").text)})
        assert signed_in_name(laptop) is None and signed_in_name(phone) == "Bob"


@pytest.mark.parametrize(
    "target, expected",
    [
        ("/c/housing/t/3#post-9", "/c/housing/t/3#post-9"),
        ("/account?tab=emails", "/account?tab=emails"),
        ("https://evil.example/", "/"),
        ("//evil.example/", "/"),
        ("/\\evil.example/", "/"),
        ("\\\\evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("/\tevil", "/"),
        (" /c/housing/", "/"),
        ("", "/"),
        (None, "/"),
    ],
)
def test_next_is_a_path_on_this_site(target: str | None, expected: str) -> None:
    assert safe_next(target, "/") == expected


def test_sign_in_link_never_redirects_off_site(
    client: FlaskClient, csrf_token: Callable[[], str], site: Site, sessionmaker: SessionMaker[Session]
) -> None:
    user = bob(sessionmaker)
    token = site.signer.make("login", user.id, user.login_generation, ttl_seconds=600)
    done = client.post(f"/signin/{token}?next=//evil.example/x", data={"csrf_token": csrf_token()})
    assert done.status_code == 303 and urlsplit(done.headers["Location"]).netloc in ("", "localhost")
    assert done.headers["Location"] == "/"


class TestProfile:
    @pytest.fixture(autouse=True)
    def signed_in(self, sign_in: Callable[[int], None], sessionmaker: SessionMaker[Session]) -> None:
        sign_in(bob(sessionmaker).id)

    def test_signing_in_is_required(self, app: Flask) -> None:
        page = app.test_client().get("/account")
        assert page.status_code == 302 and page.headers["Location"].startswith("/signin?next=/account")

    def test_edits_are_saved(
        self, client: FlaskClient, csrf_token: Callable[[], str], sessionmaker: SessionMaker[Session]
    ) -> None:
        saved = client.post(
            "/account",
            data={
                "csrf_token": csrf_token(),
                "display_name": "Bob Surveyor",
                "timezone": "Europe/London",
                "digest_hour": "7",
            },
        )
        assert saved.status_code == 303
        user = bob(sessionmaker)
        assert (user.display_name, user.timezone, user.digest_hour) == ("Bob Surveyor", "Europe/London", 7)
        assert "Your profile is saved." in client.get("/account").text

    def test_plain_text_mail_is_chosen_and_shown_chosen(
        self, client: FlaskClient, csrf_token: Callable[[], str], sessionmaker: SessionMaker[Session]
    ) -> None:
        assert '<option selected value="both">' in client.get("/account").text, "HTML and text by default"
        form = {"csrf_token": csrf_token(), "display_name": "Bob", "mail_format": "plain"}
        assert client.post("/account", data=form).status_code == 303
        assert bob(sessionmaker).plain_text is True
        assert '<option selected value="plain">Plain text only</option>' in client.get("/account").text
        assert client.post("/account", data={**form, "mail_format": "both"}).status_code == 303
        assert bob(sessionmaker).plain_text is False

    def test_validation_errors_are_shown_next_to_their_fields(
        self, client: FlaskClient, csrf_token: Callable[[], str], sessionmaker: SessionMaker[Session]
    ) -> None:
        page = client.post(
            "/account",
            data={"csrf_token": csrf_token(), "display_name": "", "timezone": "Mars/Olympus", "digest_hour": "24"},
        )
        assert page.status_code == 400
        summary = page.text.split('class="error-summary"')[1].split("</div>")[0]
        for field in ("display_name", "timezone", "digest_hour"):
            assert f'href="#{field}"' in summary
            assert f'aria-describedby="{field}-hint {field}-error"' in page.text
        assert "Enter your name" in page.text and "Enter an hour from 0 to 23" in page.text
        assert "Mars/Olympus" in page.text  # what was typed is kept
        assert bob(sessionmaker).display_name == "Bob"

    def test_an_extra_address_is_added_once_proven(
        self, client: FlaskClient, csrf_token: Callable[[], str], sessionmaker: SessionMaker[Session]
    ) -> None:
        bob_id = bob(sessionmaker).id
        added = client.post("/account/emails", data={"csrf_token": csrf_token(), "email": "Bob@Home.example"})
        assert added.status_code == 303
        profile = client.get("/account").text
        assert "bob@home.example" in profile and "Waiting for you to follow the link" in profile
        link = mailed_link(sessionmaker, "bob@home.example")
        with sessionmaker() as session:
            assert user_by_email(session, "bob@home.example") is None
        assert "Add bob@home.example to the account of Bob" in client.get(link).text
        assert client.post(link, data={"csrf_token": csrf_token()}).status_code == 200
        addresses = addresses_of(sessionmaker, bob_id)
        assert addresses["bob@home.example"][1] is False
        assert client.post(link, data={"csrf_token": csrf_token()}).status_code == 404

        extra, first = addresses["bob@home.example"][0], addresses["bob@example.org"][0]
        assert client.post(f"/account/emails/{extra}/primary", data={"csrf_token": csrf_token()}).status_code == 303
        assert addresses_of(sessionmaker, bob_id) == {
            "bob@example.org": (first, False),
            "bob@home.example": (extra, True),
        }
        assert client.post(f"/account/emails/{first}/remove", data={"csrf_token": csrf_token()}).status_code == 303
        assert list(addresses_of(sessionmaker, bob_id)) == ["bob@home.example"]

    def test_removing_the_main_address_is_refused(
        self, client: FlaskClient, csrf_token: Callable[[], str], sessionmaker: SessionMaker[Session]
    ) -> None:
        bob_id = bob(sessionmaker).id
        [(main, _)] = addresses_of(sessionmaker, bob_id).values()
        client.post(f"/account/emails/{main}/remove", data={"csrf_token": csrf_token()})
        assert "make another address main before removing it" in client.get("/account").text
        assert list(addresses_of(sessionmaker, bob_id)) == ["bob@example.org"]

    def test_adding_an_address_already_on_the_account(self, client: FlaskClient, csrf_token: Callable[[], str]) -> None:
        page = client.post("/account/emails", data={"csrf_token": csrf_token(), "email": "bob@example.org"})
        assert page.status_code == 400 and "already on your account" in page.text
        assert 'aria-describedby="email-hint email-error"' in page.text


class TestUnsubscribe:
    """The URL every mail's List-Unsubscribe names (``mailgateway.outgoing.rendering``) must work."""

    def link(self, site: Site, sessionmaker: SessionMaker[Session], address: str = "bob@example.org") -> str:
        with sessionmaker() as session:
            community_id = community_by_slug(session, "housing").id
            user = user_by_email(session, address)
        assert user is not None
        url = rendering.unsubscribe_url(site, rendering.unsubscribe_token(site, user.id, community_id))
        return urlsplit(url).path

    def is_member(self, sessionmaker: SessionMaker[Session], address: str = "bob@example.org") -> bool:
        with sessionmaker() as session:
            return (
                membership_of(session, user_by_email(session, address), community_by_slug(session, "housing"))
                is not None
            )

    def test_the_last_facilitator_is_told_why_they_cannot_leave(
        self, app: Flask, client: FlaskClient, site: Site, sessionmaker: SessionMaker[Session]
    ) -> None:
        link = self.link(site, sessionmaker, "ann@example.org")
        page = client.get(link)
        assert page.status_code == 200 and "only facilitator of Housing" in page.text
        assert 'value="One-Click"' not in page.text, "no button that could only fail"
        assert 'href="/c/housing/manage/members"' in page.text
        refused = app.test_client(use_cookies=False).post(link, data={"List-Unsubscribe": "One-Click"})
        assert refused.status_code == 409 and "only facilitator of Housing" in refused.text
        assert self.is_member(sessionmaker, "ann@example.org")
        with sessionmaker.begin() as session:  # once Bob facilitates too, Ann may go
            session.get(
                Membership, membership_of(session, bob(sessionmaker), community_by_slug(session, "housing")).id
            ).role = Role.facilitator
        done = app.test_client(use_cookies=False).post(link, data={"List-Unsubscribe": "One-Click"})
        assert done.status_code == 200 and not self.is_member(sessionmaker, "ann@example.org")

    def test_a_leave_confirmed_by_link_keeps_the_last_facilitator(
        self, client: FlaskClient, site: Site, csrf_token: Callable[[], str], sessionmaker: SessionMaker[Session]
    ) -> None:
        bob_user = bob(sessionmaker)
        with sessionmaker.begin() as session:  # Ann asked by mail while Bob facilitated too ...
            housing = community_by_slug(session, "housing")
            bobs = membership_of(session, bob_user, housing)
            assert bobs is not None
            bobs.role = Role.facilitator
            token = subscriptions.ask(session, site, housing, "ann@example.org", subscriptions.UNSUBSCRIBE).token
        assert token is not None
        with sessionmaker.begin() as session:  # ... and Bob stepped down before she confirmed
            membership_of(session, bob_user, community_by_slug(session, "housing")).role = Role.member
        page = client.post(subscriptions.CONFIRM_PATH + token, data={"csrf_token": csrf_token()})
        assert page.status_code == 409 and "You are still a member of Housing" in page.text
        assert "only facilitator of Housing" in page.text
        assert self.is_member(sessionmaker, "ann@example.org")

    def test_the_last_facilitator_cannot_leave_on_the_membership_page(
        self,
        client: FlaskClient,
        csrf_token: Callable[[], str],
        sign_in: Callable[[int], None],
        sessionmaker: SessionMaker[Session],
    ) -> None:
        with sessionmaker() as session:
            ann = user_by_email(session, "ann@example.org")
        assert ann is not None
        sign_in(ann.id)
        done = client.post("/c/housing/membership", data={"csrf_token": csrf_token(), "action": "leave"})
        assert done.status_code == 303 and done.headers["Location"] == "/c/housing/membership"
        assert "only facilitator of Housing" in client.get("/c/housing/membership").text
        assert self.is_member(sessionmaker, "ann@example.org")

    def test_one_click_needs_no_cookie_and_no_csrf_token(
        self, app: Flask, site: Site, sessionmaker: SessionMaker[Session]
    ) -> None:
        provider = app.test_client(use_cookies=False)
        for _ in range(2):  # idempotent
            done = provider.post(self.link(site, sessionmaker), data={"List-Unsubscribe": "One-Click"})
            assert done.status_code == 200 and "You have left Housing" in done.text
            assert "Set-Cookie" not in done.headers
        assert not self.is_member(sessionmaker)

    def test_multipart_body_as_rfc_8058_allows(
        self, app: Flask, site: Site, sessionmaker: SessionMaker[Session]
    ) -> None:
        done = app.test_client(use_cookies=False).post(
            self.link(site, sessionmaker), data={"List-Unsubscribe": "One-Click"}, content_type="multipart/form-data"
        )
        assert done.status_code == 200 and not self.is_member(sessionmaker)

    def test_a_post_without_the_one_click_field_changes_nothing(
        self, client: FlaskClient, site: Site, sessionmaker: SessionMaker[Session]
    ) -> None:
        assert client.post(self.link(site, sessionmaker)).status_code == 400
        assert self.is_member(sessionmaker)

    def test_the_human_page_asks_first_and_offers_less_mail(
        self, client: FlaskClient, site: Site, sessionmaker: SessionMaker[Session]
    ) -> None:
        link = self.link(site, sessionmaker)
        page = client.get(link)
        assert page.status_code == 200 and self.is_member(sessionmaker)
        assert f'<form method="post" action="{link}">' in page.text
        assert 'name="List-Unsubscribe" value="One-Click"' in page.text
        assert 'href="/c/housing/membership"' in page.text
        client.post(link, data={"List-Unsubscribe": "One-Click"})
        assert "You are not a member of Housing" in client.get(link).text

    def test_a_bad_token_is_a_clear_404(
        self, client: FlaskClient, site: Site, sessionmaker: SessionMaker[Session]
    ) -> None:
        link = self.link(site, sessionmaker)
        for bad in (link[:-4], "/unsubscribe/" + site.signer.make("reply", bob(sessionmaker).id, 1)):
            page = client.get(bad)
            assert page.status_code == 404 and "This unsubscribe link does not work" in page.text
            assert client.post(bad, data={"List-Unsubscribe": "One-Click"}).status_code == 404
        assert self.is_member(sessionmaker)


class TestSecurity:
    @pytest.mark.parametrize(
        "path",
        [
            "/signin",
            "/signout",
            "/account",
            "/account/emails",
            "/c/housing/membership",
            "/c/housing/new",
            "/c/housing/manage/settings",
        ],
    )
    def test_a_post_without_a_csrf_token_is_refused(
        self, client: FlaskClient, sign_in: Callable[[int], None], sessionmaker: SessionMaker[Session], path: str
    ) -> None:
        sign_in(bob(sessionmaker).id)
        refused = client.post(path, data={"email": "bob@example.org", "action": "leave"})
        assert refused.status_code == 400 and "Please try again" in refused.text
        wrong = client.post(path, data={"csrf_token": "forged", "action": "leave"})
        assert wrong.status_code == 400
        with sessionmaker() as session:
            assert session.scalars(select(OutboxItem)).all() == []
        assert TestUnsubscribe().is_member(sessionmaker)

    def test_session_cookie_is_http_only_and_same_site(
        self, client: FlaskClient, csrf_token: Callable[[], str]
    ) -> None:
        csrf_token()
        cookie = client.get_cookie("listbridge_session")
        assert cookie is not None and cookie.http_only and cookie.same_site == "Lax" and not cookie.secure

    def test_session_cookie_is_secure_on_https(self, make_settings: Callable[..., Settings], engine: object) -> None:
        settings = make_settings(site={"base_url": "https://lists.example.org"})
        app = create_app(settings)
        try:
            page = app.test_client().get("/signin", base_url="https://lists.example.org")
            set_cookie = page.headers["Set-Cookie"]
            assert "Secure" in set_cookie and "HttpOnly" in set_cookie and "SameSite=Lax" in set_cookie
        finally:
            app.extensions["listbridge"].sessions.kw["bind"].dispose()
