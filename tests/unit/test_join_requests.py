"""The rules of asking to join and of invitations, in the core, without a channel."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker as SessionMaker

from forum import invitations, join_requests
from forum.access import membership_of, user_by_email
from forum.errors import InvalidInput, NotFound, NotPermitted
from forum.models import Delivery, MemberStatus, OutboxItem, RequestStatus, Role, User
from forum.posting import community_by_slug
from forum.site import Site
from tests.support import make_community, make_member


@pytest.mark.parametrize(
    ("text", "word"),
    [
        ("approve", True),
        ("Approve.\n\nWelcome!", True),
        ("\n\n  APPROVED thanks", True),
        ("Cymeradwyo", True),
        ("decline: not a council officer", False),
        ("Gwrthod", False),
        ("> approve\nmaybe later", None),
        ("I approve", None),
        ("No problem, I will look tomorrow", None),
        ("", None),
    ],
)
def test_the_first_word_that_is_not_quoted_decides(text: str, word: bool | None) -> None:
    assert join_requests.reply_word(text) is word


def test_what_follows_the_word_is_the_message_and_the_quote_is_not() -> None:
    text = "Approve. Welcome, Bob.\nSee you on Tuesday.\n\n> Bob asks to join Lounge.\n> Their reason: …\n"
    assert join_requests.reply_message(text) == "Welcome, Bob.\nSee you on Tuesday."
    assert join_requests.reply_message("decline") == ""


@pytest.fixture
def lounge(sessionmaker: SessionMaker[Session]) -> None:
    with sessionmaker.begin() as session:
        lounge = make_community(session, "lounge", visibility="restricted")
        make_member(session, lounge, "ann@example.org", role=Role.facilitator).user.language = "cy"
        make_member(session, lounge, "fay@example.org", role=Role.facilitator)
        make_member(session, make_community(session, "housing"), "cem@example.org")
        make_community(session, "board", private=True)


def user(session: Session, address: str) -> User:
    found = user_by_email(session, address)
    assert found is not None
    return found


def notices_to(session: Session, address: str) -> list[OutboxItem]:
    return list(session.scalars(select(OutboxItem).where(OutboxItem.address == address).order_by(OutboxItem.id)))


@pytest.mark.usefixtures("lounge")
class TestRequests:
    def test_each_facilitator_hears_in_their_language_with_the_reason(
        self, sessionmaker: SessionMaker[Session], site: Site
    ) -> None:
        with sessionmaker.begin() as session:
            lounge = community_by_slug(session, "lounge")
            first = join_requests.ask(session, site, lounge, user(session, "cem@example.org"), "Warden in Rhyl.")
            again = join_requests.ask(
                session, site, lounge, user(session, "cem@example.org"), "Warden in Rhyl and Prestatyn."
            )
            assert again.id == first.id and again.reason == "Warden in Rhyl and Prestatyn."
        with sessionmaker() as session:
            [welsh], [english] = notices_to(session, "ann@example.org")[:1], notices_to(session, "fay@example.org")[:1]
        assert welsh.payload["subject"] == "[Lounge] Mae Cem yn gofyn am gael ymuno"
        assert "Warden in Rhyl." in welsh.payload["text"] and "Eu rheswm" in welsh.payload["text"]
        assert english.payload["subject"] == "[Lounge] Cem asks to join"
        assert "Their reason: Warden in Rhyl." in english.payload["text"]
        assert "/c/lounge/manage/requests?lang=cy" in welsh.payload["text"], "the link opens the page in Welsh"
        assert "/c/lounge/manage/requests\n" in english.payload["text"]
        assert welsh.payload["reply_to"] != english.payload["reply_to"], "each reply address names its facilitator"

    def test_only_a_facilitator_decides_and_only_once(self, sessionmaker: SessionMaker[Session], site: Site) -> None:
        with sessionmaker.begin() as session:
            lounge = community_by_slug(session, "lounge")
            cem = user(session, "cem@example.org")
            asked = join_requests.ask(session, site, lounge, cem, "Please.", Delivery.weekly)
            with pytest.raises(NotPermitted):
                join_requests.decide(session, site, asked, cem, approve=True)
            join_requests.decide(session, site, asked, user(session, "fay@example.org"), approve=True)
            assert asked.status is RequestStatus.approved
            membership = membership_of(session, cem, lounge)
            assert membership is not None and (membership.status, membership.delivery) == (
                MemberStatus.active,
                Delivery.weekly,
            )
            with pytest.raises(InvalidInput, match="already been approved"):
                join_requests.decide(session, site, asked, user(session, "ann@example.org"), approve=False)
            with pytest.raises(InvalidInput, match="already a member"):
                join_requests.ask(session, site, lounge, cem, "Again.")

    def test_public_and_private_communities_take_no_requests(
        self, sessionmaker: SessionMaker[Session], site: Site
    ) -> None:
        with sessionmaker.begin() as session:
            cem = user(session, "cem@example.org")
            with pytest.raises(InvalidInput, match="open to everyone"):
                join_requests.ask(session, site, community_by_slug(session, "housing"), cem, "Hi.")
            with pytest.raises(NotFound, match='no community "board"'):
                join_requests.ask(session, site, community_by_slug(session, "board"), cem, "Hi.")


@pytest.mark.usefixtures("lounge")
class TestInvitations:
    def test_read_csv_names_every_bad_row(self) -> None:
        with pytest.raises(InvalidInput) as refused:
            invitations.read_csv("email,name\nok@example.org,Ok\nnope,X\n\nalso-nope,Y\n")
        assert "row 3" in refused.value.message and "row 5" in refused.value.message
        with pytest.raises(InvalidInput, match='"email" column'):
            invitations.read_csv("address\nok@example.org\n")
        assert invitations.read_csv("\ufeffEmail,Name\nOK@Example.org,Ok\n") == [
            invitations.Invitee("ok@example.org", "Ok")
        ]

    def test_inviting_twice_sends_once_and_members_are_left_alone(
        self, sessionmaker: SessionMaker[Session], site: Site
    ) -> None:
        people = [invitations.Invitee("new@example.org"), invitations.Invitee("ann@example.org")]
        with sessionmaker.begin() as session:
            board = community_by_slug(session, "lounge")
            first = invitations.invite(session, site, board, people)
            second = invitations.invite(session, site, board, people)
        assert (first.sent, first.already_members) == (["new@example.org"], ["ann@example.org"])
        assert (second.sent, second.already_invited) == ([], ["new@example.org"])
        with sessionmaker() as session:
            assert len(notices_to(session, "new@example.org")) == 1
        with sessionmaker.begin() as session, pytest.raises(InvalidInput, match="1 to 90 days"):
            invitations.invite(session, site, community_by_slug(session, "lounge"), people, days=0)
