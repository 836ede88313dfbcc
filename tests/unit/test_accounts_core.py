"""forum.accounts: sign-in links, proven addresses, rate limits and membership changes."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker as SessionMaker

from forum import accounts, tokens
from forum.access import membership_of, user_by_email
from forum.errors import InvalidInput, NotFound, NotPermitted, RateLimited
from forum.models import Delivery, MemberStatus, OutboxItem, PendingEmail, RateLimitHit, Role, User, utcnow
from forum.moderation import notify_held
from forum.posting import Draft, check_post, community_by_slug, submit_post
from forum.site import Site
from tests.support import make_community, make_member

BASE = "http://127.0.0.1:8080"


@pytest.fixture
def housing(sessionmaker: SessionMaker[Session]) -> None:
    """A public members-only community with Ann (facilitator) and Bob (member)."""
    with sessionmaker.begin() as session:
        community = make_community(session, "housing")
        make_member(session, community, "ann@example.org", role=Role.facilitator)
        make_member(session, community, "bob@example.org")


def user(session: Session, address: str) -> User:
    found = user_by_email(session, address)
    assert found is not None
    return found


def notices_to(session: Session, address: str) -> list[OutboxItem]:
    return list(session.scalars(select(OutboxItem).where(OutboxItem.address == address).order_by(OutboxItem.id)))


def link_in(item: OutboxItem, path: str) -> str:
    """The token of the link to BASE/path/TOKEN in a queued notice."""
    match = re.search(re.escape(f"{BASE}{path}/") + r"([a-z0-9]+)", item.payload["text"])
    assert match, item.payload["text"]
    return match.group(1)


@pytest.mark.usefixtures("housing")
class TestSignInLinks:
    def test_a_known_address_is_mailed_a_link_that_works_once(
        self, sessionmaker: SessionMaker[Session], site: Site
    ) -> None:
        with sessionmaker.begin() as session:
            accounts.request_sign_in(session, site, "Bob@Example.org", "198.51.100.7", "/c/housing/")
        with sessionmaker() as session:
            [notice] = notices_to(session, "bob@example.org")
        assert notice.payload["subject"] == "Sign in to Listbridge"
        assert "next=%2Fc%2Fhousing%2F" in notice.payload["text"]
        token = link_in(notice, "/signin")
        with sessionmaker() as session:  # looking (a GET, a mail scanner) does not use it up
            assert accounts.sign_in_link_user(session, site, token).display_name == "Bob"
            assert accounts.sign_in_link_user(session, site, token).display_name == "Bob"
        with sessionmaker.begin() as session:
            assert accounts.use_sign_in_link(session, site, token).display_name == "Bob"
        with sessionmaker.begin() as session, pytest.raises(NotFound, match="already been used"):
            accounts.use_sign_in_link(session, site, token)

    def test_using_one_link_retires_the_others(self, sessionmaker: SessionMaker[Session], site: Site) -> None:
        with sessionmaker.begin() as session:
            accounts.request_sign_in(session, site, "bob@example.org", "client")
            accounts.request_sign_in(session, site, "bob@example.org", "client")
        with sessionmaker() as session:
            first, second = (link_in(n, "/signin") for n in notices_to(session, "bob@example.org"))
        with sessionmaker.begin() as session:
            accounts.use_sign_in_link(session, site, second)
        with sessionmaker() as session, pytest.raises(NotFound, match="already been used"):
            accounts.sign_in_link_user(session, site, first)

    def test_an_unknown_address_is_told_it_has_no_account_and_gets_no_link(
        self, sessionmaker: SessionMaker[Session], site: Site
    ) -> None:
        with sessionmaker.begin() as session:
            accounts.request_sign_in(session, site, "nobody@example.org", "client")
        with sessionmaker() as session:
            [notice] = session.scalars(select(OutboxItem)).all()
        assert notice.address == "nobody@example.org" and notice.user_id is None
        assert "no account has that address" in notice.payload["text"] and "/signin/" not in notice.payload["text"]

    def test_expired_and_forged_links_are_refused(self, sessionmaker: SessionMaker[Session], site: Site) -> None:
        with sessionmaker() as session:
            bob = user(session, "bob@example.org")
            expired = site.signer.make(accounts.LOGIN, bob.id, bob.login_generation, ttl_seconds=-1)
            with pytest.raises(NotFound, match="expired"):
                accounts.sign_in_link_user(session, site, expired)
            other_purpose = site.signer.make(tokens.UNSUBSCRIBE, bob.id, 1)
            for bad in (other_purpose, "not-a-token", expired[:-3]):
                with pytest.raises(NotFound, match="not valid"):
                    accounts.sign_in_link_user(session, site, bad)


@pytest.mark.usefixtures("housing")
class TestRateLimits:
    def test_five_links_an_hour_per_address(self, sessionmaker: SessionMaker[Session], site: Site) -> None:
        for n in range(5):
            with sessionmaker.begin() as session:
                accounts.request_sign_in(session, site, "bob@example.org", f"client-{n}")
        with sessionmaker.begin() as session, pytest.raises(RateLimited) as refused:
            accounts.request_sign_in(session, site, "bob@example.org", "client-6")
        assert refused.value.http_status == 429
        with sessionmaker() as session:
            assert len(notices_to(session, "bob@example.org")) == 5

    def test_unknown_addresses_count_too(self, sessionmaker: SessionMaker[Session], site: Site) -> None:
        """Otherwise the limit would tell a known address (limited) from an unknown one (never)."""
        for _ in range(5):
            with sessionmaker.begin() as session:
                accounts.request_sign_in(session, site, "nobody@example.org", "client")
        with sessionmaker.begin() as session, pytest.raises(RateLimited):
            accounts.request_sign_in(session, site, "nobody@example.org", "client")

    def test_per_client_limit_covers_many_addresses(self, sessionmaker: SessionMaker[Session], site: Site) -> None:
        limit = accounts.SIGN_IN_PER_CLIENT.count
        for n in range(limit):
            with sessionmaker.begin() as session:
                accounts.request_sign_in(session, site, f"person{n}@example.org", "203.0.113.9")
        with sessionmaker.begin() as session, pytest.raises(RateLimited):
            accounts.request_sign_in(session, site, "bob@example.org", "203.0.113.9")
        with sessionmaker.begin() as session:  # another client is not affected
            accounts.request_sign_in(session, site, "bob@example.org", "198.51.100.1")

    def test_old_events_expire_and_keys_are_not_stored_in_clear(
        self, sessionmaker: SessionMaker[Session], site: Site
    ) -> None:
        for _ in range(5):
            with sessionmaker.begin() as session:
                accounts.request_sign_in(session, site, "bob@example.org", "client")
        with sessionmaker.begin() as session:
            for hit in session.scalars(select(RateLimitHit)):
                assert "bob" not in hit.key and "client" not in hit.key
                hit.created_at = utcnow() - timedelta(hours=1, minutes=1)
        with sessionmaker.begin() as session:
            accounts.request_sign_in(session, site, "bob@example.org", "client")
        with sessionmaker() as session:  # the expired events were deleted on the way
            assert len(session.scalars(select(RateLimitHit)).all()) == 3  # per address, client, site


@pytest.mark.usefixtures("housing")
class TestExtraAddresses:
    def claim(self, sessionmaker: SessionMaker[Session], site: Site, owner: str, address: str) -> str:
        with sessionmaker.begin() as session:
            accounts.claim_email(session, site, user(session, owner), address)
        with sessionmaker() as session:
            return link_in(notices_to(session, address)[-1], "/account/emails/verify")

    def test_an_unproven_address_does_not_let_anyone_post_as_the_user(
        self, sessionmaker: SessionMaker[Session], site: Site
    ) -> None:
        token = self.claim(sessionmaker, site, "bob@example.org", "bob@home.example")
        with sessionmaker() as session:
            assert user_by_email(session, "bob@home.example") is None
            assert check_post(session, community_by_slug(session, "housing"), "bob@home.example").refused
        with sessionmaker.begin() as session:
            added = accounts.verify_email(session, site, token)
            assert (added.verified, added.is_primary) == (True, False)
        with sessionmaker() as session:
            assert user(session, "bob@home.example").display_name == "Bob"
            assert not check_post(session, community_by_slug(session, "housing"), "bob@home.example").refused
            assert session.scalars(select(PendingEmail)).all() == []
        with sessionmaker.begin() as session, pytest.raises(NotFound, match="already been used"):
            accounts.verify_email(session, site, token)

    def test_claiming_someone_elses_address_gains_nothing(
        self, sessionmaker: SessionMaker[Session], site: Site
    ) -> None:
        token = self.claim(sessionmaker, site, "bob@example.org", "ann@example.org")  # no error: no probing
        with sessionmaker.begin() as session, pytest.raises(InvalidInput, match="another account"):
            accounts.verify_email(session, site, token)
        with sessionmaker() as session:
            assert user(session, "ann@example.org").display_name == "Ann"

    def test_own_address_and_bad_address_are_refused(self, sessionmaker: SessionMaker[Session], site: Site) -> None:
        with sessionmaker.begin() as session:
            bob = user(session, "bob@example.org")
            with pytest.raises(InvalidInput, match="already on your account"):
                accounts.claim_email(session, site, bob, "BOB@example.org")
            with pytest.raises(InvalidInput, match="not a valid email address"):
                accounts.claim_email(session, site, bob, "bob at home")

    def test_primary_can_move_and_only_extra_addresses_can_go(
        self, sessionmaker: SessionMaker[Session], site: Site
    ) -> None:
        with sessionmaker.begin() as session:
            accounts.verify_email(session, site, self.claim(sessionmaker, site, "bob@example.org", "b@home.example"))
        with sessionmaker.begin() as session:
            bob = user(session, "bob@example.org")
            first, extra = bob.emails
            with pytest.raises(InvalidInput, match="main address"):
                accounts.remove_email(session, bob, first.id)
            accounts.make_primary(session, bob, extra.id)
            assert [e.is_primary for e in bob.emails] == [False, True]
            assert accounts.remove_email(session, bob, first.id) == "bob@example.org"
        with sessionmaker() as session:
            assert user_by_email(session, "bob@example.org") is None
            ann = user(session, "ann@example.org")
            with pytest.raises(NotFound):
                accounts.make_primary(session, ann, extra.id)  # not hers


@pytest.mark.usefixtures("housing")
class TestMembership:
    def test_public_joins_at_once_restricted_by_request_private_not_at_all(
        self, sessionmaker: SessionMaker[Session], site: Site
    ) -> None:
        with sessionmaker.begin() as session:
            make_community(session, "board", private=True)
            make_community(session, "lounge", visibility="restricted")
            make_member(session, community_by_slug(session, "housing"), "cem@example.org")
        with sessionmaker.begin() as session:
            cem, housing = user(session, "cem@example.org"), community_by_slug(session, "housing")
            accounts.leave(session, cem, housing)
            assert accounts.join(session, site, cem, housing).status is MemberStatus.active
            with pytest.raises(InvalidInput, match="takes new members by request"):
                accounts.join(session, site, cem, community_by_slug(session, "lounge"))
            with pytest.raises(NotFound, match="no such community"):
                accounts.join(session, site, cem, community_by_slug(session, "board"))
            assert membership_of(session, cem, community_by_slug(session, "board")) is None

    def test_leaving_is_idempotent_and_never_lifts_a_ban(self, sessionmaker: SessionMaker[Session], site: Site) -> None:
        with sessionmaker.begin() as session:
            housing = community_by_slug(session, "housing")
            make_member(session, housing, "eve@example.org", status=MemberStatus.banned)
        with sessionmaker.begin() as session:
            bob, eve = user(session, "bob@example.org"), user(session, "eve@example.org")
            housing = community_by_slug(session, "housing")
            accounts.leave(session, bob, housing)
            accounts.leave(session, bob, housing)
            accounts.leave(session, eve, housing)
            assert membership_of(session, bob, housing) is None
            banned = membership_of(session, eve, housing)
            assert banned is not None and (banned.status, banned.delivery) == (MemberStatus.banned, Delivery.none)
            with pytest.raises(NotPermitted):
                accounts.join(session, site, eve, housing)

    def test_unsubscribe_token_leaves_that_community(self, sessionmaker: SessionMaker[Session], site: Site) -> None:
        with sessionmaker() as session:
            bob, housing = user(session, "bob@example.org"), community_by_slug(session, "housing")
        token = site.signer.make(tokens.UNSUBSCRIBE, bob.id, housing.id)
        for _ in range(2):
            with sessionmaker.begin() as session:
                assert accounts.unsubscribe(session, site, token).slug == "housing"
        with sessionmaker() as session:
            assert membership_of(session, bob, housing) is None
            with pytest.raises(NotFound, match="not valid"):
                accounts.unsubscribe(session, site, site.signer.make(tokens.REPLY, bob.id, housing.id))

    def test_a_community_keeps_a_facilitator(self, sessionmaker: SessionMaker[Session]) -> None:
        with sessionmaker.begin() as session:
            housing = community_by_slug(session, "housing")
            ann, bob = user(session, "ann@example.org"), user(session, "bob@example.org")
            for refused in (
                lambda: accounts.set_role(session, housing, ann.id, Role.member),
                lambda: accounts.remove_member(session, housing, ann.id),
            ):
                with pytest.raises(InvalidInput, match="at least one facilitator"):
                    refused()
            accounts.set_role(session, housing, bob.id, Role.facilitator)
            accounts.set_role(session, housing, ann.id, Role.moderator)
            accounts.remove_member(session, housing, ann.id)
            with pytest.raises(NotFound):
                accounts.approve_member(session, housing, ann.id)


def test_time_zones_are_checked_against_the_system_database() -> None:
    assert accounts.check_timezone(" Europe/London ") == "Europe/London"
    for bad in ("Mars/Olympus", "../etc/passwd", "GMT+25"):
        with pytest.raises(InvalidInput, match="not a time zone"):
            accounts.check_timezone(bad)


def test_facilitators_are_sent_to_the_web_queue(sessionmaker: SessionMaker[Session], site: Site) -> None:
    with sessionmaker.begin() as session:
        community = make_community(session, "housing", policy="moderated")
        make_member(session, community, "ann@example.org", role=Role.facilitator)
        make_member(session, community, "bob@example.org")
        outcome = submit_post(
            session, Draft(community="housing", author_email="bob@example.org", subject="Damp", body="Advice?"), site
        )
        notify_held(session, site, outcome.post)
    with sessionmaker() as session:
        [notice] = notices_to(session, "ann@example.org")
    assert f"Or approve or reject it on the web: {BASE}/c/housing/manage/held" in notice.payload["text"]
    assert "reply to this email with the word approve" in notice.payload["text"]
    assert notice.payload["reply_to"].startswith("housing-moderate+")
    assert "listbridge held" not in notice.payload["text"]
