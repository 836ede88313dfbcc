"""The gateway's addresses as members, strangers and machines meet them, against a real
``listbridge serve``: replying privately through the relay, private communities that do
not exist for strangers, notifications (the null reverse path) that are never posted,
replies to digests, and the site's own addresses (postmaster@, noreply@)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from forum.db import make_engine, make_sessionmaker
from forum.models import InboundMessage, Membership, UserEmail
from tests.head_schema import copy_head_schema
from tests.integration.served import DOMAIN, ServedSite, mail
from tests.support import Received, SmtpSink

pytestmark = pytest.mark.integration

LIST = f"housing@{DOMAIN}"
ALICE, BOB, CAROL, DAVE = (
    "alice@council.example",
    "bob@council.example",
    "carol@council.example",
    "dave@elsewhere.example",
)
OPERATOR = "ops@council.example"


@pytest.fixture
def served(tmp_path: Path, db_url: str, smtp_sink: SmtpSink):
    """Housing (public): Alice, Bob, Carol (Carol takes a daily digest). Secret (private): Alice."""
    site = ServedSite(tmp_path, db_url, smtp_sink.port, site_extra=f'operators = ["{OPERATOR}"]')
    copy_head_schema(db_url)
    site.cli("community", "create", "housing", "--name", "Housing Advice")
    site.cli("community", "create", "secret", "--name", "Secret Space", "--private")
    for who in ("alice", "bob"):
        site.cli("member", "add", "housing", f"{who}@council.example", "--name", f"{who.title()} Example")
    site.cli("member", "add", "housing", CAROL, "--name", "Carol Example", "--delivery", "daily")
    site.cli("member", "add", "secret", ALICE, "--role", "facilitator")
    site.start()
    yield site
    site.stop()


def post(served: ServedSite, subject: str, body: str, message_id: str, sender: str = ALICE) -> None:
    name = sender.split("@")[0].title()
    assert served.send(sender, [LIST], mail(f"{name} Example <{sender}>", LIST, subject, body, message_id))[0] == 250


def to(messages: list[Received], address: str) -> list[Received]:
    return [m for m in messages if m.rcpt_tos == [address]]


def outcomes(served: ServedSite) -> list[str]:
    served.wait_until_processed()
    engine = make_engine(served.db_url)
    try:
        with make_sessionmaker(engine)() as session:
            return [row.outcome or "" for row in session.scalars(select(InboundMessage).order_by(InboundMessage.id))]
    finally:
        engine.dispose()


def test_a_private_reply_goes_through_the_relay_and_back_without_an_address(
    served: ServedSite, smtp_sink: SmtpSink
) -> None:
    post(served, "Damp in flats", "Who has advice on damp?", "q1@council.example")
    copy = to(smtp_sink.wait_for(1), BOB)[0]
    assert b"alice@" not in copy.raw, "Bob's copy shows Alice's address nowhere"
    footer = copy.message.get_body(("plain",)).get_content()
    relay = footer.split("Reply privately to Alice Example: ")[1].split()[0]
    assert relay.startswith("housing-private+") and relay.endswith(f"@{DOMAIN}")

    code, _ = served.send(
        BOB,
        [relay],
        mail(
            f"Bob Example <{BOB}>",
            relay,
            "Re: Damp in flats",
            "Off list: our surveyor is good, call me.",
            "p1@council.example",
        ),
    )
    assert code == 250
    [to_alice] = [m for m in smtp_sink.wait_for(2) if m.rcpt_tos == [ALICE]]
    assert b"bob@" not in to_alice.raw and BOB not in to_alice.mail_from, "no header or body names Bob's address"
    assert "our surveyor is good" in to_alice.message.get_body(("plain",)).get_content()
    back = to_alice.message["From"].addresses[0]
    assert back.display_name == "Bob Example via Housing Advice" and back.addr_spec.startswith("housing-private+")
    assert to_alice.message["Reply-To"] is None and to_alice.message["Auto-Submitted"] is None

    code, _ = served.send(
        ALICE,
        [back.addr_spec],
        mail(
            f"Alice Example <{ALICE}>", back.addr_spec, "Re: Damp in flats", "Thanks Bob, I will.", "p2@council.example"
        ),
    )
    assert code == 250
    [to_bob] = [m for m in smtp_sink.wait_for(3) if m.rcpt_tos == [BOB] and m is not copy]
    assert b"alice@" not in to_bob.raw
    assert "Thanks Bob" in to_bob.message.get_body(("plain",)).get_content()
    answer = to_bob.message["From"].addresses[0].addr_spec
    assert answer.startswith("housing-private+") and answer != back.addr_spec

    # Strangers and forgeries get nowhere, and nobody is mailed.
    code, text = served.send(DAVE, [relay], mail(DAVE, relay, "hi", "let me in", "s1@elsewhere.example"))
    assert (code, text[:5]) == (550, "5.7.1") and "only members" in text
    code, text = served.send(
        CAROL, [back.addr_spec], mail(CAROL, back.addr_spec, "hi", "not mine", "s2@council.example")
    )
    assert (code, text[:5]) == (550, "5.7.1"), "an answer address works only for the member it was made for"
    forged = f"housing-private+aaaaaaaaaaaaaaaaaaaaaaaaaa@{DOMAIN}"
    code, text = served.send(BOB, [forged], mail(BOB, forged, "hi", "forged", "s3@council.example"))
    assert (code, text[:5]) == (550, "5.1.1"), text
    time.sleep(1)
    assert len(smtp_sink.messages) == 3


def test_a_member_who_shows_their_address_is_written_to_directly(served: ServedSite, smtp_sink: SmtpSink) -> None:
    served.cli("member", "add", "housing", ALICE, "--show-address")
    post(served, "Boilers", "Any advice on boilers?", "q2@council.example")
    footer = to(smtp_sink.wait_for(1), BOB)[0].message.get_body(("plain",)).get_content()
    assert f"Reply privately to Alice Example: {ALICE}" in footer.splitlines()


def test_a_welsh_members_private_reply_goes_through_the_relays_welsh_address(
    served: ServedSite, smtp_sink: SmtpSink
) -> None:
    """Mail in Welsh names the relay in Welsh (SLUG-preifat+TOKEN@), and it carries the
    message as the English address does."""
    served.cli("member", "add", "housing", BOB, "--language", "cy")
    post(served, "Lleithder", "Who has advice on damp?", "q3@council.example")
    footer = to(smtp_sink.wait_for(1), BOB)[0].message.get_body(("plain",)).get_content()
    relay = footer.split("Ateb Alice Example yn breifat: ")[1].split()[0]
    assert relay.startswith("housing-preifat+") and relay.endswith(f"@{DOMAIN}")
    message = mail(f"Bob Example <{BOB}>", relay, "Re: Lleithder", "Ffoniwch fi.", "p3@council.example")
    assert served.send(BOB, [relay], message)[0] == 250
    [to_alice] = [m for m in smtp_sink.wait_for(2) if m.rcpt_tos == [ALICE]]
    assert "Ffoniwch fi." in to_alice.message.get_body(("plain",)).get_content()


def test_a_private_community_answers_a_stranger_as_one_that_does_not_exist(
    served: ServedSite, record_measurement: Callable[[str], None]
) -> None:
    forms = [
        "{}",
        "{}-owner",
        "{}-subscribe",
        "{}-unsubscribe",
        "{}-request",
        "{}+aaaaaaaaaaaaaaaaaaaaaaaaaa",
        "{}-private+aaaaaaaaaaaaaaaaaaaaaaaaaa",
        "{}-confirm+aaaaaaaaaaaaaaaaaaaaaaaaaa",
        f"{{}}-bounces+dave={DAVE.split('@')[1]}",
    ]
    for sender in (DAVE, ""):
        with served.smtp() as client:
            client.ehlo()
            assert client.mail(sender)[0] == 250
            for form in forms:
                secret = client.rcpt(f"{form.format('secret')}@{DOMAIN}")
                missing = client.rcpt(f"{form.format('nosuch')}@{DOMAIN}")
                assert secret[0] == missing[0] == 550, (form, secret)
                assert secret[1] == missing[1].replace(b"nosuch", b"secret"), (form, secret, missing)
    with served.smtp() as client:
        client.ehlo()
        assert client.mail(ALICE)[0] == 250
        for form in ("{}", "{}-owner", "{}-request"):
            assert client.rcpt(f"{form.format('secret')}@{DOMAIN}")[0] == 250, "a member still gets through"
    with served.smtp() as client:
        client.ehlo()
        client.mail(DAVE)
        took: dict[str, list[float]] = {"secret": [], "nosuch": []}
        for _ in range(100):
            for slug, times in took.items():
                start = time.perf_counter()
                client.rcpt(f"{slug}-owner@{DOMAIN}")
                times.append(time.perf_counter() - start)
    private_us, missing_us = (statistics.median(times) * 1e6 for times in took.values())
    record_measurement(
        f"RCPT to a private community's -owner@ by a stranger: median {private_us:.0f} µs; "
        f"to a missing community's: {missing_us:.0f} µs"
    )


DSN = """From: Mail Delivery System <MAILER-DAEMON@mx.council.example>
To: {to}
Subject: Undelivered Mail Returned to Sender
Message-ID: <{mid}@mx.council.example>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="b"

--b
Content-Type: text/plain

This is the mail system at host mx.council.example. Your message could not be delivered.

--b
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.council.example

Final-Recipient: rfc822; bob@council.example
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 user unknown

--b--
"""
DOMINO = """From: Postmaster <postmaster@notes.council.example>
To: {to}
Subject: DELIVERY FAILURE: User bob (bob@council.example) not listed in Domino Directory
Message-ID: <{mid}@notes.council.example>

Your document: Damp in flats
was not delivered to: bob@council.example
because: User bob (bob@council.example) not listed in Domino Directory
"""
DELAY = """From: Systemadministrator <postmaster@rathaus.example>
To: {to}
Subject: Verzögerte Zustellung: Damp in flats
Message-ID: <{mid}@rathaus.example>
Content-Type: text/plain; charset=utf-8

Die Nachricht konnte noch nicht zugestellt werden. Es wird weiter versucht.
"""
SECURITY = """From: Mimecast <noreply@mimecast.example>
To: {to}
Subject: Message on hold: Damp in flats
Message-ID: <{mid}@mimecast.example>

A message you sent is being held by your organisation's security gateway.
"""


def test_mail_with_the_null_reverse_path_is_never_posted_forwarded_or_answered(
    served: ServedSite, smtp_sink: SmtpSink
) -> None:
    post(served, "Damp in flats", "Who has advice on damp?", "q3@council.example")
    copy = to(smtp_sink.wait_for(1), BOB)[0]
    bob_reply_to = copy.message["Reply-To"].addresses[0].addr_spec
    relay = copy.message.get_body(("plain",)).get_content().split("Reply privately to Alice Example: ")[1].split()[0]
    before = len(outcomes(served))
    addresses = [
        bob_reply_to,
        LIST,
        f"housing-owner@{DOMAIN}",
        f"housing-request@{DOMAIN}",
        f"housing-subscribe@{DOMAIN}",
        relay,
        f"noreply@{DOMAIN}",
        f"postmaster@{DOMAIN}",
    ]
    for n, address in enumerate(addresses):
        for kind, template in enumerate((DSN, DOMINO, DELAY, SECURITY)):
            raw = template.format(to=address, mid=f"n{n}.{kind}").replace("\n", "\r\n").encode()
            assert served.send("", [address], raw)[0] == 250, address
    found = outcomes(served)[before:]
    assert len(found) == len(addresses) * 4
    assert all("null reverse path" in outcome for outcome in found), found
    assert "hard bounce" in found[0] and "counted" not in found[2], "a report to Bob's reply address is Bob's"
    time.sleep(1.5)
    assert len(smtp_sink.messages) == 1, "only the copy of the post: no post, forward or answer went out"
    engine = make_engine(served.db_url)
    try:
        with make_sessionmaker(engine)() as session:
            score = session.scalar(
                select(Membership.bounce_score)
                .join(UserEmail, UserEmail.user_id == Membership.user_id)
                .where(UserEmail.email == BOB)
            )
    finally:
        engine.dispose()
    assert score and score > 0


def test_a_reply_to_a_digest_is_answered_or_posted_in_the_one_thread_it_names(
    served: ServedSite, smtp_sink: SmtpSink
) -> None:
    post(served, "Damp in flats", "Who has advice on damp?", "q4@council.example")
    post(served, "Rent arrears", "How do you handle arrears?", "q5@council.example")
    smtp_sink.wait_for(2)
    served.cli("digest", "run", "--period", "daily")
    [digest] = [m for m in smtp_sink.wait_for(3) if m.rcpt_tos == [CAROL]]
    assert digest.message["From"].addresses[0].addr_spec == f"noreply@{DOMAIN}"
    assert digest.message["Reply-To"] is None
    text = digest.message.get_body(("plain",)).get_content()
    assert b"alice@" not in digest.raw and "Reply privately to Alice Example: housing-private+" in text
    quoted = "\r\n".join("> " + line for line in text.splitlines())

    whole = mail(
        f"Carol Example <{CAROL}>",
        f"noreply@{DOMAIN}",
        "Re: Daily digest",
        f"Good points.\r\n\r\n{quoted}",
        "d1@council.example",
    )
    assert served.send(CAROL, [f"noreply@{DOMAIN}"], whole)[0] == 250
    [answer] = smtp_sink.wait_for(4)[3:]
    assert answer.rcpt_tos == [CAROL]
    said = answer.message.get_body(("plain",)).get_content()
    assert "not posted" in said and "Damp in flats" in said and "Rent arrears" in said
    assert said.count("housing+") == 2, "the reply address of each thread"

    damp = text[text.index("Damp in flats") : text.index("Rent arrears")]
    one = mail(
        f"Carol Example <{CAROL}>",
        f"noreply@{DOMAIN}",
        "Re: Daily digest",
        "We fixed ours with a dehumidifier.\r\n\r\n" + "\r\n".join("> " + line for line in damp.splitlines()),
        "d2@council.example",
    )
    assert served.send(CAROL, [f"noreply@{DOMAIN}"], one)[0] == 250
    posted = smtp_sink.wait_for(6)[4:]
    assert sorted(m.rcpt_tos[0] for m in posted) == [ALICE, BOB]
    to_alice = to(posted, ALICE)[0].message
    assert to_alice["In-Reply-To"] == "<q4@council.example>"
    assert to_alice["Subject"] == "Re: Damp in flats"
    assert "dehumidifier" in to_alice.get_body(("plain",)).get_content()


def test_postmaster_reaches_the_operators_and_reserved_names_are_no_communities(
    served: ServedSite, smtp_sink: SmtpSink
) -> None:
    code, _ = served.send(
        DAVE,
        [f"Postmaster@{DOMAIN}"],
        mail(DAVE, f"postmaster@{DOMAIN}", "Your server", "Your server sent us spam.", "pm1@elsewhere.example"),
    )
    assert code == 250
    [forwarded] = smtp_sink.wait_for(1)
    assert forwarded.rcpt_tos == [OPERATOR] and "Your server sent us spam." in forwarded.message.get_content()
    assert forwarded.message["Reply-To"].addresses[0].addr_spec == DAVE
    for name in ("noreply", "postmaster", "abuse", "mailer-daemon", "root", "admin", "www", "listbridge"):
        refused = served.cli("community", "create", name, "--name", "Mine", check=False)
        assert refused.returncode == 1 and refused.stderr.count("\n") == 1, refused.stderr
        assert f"{name}@ is reserved" in refused.stderr
