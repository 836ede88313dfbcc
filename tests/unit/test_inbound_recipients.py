"""One message makes at most one post in a community, whatever its envelope says: the
same address many times, in another case, or beside a reply address of the community."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from forum.models import OutboxItem, Post
from forum.posting import Draft, submit_post
from forum.site import Site
from mailgateway.addresses import reply_address
from mailgateway.incoming import processing, spooling
from tests.support import make_community, make_member

DOMAIN = "lists.example.org"
ANN, BOB = "ann@council.example", "bob@council.example"


def deliver(site: Site, sessionmaker: sessionmaker[Session], sender: str, rcpts: list[str]) -> list[str]:
    raw = (
        f"From: {sender}\r\nTo: housing@{DOMAIN}\r\nSubject: Damp in flats\r\n\r\n"
        "Has anyone treated damp in 1960s flats?\r\n"
    ).encode()  # no Message-ID to tell copies apart
    with sessionmaker.begin() as session:
        inbound_id = spooling.spool(session, raw, sender, rcpts, "smtp")
    with sessionmaker.begin() as session:
        return processing.process(session, site, inbound_id)


def test_every_form_of_a_communitys_address_makes_one_post(site: Site, sessionmaker: sessionmaker[Session]) -> None:
    with sessionmaker.begin() as session:
        housing = make_community(session, "housing")
        make_member(session, housing, ANN)
        bob = make_member(session, housing, BOB).user_id
        earlier = submit_post(
            session, Draft(community="housing", author_email=ANN, subject="Hello", body="Hello all."), site
        ).post
        token = reply_address(site.signer, "housing", DOMAIN, bob, earlier.id)
    rcpts = [f"housing@{DOMAIN}"] * 3 + [f"HOUSING@{DOMAIN}", token]
    outcomes = deliver(site, sessionmaker, BOB, rcpts)
    assert "posted as" in outcomes[0]
    assert all(f"repeats housing@{DOMAIN}, done once" in o for o in outcomes[1:]), outcomes
    with sessionmaker() as session:
        assert session.scalar(select(func.count()).select_from(Post)) == 2


def test_a_repeated_command_is_done_once(site: Site, sessionmaker: sessionmaker[Session]) -> None:
    with sessionmaker.begin() as session:
        make_community(session, "housing")
    outcomes = deliver(site, sessionmaker, "newbie@elsewhere.example", [f"housing-subscribe@{DOMAIN}"] * 5)
    assert "confirmation sent" in outcomes[0] and all("done once" in o for o in outcomes[1:])
    with sessionmaker() as session:
        assert (
            session.scalar(
                select(func.count()).select_from(OutboxItem).where(OutboxItem.address == "newbie@elsewhere.example")
            )
            == 1
        )
