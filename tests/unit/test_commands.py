"""Email commands through the gateway's own steps: joining and leaving with a confirming
reply, private communities' queue, help, rate limits and silence towards machines."""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from forum.errors import NotFound
from forum.models import Community, Membership, MemberStatus, OutboxItem, Role, UserEmail
from forum.site import Site
from mailgateway.incoming import judging, processing, recipients, spooling
from tests.support import make_community, make_member, through_the_gateway

DOMAIN = "lists.example.org"
_ids = itertools.count(1)


def send(
    site: Site,
    sessionmaker: sessionmaker[Session],
    to: str,
    sender: str = "newbie@elsewhere.example",
    extra: str = "",
    body: str = "please",
) -> list[str]:
    raw = (
        f"From: New Bie <{sender}>\r\nTo: {to}\r\nSubject: hello\r\nMessage-ID: <c{next(_ids)}@elsewhere.example>\r\n"
        f"{extra}\r\n{body}\r\n"
    ).encode()
    reply, outcomes = through_the_gateway(site, sessionmaker, raw, sender, to)
    assert reply.code == 250, reply.line
    return outcomes


def notices(sessionmaker: sessionmaker[Session], address: str) -> list[dict]:
    with sessionmaker() as session:
        return [
            row.payload
            for row in session.scalars(select(OutboxItem).where(OutboxItem.address == address).order_by(OutboxItem.id))
        ]


def status(sessionmaker: sessionmaker[Session], slug: str, address: str) -> MemberStatus | None:
    with sessionmaker() as session:
        return session.scalar(
            select(Membership.status)
            .join(Community)
            .join(UserEmail, UserEmail.user_id == Membership.user_id)
            .where(Community.slug == slug, UserEmail.email == address)
        )


@pytest.fixture
def communities(sessionmaker: sessionmaker[Session]) -> None:
    with sessionmaker.begin() as session:
        make_community(session, "housing")
        private = make_community(session, "officers", private=True)
        make_member(session, private, "fiona@council.example", role=Role.facilitator)


def test_subscribe_asks_for_a_reply_and_any_reply_confirms(
    site: Site, sessionmaker: sessionmaker[Session], communities: None
) -> None:
    assert "confirmation sent" in send(site, sessionmaker, f"housing-subscribe@{DOMAIN}")[0]
    [ask] = notices(sessionmaker, "newbie@elsewhere.example")
    confirm_to = ask["reply_to"]
    assert confirm_to.startswith("housing-confirm+") and confirm_to.endswith(f"@{DOMAIN}")
    assert "/confirm/" in ask["text"] and ask["in_reply_to"], "a web link too; an auto-reply to the request"
    assert status(sessionmaker, "housing", "newbie@elsewhere.example") is None, "nothing before the confirmation"

    outcome = send(site, sessionmaker, confirm_to, body="> Someone, probably you, asked ...\r\nyes!")
    assert "joined housing" in outcome[0]
    assert status(sessionmaker, "housing", "newbie@elsewhere.example") is MemberStatus.active
    assert "Welcome" in notices(sessionmaker, "newbie@elsewhere.example")[-1]["text"]
    with sessionmaker() as session:
        with pytest.raises(NotFound, match="already been used"):
            recipients.check_recipient(session, site, confirm_to)
        with pytest.raises(NotFound, match="not valid"):
            recipients.check_recipient(session, site, f"housing-confirm+aaaabbbbccccdddd@{DOMAIN}")

    assert "confirmation sent" in send(site, sessionmaker, f"housing-unsubscribe@{DOMAIN}")[0]
    leave_to = notices(sessionmaker, "newbie@elsewhere.example")[-1]["reply_to"]
    assert "left housing" in send(site, sessionmaker, leave_to)[0]
    assert status(sessionmaker, "housing", "newbie@elsewhere.example") is None


def test_a_private_community_is_unknown_to_a_stranger_at_every_command_address(
    site: Site, sessionmaker: sessionmaker[Session], communities: None
) -> None:
    raw = b"From: New Bie <newbie@elsewhere.example>\r\nSubject: join\r\nMessage-ID: <p1@elsewhere.example>\r\n\r\nplease\r\n"
    with sessionmaker() as session:
        for form in ("subscribe", "unsubscribe", "request", "owner"):
            [private] = judging.judge(session, site, raw, "newbie@elsewhere.example", [f"officers-{form}@{DOMAIN}"])
            [missing] = judging.judge(session, site, raw, "newbie@elsewhere.example", [f"nosuch-{form}@{DOMAIN}"])
            assert private.line == missing.line.replace("nosuch", "officers")
            assert private.line == '550 5.1.1 there is no community "officers" here'
    assert notices(sessionmaker, "newbie@elsewhere.example") == [], "nothing mailed back"
    assert (
        "nothing to do (member)"
        in send(site, sessionmaker, f"officers-subscribe@{DOMAIN}", sender="fiona@council.example")[0]
    ), "a member still gets through"


def test_nothing_to_do_is_said_plainly(site: Site, sessionmaker: sessionmaker[Session], communities: None) -> None:
    assert "nothing to do" in send(site, sessionmaker, f"housing-unsubscribe@{DOMAIN}")[0]
    assert "is not a member" in notices(sessionmaker, "newbie@elsewhere.example")[0]["text"]


def test_request_answers_help(site: Site, sessionmaker: sessionmaker[Session], communities: None) -> None:
    assert "help sent" in send(site, sessionmaker, f"housing-request@{DOMAIN}", body="help")[0]
    [help_] = notices(sessionmaker, "newbie@elsewhere.example")
    assert f"housing-subscribe@{DOMAIN}" in help_["text"] and f"housing-owner@{DOMAIN}" in help_["text"]


def test_machines_get_no_answer_and_people_at_most_five_an_hour(
    site: Site, sessionmaker: sessionmaker[Session], communities: None
) -> None:
    outcome = send(site, sessionmaker, f"housing-request@{DOMAIN}", extra="Auto-Submitted: auto-replied\r\n")
    assert "Dropped" in outcome[0]
    assert notices(sessionmaker, "newbie@elsewhere.example") == []
    outcomes = [send(site, sessionmaker, f"housing-request@{DOMAIN}")[0] for _ in range(3)]
    # Tags and case name the same mailbox: they share its allowance.
    outcomes += [
        send(site, sessionmaker, f"housing-request@{DOMAIN}", sender=f"NewBie+{n}@elsewhere.example")[0]
        for n in range(4)
    ]
    assert sum("help sent" in o for o in outcomes) == 5
    assert "too many answers" in outcomes[-1]
    assert len(notices(sessionmaker, "newbie@elsewhere.example")) == 3


def test_the_last_facilitator_cannot_leave_by_email_and_is_told_why(
    site: Site, sessionmaker: sessionmaker[Session], communities: None
) -> None:
    fiona = "fiona@council.example"
    outcome = send(site, sessionmaker, f"officers-unsubscribe@{DOMAIN}", sender=fiona)
    assert "refused" in outcome[0]
    [answer] = notices(sessionmaker, fiona)
    assert "reply_to" not in answer, "no confirmation to send: it could only be refused"
    assert "only facilitator of Officers" in answer["text"] and "still a member" in answer["text"]
    assert status(sessionmaker, "officers", fiona) is MemberStatus.active

    # With a second facilitator she may ask; if he steps down before she confirms, she stays.
    with sessionmaker.begin() as session:
        gus = make_member(
            session,
            session.scalars(select(Community).where(Community.slug == "officers")).one(),
            "gus@council.example",
            role=Role.facilitator,
        )
    assert "confirmation sent" in send(site, sessionmaker, f"officers-unsubscribe@{DOMAIN}", sender=fiona)[0]
    confirm_to = notices(sessionmaker, fiona)[-1]["reply_to"]
    with sessionmaker.begin() as session:
        session.get(Membership, gus.id).role = Role.member
    assert "did not leave officers" in send(site, sessionmaker, confirm_to, sender=fiona)[0]
    assert "only facilitator of Officers" in notices(sessionmaker, fiona)[-1]["text"]
    assert status(sessionmaker, "officers", fiona) is MemberStatus.active


def test_answers_are_in_the_members_language_else_the_communitys(
    site: Site, sessionmaker: sessionmaker[Session], communities: None
) -> None:
    with sessionmaker.begin() as session:
        housing = session.scalar(select(Community).where(Community.slug == "housing"))
        assert housing is not None
        make_member(session, housing, "bethan@council.example").user.language = "cy"
        make_community(session, "tai").language = "cy"

    assert "confirmation sent" in send(site, sessionmaker, f"housing-unsubscribe@{DOMAIN}", "bethan@council.example")[0]
    [ask] = notices(sessionmaker, "bethan@council.example")
    assert ask["subject"] == "Cadarnhau: gadael Housing"
    assert ask["text"].startswith("Gofynnodd rhywun, chi mae'n debyg, i bethan@council.example adael Housing.")
    assert "/confirm/" in ask["text"] and "Daw'r cais i ben ymhen 7 diwrnod." in ask["text"]
    assert "left housing" in send(site, sessionmaker, ask["reply_to"], "bethan@council.example")[0]
    assert notices(sessionmaker, "bethan@council.example")[-1]["subject"] == "Housing: wedi'i wneud"

    send(site, sessionmaker, f"tai-request@{DOMAIN}")  # a stranger: the community's language
    [help_] = notices(sessionmaker, "newbie@elsewhere.example")
    assert help_["subject"] == "Tai: Sut i gymryd rhan"
    assert f"  Postio at bawb:             tai@{DOMAIN}\n" in help_["text"] and "Post to everyone" not in help_["text"]
    send(site, sessionmaker, f"housing-request@{DOMAIN}")  # an English community
    assert notices(sessionmaker, "newbie@elsewhere.example")[-1]["subject"] == "Housing: How to take part"


def test_mail_to_the_facilitators_reaches_each_in_their_language(
    site: Site, sessionmaker: sessionmaker[Session], communities: None
) -> None:
    with sessionmaker.begin() as session:
        housing = session.scalar(select(Community).where(Community.slug == "housing"))
        assert housing is not None
        make_member(session, housing, "gwen@council.example", role=Role.facilitator).user.language = "cy"
        make_member(session, housing, "hal@council.example", role=Role.facilitator)
    assert "forwarded to 2" in send(site, sessionmaker, f"housing-owner@{DOMAIN}")[0]
    [welsh], [english] = notices(sessionmaker, "gwen@council.example"), notices(sessionmaker, "hal@council.example")
    assert welsh["subject"] == "[hwyluswyr Housing] hello" and english["subject"] == "[Housing owners] hello"
    assert welsh["text"] == f"Ysgrifennodd New Bie <newbie@elsewhere.example> at housing-owner@{DOMAIN}:\n\nplease"


def test_a_welsh_members_reply_to_noreply_is_answered_in_welsh(
    site: Site, sessionmaker: sessionmaker[Session], communities: None
) -> None:
    with sessionmaker.begin() as session:
        housing = session.scalar(select(Community).where(Community.slug == "housing"))
        assert housing is not None
        make_member(session, housing, "bethan@council.example").user.language = "cy"
    assert "answered" in send(site, sessionmaker, f"noreply@{DOMAIN}", "bethan@council.example")[0]
    [answer] = notices(sessionmaker, "bethan@council.example")
    assert answer["subject"] == "Heb ei phostio: hello"
    assert answer["text"].startswith("Ni chafodd eich neges ei phostio: mae crynodeb yn cynnwys sawl sgwrs")
    assert (
        f"I ddechrau sgwrs newydd, ysgrifennwch at gyfeiriad y gymuned:\n  Housing: housing@{DOMAIN}\n"
        in (answer["text"])
    )


def test_joining_a_restricted_community_by_mail_asks_its_facilitators(
    site: Site, sessionmaker: sessionmaker[Session]
) -> None:
    with sessionmaker.begin() as session:
        lounge = make_community(session, "lounge", visibility="restricted")
        make_member(session, lounge, "fiona@council.example", role=Role.facilitator)
    assert "confirmation sent" in send(site, sessionmaker, f"lounge-subscribe@{DOMAIN}")[0]
    [ask] = notices(sessionmaker, "newbie@elsewhere.example")
    assert "the facilitators of Lounge decide on your request" in ask["text"]
    assert "awaiting the facilitators" in send(site, sessionmaker, ask["reply_to"])[0]
    assert status(sessionmaker, "lounge", "newbie@elsewhere.example") is None, "not a member until approved"
    assert "now with its facilitators" in notices(sessionmaker, "newbie@elsewhere.example")[-1]["text"]
    [request] = notices(sessionmaker, "fiona@council.example")
    assert request["subject"] == "[Lounge] New Bie asks to join"
    assert request["reply_to"].startswith("lounge-decide+")
    assert "nothing to do (waiting)" in send(site, sessionmaker, f"lounge-subscribe@{DOMAIN}")[0]
    assert "already asked to join" in notices(sessionmaker, "newbie@elsewhere.example")[-1]["text"]
    with sessionmaker() as session, pytest.raises(NotFound, match="not one we issued"):
        recipients.check_recipient(session, site, f"lounge-decide+aaaabbbbccccdddd@{DOMAIN}")


def test_a_private_community_answers_no_stranger_even_when_mail_arrives_unchecked(
    site: Site, sessionmaker: sessionmaker[Session], communities: None
) -> None:
    """Mail read from a mailbox (IMAP) was never asked RCPT: the command itself stays silent."""
    for n, form in enumerate(("subscribe", "request")):
        to = f"officers-{form}@{DOMAIN}"
        raw = f"From: <newbie@elsewhere.example>\r\nTo: {to}\r\nSubject: join\r\nMessage-ID: <u{n}@e.example>\r\n\r\nhi\r\n"
        with sessionmaker.begin() as session:
            inbound_id = spooling.spool(session, raw.encode(), "newbie@elsewhere.example", [to], "imap")
        with sessionmaker.begin() as session:
            [outcome] = processing.process(session, site, inbound_id)
        assert "private and they are not a member; no reply" in outcome, form
    assert notices(sessionmaker, "newbie@elsewhere.example") == []
