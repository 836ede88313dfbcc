"""Nobody posts as someone else, and the site cannot be made to mail anyone over and over:
tried as an attacker would, through SMTP against a real ``listbridge serve`` process.

Each test writes what a forger can write (a From line, a display name, an upstream's
Authentication-Results header, a reply address lifted from someone's copy) and reads what
the members then get at the smarthost, and what the web archive shows.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from forum.db import make_engine, make_sessionmaker
from forum.models import Post, UserEmail, utcnow
from tests.head_schema import copy_head_schema
from tests.integration.served import DOMAIN, Browser, ServedSite, mail
from tests.support import Received, SmtpSink

pytestmark = pytest.mark.integration

HOUSING = f"housing@{DOMAIN}"
OFFICERS = f"officers@{DOMAIN}"
UPSTREAM = "mx.council.example"
QUOTED_ONLY = (
    "On Mon, 23 Nov 2026 at 09:00, Alice Example <alice@council.example> wrote:\r\n> How many voids do you count?\r\n"
)
VOUCHED = (
    f"Authentication-Results: {UPSTREAM}; dkim=pass header.d=council.example; "
    "spf=pass smtp.mailfrom=council.example; dmarc=pass header.from=council.example\r\n"
)


def make_site(tmp_path: Path, db_url: str, sink: SmtpSink, **options: Any) -> ServedSite:
    site = ServedSite(tmp_path, db_url, sink.port, **options)
    copy_head_schema(db_url)
    site.cli("community", "create", "housing", "--name", "Housing Advice")
    site.cli("community", "create", "officers", "--name", "Housing Officers", "--private")
    for slug in ("housing", "officers"):
        site.cli("member", "add", slug, "fiona@council.example", "--name", "Fiona Facilitator", "--role", "facilitator")
        for who in ("alice", "bob"):
            site.cli("member", "add", slug, f"{who}@council.example", "--name", f"{who.title()} Example")
    return site


@pytest.fixture
def served(tmp_path: Path, db_url: str, smtp_sink: SmtpSink) -> Iterator[ServedSite]:
    site = make_site(tmp_path, db_url, smtp_sink)
    site.start()
    yield site
    site.stop()


def text_of(received: Received) -> str:
    return received.message.get_body(("plain",)).get_content()


def link_in(received: Received, path: str) -> str:
    found = re.search(rf"http://\S+{re.escape(path)}\S+", text_of(received))
    assert found, text_of(received)
    return found.group(0)


def settle(site: ServedSite, sink: SmtpSink, expected: int) -> list[Received]:
    """Everything the site sends once it has processed what it accepted: exactly ``expected`` messages."""
    site.wait_until_processed()
    messages = sink.wait_for(expected)
    time.sleep(1.0)
    assert len(sink.messages) == expected, [(m.rcpt_tos, m.message["Subject"]) for m in sink.messages]
    return messages


def test_a_forged_member_in_a_private_community_is_published_only_when_the_member_confirms(
    served: ServedSite, smtp_sink: SmtpSink
) -> None:
    forged = mail(
        '"Alice Example" <alice@council.example>',
        OFFICERS,
        "New bank details",
        "Please pay this month's invoices to the new account.",
        "forged1@evil.example",
    )
    # Under his own envelope sender the private community does not exist for him …
    code, text = served.send("mallory@evil.example", [OFFICERS], forged)
    assert (code, text) == (550, '5.1.1 there is no community "officers" here')
    # … so he forges the envelope too: nothing vouches for it, and only Alice can publish it.
    code, text = served.send("alice@council.example", [OFFICERS], forged)
    assert code == 250 and "held until the member" in text
    [ask] = settle(served, smtp_sink, 1)
    assert ask.rcpt_tos == ["alice@council.example"], "only the member named, at her own address"
    assert ask.message["Subject"] == "Did you send this to Housing Officers? New bank details"
    assert "new account" in text_of(ask)

    link = link_in(ask, "/posts/confirm/")
    browser = Browser()
    for _ in range(2):  # a link scanner's GET: a page with a button, nothing published
        status, page = browser.get(link)
        assert status == 200 and "Yes, I sent this" in page and "New bank details" in page
    time.sleep(0.5)
    assert len(smtp_sink.messages) == 1

    status, page = browser.press_button(link)
    assert status == 200 and "Published" in page
    copies = smtp_sink.wait_for(3)[1:]
    assert sorted(m.rcpt_tos[0] for m in copies) == ["bob@council.example", "fiona@council.example"]
    assert all("Alice Example" in m.message["From"] for m in copies)
    status, page = browser.get(link)
    assert status == 404 and "already been published" in page


def test_public_communities_without_a_trusted_upstream_post_at_once(served: ServedSite, smtp_sink: SmtpSink) -> None:
    """The README's walkthrough, from a laptop: no DKIM, no SPF, no upstream, still posted;
    and so in a private community whose facilitators chose so."""
    served.cli("community", "create", "notes", "--name", "Notes", "--private", "--require-authentication", "never")
    for who in ("alice", "bob"):
        served.cli("member", "add", "notes", f"{who}@council.example")
    for n, to in enumerate((HOUSING, f"notes@{DOMAIN}")):
        assert served.send(
            "alice@council.example",
            [to],
            mail(
                "Alice Example <alice@council.example>",
                to,
                "Which GPS?",
                "Has anyone bought one?",
                f"laptop{n}@council.example",
            ),
        )[1].startswith("2.0.0"), to
    assert sorted(m.rcpt_tos[0] for m in settle(served, smtp_sink, 3)) == [
        "bob@council.example",
        "bob@council.example",
        "fiona@council.example",
    ]


def test_behind_an_authenticating_relay_only_the_shown_authors_domain_counts(
    tmp_path: Path, db_url: str, smtp_sink: SmtpSink
) -> None:
    site = make_site(tmp_path, db_url, smtp_sink, smtp_in=f'trusted_authserv_ids = ["{UPSTREAM}"]')
    site.start()
    try:
        code, text = site.send(
            "alice@council.example",
            [HOUSING],
            mail(
                "Alice Example <alice@council.example>",
                HOUSING,
                "Damp",
                "Who surveys damp?",
                "real1@council.example",
                VOUCHED,
            ),
        )
        assert (code, text[:5]) == (250, "2.0.0"), "vouched for by the relay: published at once"
        assert sorted(m.rcpt_tos[0] for m in settle(site, smtp_sink, 2)) == [
            "bob@council.example",
            "fiona@council.example",
        ]

        forgeries = {
            "no word from the relay": mail(
                "Alice Example <alice@council.example>", HOUSING, "Pay now", "Pay.", "f1@evil.example"
            ),
            "the relay vouches for another domain": mail(
                '"Mallory via Council List" <list@evil.example>',
                HOUSING,
                "Pay now",
                "Pay.",
                "f2@evil.example",
                "X-Original-From: Alice Example <alice@council.example>\r\n"
                "Reply-To: Alice Example <alice@council.example>\r\nList-Id: <council.evil.example>\r\n"
                f"Authentication-Results: {UPSTREAM}; dkim=pass header.d=evil.example; spf=pass "
                "smtp.mailfrom=evil.example; dmarc=pass header.from=evil.example\r\n",
            ),
            "a header in the relay's name written by someone else": mail(
                "Alice Example <alice@council.example>",
                HOUSING,
                "Pay now",
                "Pay.",
                "f3@evil.example",
                "Authentication-Results: evil.example; dmarc=pass header.from=council.example\r\n",
            ),
        }
        for why, raw in forgeries.items():
            code, text = site.send("mallory@evil.example", [HOUSING], raw)
            assert code == 250 and "held until the member" in text, (why, text)
        asks = settle(site, smtp_sink, 5)[2:]
        assert [m.rcpt_tos for m in asks] == [["alice@council.example"]] * 3, "asked, never published"

        not_a_list = mail(
            "Mallory <list@evil.example>",
            HOUSING,
            "Pay now",
            "Pay.",
            "f4@evil.example",
            "X-Original-From: Alice Example <alice@council.example>\r\n"
            "Reply-To: Alice Example <alice@council.example>\r\n",
        )
        code, text = site.send("mallory@evil.example", [HOUSING], not_a_list)
        assert code == 550 and "list@evil.example" in text, "without a list server's marks, From is the author"
    finally:
        site.stop()


def test_a_reply_address_is_its_members_own_and_expires(served: ServedSite, smtp_sink: SmtpSink) -> None:
    served.send(
        "alice@council.example",
        [HOUSING],
        mail("alice@council.example", HOUSING, "Voids", "How many?", "voids@council.example"),
    )
    to_bob = next(m for m in settle(served, smtp_sink, 2) if m.rcpt_tos == ["bob@council.example"])
    bob_reply_to = to_bob.message["Reply-To"].addresses[0].addr_spec

    code, text = served.send(
        "mallory@evil.example",
        [bob_reply_to],
        mail(
            "mallory@evil.example", bob_reply_to, "Re: Voids", "Bob here: send the figures to me.", "tok1@evil.example"
        ),
    )
    assert code == 250 and "held until the member" in text
    [ask] = settle(served, smtp_sink, 3)[2:]
    assert ask.rcpt_tos == ["bob@council.example"] and "mallory@evil.example" in text_of(ask)

    engine = make_engine(served.db_url)
    with make_sessionmaker(engine).begin() as session:
        bob_id = session.scalar(select(UserEmail.user_id).where(UserEmail.email == "bob@council.example"))
        session.add(UserEmail(user_id=bob_id, email="bob.home@example.net", is_primary=False, verified=True))
    code, text = served.send(
        "bob.home@example.net",
        [bob_reply_to],
        mail("Bob <bob.home@example.net>", bob_reply_to, "Re: Voids", "About forty.", "tok2@example.net"),
    )
    assert (code, text[:5]) == (250, "2.0.0"), "another of his own proven addresses"
    copies = settle(served, smtp_sink, 5)[3:]
    assert sorted(m.rcpt_tos[0] for m in copies) == ["alice@council.example", "fiona@council.example"]
    assert all("Bob Example" in m.message["From"] for m in copies)

    with make_sessionmaker(engine).begin() as session:
        session.execute(
            update(Post)
            .where(Post.message_id == "voids@council.example")
            .values(created_at=utcnow() - timedelta(days=366))
        )
    engine.dispose()
    code, text = served.send(
        "bob@council.example",
        [bob_reply_to],
        mail("bob@council.example", bob_reply_to, "Re: Voids", "Late answer.", "tok3@council.example"),
    )
    assert code == 550 and text.startswith("5.7.1") and "expired" in text and HOUSING in text, text


def test_posts_show_the_members_own_name_and_strangers_their_domain(served: ServedSite, smtp_sink: SmtpSink) -> None:
    served.cli("community", "create", "open", "--name", "Open Forum", "--policy", "open")
    served.cli("member", "add", "open", "alice@council.example", "--name", "Alice Example")
    served.send(
        "bob@council.example",
        [HOUSING],
        mail('"Alice Example" <bob@council.example>', HOUSING, "Boilers", "Combi or system?", "name1@council.example"),
    )
    served.send(
        "dave@elsewhere.example",
        [f"open@{DOMAIN}"],
        mail(
            '"Alice Example" <dave@elsewhere.example>',
            f"open@{DOMAIN}",
            "Hello",
            "Hello all.",
            "name2@elsewhere.example",
        ),
    )
    messages = settle(served, smtp_sink, 3)
    names = {(m.rcpt_tos[0], m.message["Subject"]): m.message["From"].addresses[0].display_name for m in messages}
    assert names[("alice@council.example", "Boilers")] == "Bob Example via Housing Advice"
    assert names[("fiona@council.example", "Boilers")] == "Bob Example via Housing Advice"
    assert names[("alice@council.example", "Hello")] == "Alice Example (elsewhere.example) via Open Forum"
    archived = next(m for m in messages if m.message["Subject"] == "Boilers").message["Archived-At"].strip("<>")
    status, page = Browser().get(archived)
    assert status == 200 and "Bob Example" in page and "Alice Example" not in page


def test_mail_to_the_facilitators_is_limited_and_automatic_mail_dropped(
    tmp_path: Path, db_url: str, smtp_sink: SmtpSink
) -> None:
    site = make_site(tmp_path, db_url, smtp_sink, smtp_in="owner_mail_per_sender_per_hour = 3")
    site.start()
    owner = f"housing-owner@{DOMAIN}"
    try:
        for n in range(5):  # tags name the same sender
            assert (
                site.send(
                    f"mallory+{n}@evil.example",
                    [owner],
                    mail(f"Mallory+{n}@evil.example", owner, f"Complaint {n}", "Let me in.", f"own{n}@evil.example"),
                )[0]
                == 250
            )
        site.send(
            "robot@evil.example",
            [owner],
            mail(
                "robot@evil.example",
                owner,
                "Automatic reply: away",
                "I am away.",
                "own-auto@evil.example",
                "Auto-Submitted: auto-replied\r\n",
            ),
        )
        for n in range(3):  # someone else: passed on until the facilitator's own allowance ends
            site.send(
                "carol@elsewhere.example",
                [owner],
                mail(
                    "carol@elsewhere.example", owner, f"Question {n}", "How do I join?", f"own-c{n}@elsewhere.example"
                ),
            )
        got = Counter(m.message["Subject"].split("] ")[1].rsplit(" ", 1)[0] for m in settle(site, smtp_sink, 5))
        assert got == {"Complaint": 3, "Question": 2}
        assert {m.rcpt_tos[0] for m in smtp_sink.messages} == {"fiona@council.example"}
    finally:
        site.stop()


def test_a_forged_quote_only_reply_mails_its_victim_a_limited_number_of_times(
    served: ServedSite, smtp_sink: SmtpSink
) -> None:
    quoted_only = QUOTED_ONLY
    for n in range(7):
        assert (
            served.send(
                "mallory@evil.example",
                [HOUSING],
                mail("bob@council.example", HOUSING, "Re: Voids", quoted_only, f"q{n}@evil.example"),
            )[0]
            == 250
        )
    notices = settle(served, smtp_sink, 5)
    assert {m.rcpt_tos[0] for m in notices} == {"bob@council.example"}
    assert all(m.message["Subject"] == "Not posted: Re: Voids" for m in notices)


def test_nothing_answers_mail_whose_from_fails_dmarc(tmp_path: Path, db_url: str, smtp_sink: SmtpSink) -> None:
    """Behind a relay that found the From forged (DMARC fails): no notice, no command
    answer, nothing passed on to the facilitators; a moderated post still reaches its queue."""
    site = make_site(tmp_path, db_url, smtp_sink, smtp_in=f'trusted_authserv_ids = ["{UPSTREAM}"]')
    site.cli("community", "create", "planning", "--name", "Planning", "--policy", "moderated")
    site.cli("member", "add", "planning", "fiona@council.example", "--role", "facilitator")
    site.cli("member", "add", "planning", "bob@council.example")
    site.start()
    forged = f"Authentication-Results: {UPSTREAM}; dmarc=fail (p=reject) header.from=council.example\r\n"
    try:
        for n, (to, body) in enumerate(
            [
                (HOUSING, QUOTED_ONLY),
                (f"housing-request@{DOMAIN}", "help"),
                (f"housing-subscribe@{DOMAIN}", "join"),
                (f"housing-owner@{DOMAIN}", "Let me in"),
                (f"planning@{DOMAIN}", "Approve me"),
            ]
        ):
            code, text = site.send(
                "bob@council.example",
                [to],
                mail("bob@council.example", to, "Re: Voids", body, f"dm{n}@evil.example", forged),
            )
            assert code == 250, text
        [notice] = settle(site, smtp_sink, 1)
        assert notice.rcpt_tos == ["fiona@council.example"] and "awaiting your approval" in notice.message["Subject"]
    finally:
        site.stop()


def test_held_posts_mail_the_facilitators_a_limited_number_of_times(
    tmp_path: Path, db_url: str, smtp_sink: SmtpSink
) -> None:
    site = make_site(tmp_path, db_url, smtp_sink)
    site.cli("community", "create", "planning", "--name", "Planning", "--policy", "moderated")
    site.cli("member", "add", "planning", "fiona@council.example", "--role", "facilitator")
    site.cli("member", "add", "planning", "alice@council.example")
    site.start()
    try:
        for n in range(7):
            code, text = site.send(
                "alice@council.example",
                [f"planning@{DOMAIN}"],
                mail(
                    "alice@council.example",
                    f"planning@{DOMAIN}",
                    f"Idea {n}",
                    "What about this?",
                    f"idea{n}@council.example",
                ),
            )
            assert code == 250 and "held for moderation" in text
        messages = settle(site, smtp_sink, 6)
        to_fiona = [m for m in messages if m.rcpt_tos == ["fiona@council.example"]]
        assert len(to_fiona) == 5 and "4 other posts are waiting" in text_of(to_fiona[-1])
        assert [m.rcpt_tos for m in messages if m not in to_fiona] == [["alice@council.example"]], "once a day"
    finally:
        site.stop()
