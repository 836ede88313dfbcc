"""The private reply relay through the gateway's own steps: who may write, what is passed
on, silence towards machines and the hourly limit per member."""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from forum import outbox, private_replies
from forum.access import user_by_email
from forum.directory import member_row, upsert_members
from forum.models import OutboxItem, Role
from forum.posting import Draft, community_by_slug, submit_post
from forum.site import Site
from mailgateway.incoming import private_relay
from tests.support import make_community, make_member, through_the_gateway

DOMAIN = "lists.example.org"
ALICE, BOB = "alice@council.example", "bob@council.example"
_ids = itertools.count(1)


def send(site: Site, sessionmaker: sessionmaker[Session], to: str, sender: str = BOB, extra: str = "") -> list[str]:
    raw = (
        f"From: Bob Example <{sender}>\r\nTo: {to}\r\nSubject: Re: Damp\r\n"
        f"Message-ID: <r{next(_ids)}@council.example>\r\n{extra}\r\nCall me about the damp.\r\n"
    ).encode()
    reply, outcomes = through_the_gateway(site, sessionmaker, raw, sender, to)
    return outcomes if reply.code == 250 else [reply.line]


def queued(sessionmaker: sessionmaker[Session], address: str) -> list[dict]:
    with sessionmaker() as session:
        return [
            row.payload
            for row in session.scalars(
                select(OutboxItem)
                .where(OutboxItem.address == address, OutboxItem.kind == outbox.NOTICE_EMAIL)
                .order_by(OutboxItem.id)
            )
        ]


@pytest.fixture
def relay(site: Site, sessionmaker: sessionmaker[Session]) -> str:
    """Alice posted in Housing, where Bob is a member too: the relay address of her post."""
    with sessionmaker.begin() as session:
        housing = make_community(session, "housing")
        make_member(session, housing, ALICE, role=Role.facilitator)
        make_member(session, housing, BOB)
        post = submit_post(
            session, Draft(community="housing", author_email=ALICE, subject="Damp", body="Advice on damp?"), site
        ).post
        return private_replies.post_address(site.signer, "housing", DOMAIN, post.id)


def test_a_member_reaches_the_author_and_only_the_text_travels(
    site: Site, sessionmaker: sessionmaker[Session], relay: str
) -> None:
    assert "relayed" in send(site, sessionmaker, relay)[0]
    [passed] = queued(sessionmaker, ALICE)
    assert passed["from_address"].startswith("housing-private+") and "reply_to" not in passed
    assert "Call me about the damp." in passed["text"] and BOB not in str(passed)
    assert "in_reply_to" not in passed, "the writer's Message-ID (their domain) is not passed on"


def test_machines_are_not_relayed_and_a_member_sends_at_most_so_many_an_hour(
    site: Site, sessionmaker: sessionmaker[Session], relay: str
) -> None:
    assert "Dropped" in send(site, sessionmaker, relay, extra="Auto-Submitted: auto-replied\r\n")[0]
    assert queued(sessionmaker, ALICE) == [] and queued(sessionmaker, BOB) == []
    limit = private_relay.RELAYED.count
    outcomes = [send(site, sessionmaker, relay)[0] for _ in range(limit + 2)]
    assert sum("relayed to" in o for o in outcomes) == limit
    assert all("too many this hour" in o for o in outcomes[limit:])
    assert len(queued(sessionmaker, ALICE)) == limit
    told = queued(sessionmaker, BOB)
    assert len(told) == 2 and "was not passed on" in told[0]["text"]


def test_an_address_shown_by_choice_is_the_reply_to(
    site: Site, sessionmaker: sessionmaker[Session], relay: str
) -> None:
    with sessionmaker.begin() as session:
        upsert_members(session, community_by_slug(session, "housing"), [member_row(BOB, show_address=True)])
    send(site, sessionmaker, relay)
    assert queued(sessionmaker, ALICE)[0]["reply_to"] == BOB


def test_our_note_is_in_the_recipients_language(site: Site, sessionmaker: sessionmaker[Session], relay: str) -> None:
    with sessionmaker.begin() as session:
        alice = user_by_email(session, ALICE)
        assert alice is not None
        alice.language = "cy"
    send(site, sessionmaker, relay)
    [passed] = queued(sessionmaker, ALICE)
    assert passed["text"].startswith("Call me about the damp.\n\n-- \n"), "what Bob wrote, as he wrote it"
    assert passed["text"].endswith(
        "Ysgrifennodd Bob atoch yn breifat drwy Housing. Atebwch i ymateb i Bob "
        "(ni ddangosir eich cyfeiriad chi iddyn nhw, na'u cyfeiriad nhw i chi).\n"
    )
