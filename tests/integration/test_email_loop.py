"""The first user story, end to end, against a real ``listbridge serve`` process.

A housing adviser posts to her community by email, every other member gets a personal
copy at the smarthost (a real SMTP server), someone replies from Outlook with the old
message quoted below, and the thread stays whole and clean. Also: what the gateway
refuses and how it says so, LMTP's per-recipient answers, and stops and crashes in the
middle of the work losing nothing and doubling nothing.
"""

from __future__ import annotations

import os
import signal
import smtplib
import socket
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from forum.db import make_engine, make_sessionmaker
from forum.models import InboundMessage, InboundStatus
from mailgateway.incoming import spooling
from tests.head_schema import copy_head_schema
from tests.integration.served import DOMAIN, ServedSite, mail
from tests.support import SmtpSink

pytestmark = pytest.mark.integration

LIST = f"housing@{DOMAIN}"
QUESTION = "Has anyone bought a GPS unit for housing condition surveys? Which one?"


@pytest.fixture
def served(tmp_path: Path, db_url: str, smtp_sink: SmtpSink):
    site = ServedSite(tmp_path, db_url, smtp_sink.port, max_message_bytes=200_000)
    site.cli("init")
    site.cli("community", "create", "housing", "--name", "Housing Advice", "--policy", "members")
    for who in ("alice", "bob", "carol"):
        site.cli("member", "add", "housing", f"{who}@council.example", "--name", f"{who.title()} Example")
    yield site
    site.stop()


def by_rcpt(messages):
    return {m.rcpt_tos[0]: m for m in messages}


def test_post_reply_and_refusals(served: ServedSite, smtp_sink: SmtpSink) -> None:
    assert served.cli("init").returncode == 0, "init must be safe to run twice"
    served.start()

    with served.smtp() as client:
        client.ehlo()
        client.mail("alice@council.example")
        code, answer = client.rcpt(f"nosuch@{DOMAIN}")
        assert (code, answer[:5]) == (550, b"5.1.1"), answer
        code, answer = client.rcpt("someone@elsewhere.example")
        assert code == 550 and b"relay" in answer
        code, answer = client.rcpt(f"housing-confirm+forged@{DOMAIN}")
        assert (code, answer[:5]) == (550, b"5.1.1"), answer

    code, text = served.send(
        "dave@elsewhere.example",
        [LIST],
        mail("dave@elsewhere.example", LIST, "spam", "hello", "spam1@elsewhere.example"),
    )
    assert code == 550 and text.startswith("5.7.1") and "not a member" in text

    big = mail("alice@council.example", LIST, "big", ("x" * 76 + "\r\n") * 4000, "big@council.example")
    code, text = served.send("alice@council.example", [LIST], big)
    assert code == 552 and text.startswith("5.3.4")

    t_sent = time.monotonic()
    code, _ = served.send(
        "alice@council.example",
        [LIST],
        mail(
            "Alice Example <alice@council.example>",
            LIST,
            "Which GPS for field surveys?",
            QUESTION,
            "q1@council.example",
        ),
    )
    assert code == 250
    copies = by_rcpt(smtp_sink.wait_for(2))
    first_copy_after = time.monotonic() - t_sent
    assert sorted(copies) == ["bob@council.example", "carol@council.example"]
    to_bob = copies["bob@council.example"].message
    assert to_bob["From"].addresses[0].addr_spec == LIST
    assert "Alice Example" in to_bob["From"].addresses[0].display_name
    assert to_bob["Message-ID"] == "<q1@council.example>"
    assert "housing" in to_bob["List-Id"]
    assert to_bob["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "http" in to_bob["List-Unsubscribe"]
    assert to_bob["Archived-At"] and to_bob["List-Post"] and to_bob["Precedence"] == "list"
    assert QUESTION in to_bob.get_body(("plain",)).get_content()
    assert to_bob.get_body(("html",)) is not None
    assert copies["bob@council.example"].mail_from.startswith("housing-bounces+")
    bob_reply_to = to_bob["Reply-To"].addresses[0].addr_spec
    carol_reply_to = copies["carol@council.example"].message["Reply-To"].addresses[0].addr_spec
    assert bob_reply_to.startswith("housing+") and bob_reply_to != carol_reply_to
    print(f"first copy at the smarthost {first_copy_after * 1000:.0f} ms after sending")

    outlook_reply = mail(
        "Bob Example <bob@council.example>",
        bob_reply_to,
        "RE: Which GPS for field surveys?",
        "We bought the Trimble R2 last year and it has been reliable.\r\n\r\nBob\r\n\r\n"
        "-----Original Message-----\r\n"
        f"From: Alice Example via Housing Advice <{LIST}>\r\nSent: 28 November 2026 09:00\r\n"
        f"To: {LIST}\r\nSubject: Which GPS for field surveys?\r\n\r\n{QUESTION}\r\n",
        "r1@council.example",
        "Thread-Index: AdmZ3bYAAAAAAAAAAAAAAAAAAAAAAA==\r\n",
    )
    assert served.send("bob@council.example", [bob_reply_to], outlook_reply)[0] == 250
    replies = by_rcpt(smtp_sink.wait_for(4)[2:])
    assert sorted(replies) == ["alice@council.example", "carol@council.example"]
    to_alice = replies["alice@council.example"].message
    text = to_alice.get_body(("plain",)).get_content()
    assert "Trimble R2" in text
    assert "Original Message" not in text and QUESTION not in text
    assert to_alice["In-Reply-To"] == "<q1@council.example>"
    assert "<q1@council.example>" in to_alice["References"]

    assert (
        served.send(
            "alice@council.example",
            [LIST],
            mail(
                "Alice Example <alice@council.example>",
                LIST,
                "Which GPS for field surveys?",
                QUESTION,
                "q1@council.example",
            ),
        )[0]
        == 250
    )
    time.sleep(1.5)
    assert len(smtp_sink.messages) == 4, "the same Message-ID sent twice must be delivered once"


def test_lmtp_answers_once_per_recipient(tmp_path: Path, db_url: str, smtp_sink: SmtpSink) -> None:
    site = ServedSite(tmp_path, db_url, smtp_sink.port, protocol="lmtp")
    copy_head_schema(db_url)
    site.cli("community", "create", "housing", "--name", "Housing Advice")
    site.cli("community", "create", "planning", "--name", "Planning")
    site.cli("member", "add", "housing", "alice@council.example")
    site.cli("member", "add", "housing", "bob@council.example")
    site.start()
    try:
        client = smtplib.LMTP("127.0.0.1", site.smtp_port, timeout=30)
        client.ehlo_or_helo_if_needed()
        assert client.mail("alice@council.example")[0] == 250
        assert client.rcpt(LIST)[0] == 250
        assert client.rcpt(f"planning@{DOMAIN}")[0] == 250
        assert client.docmd("DATA")[0] == 354
        body = mail("alice@council.example", LIST, "Both lists", "Cross-posted.", "x1@council.example")
        client.send(body + b"\r\n.\r\n")
        first, second = client.getreply(), client.getreply()
        client.quit()
        assert first[0] == 250, "alice is a member of housing"
        assert second[0] == 550 and second[1].startswith(b"5.7.1"), "but not of planning"
        assert [m.rcpt_tos for m in smtp_sink.wait_for(1)] == [["bob@council.example"]]
    finally:
        site.stop()


def test_stop_in_the_middle_of_a_fan_out_loses_and_doubles_nothing(tmp_path: Path, db_url: str) -> None:
    members = 300
    slow = SmtpSink(on_message=lambda _m: time.sleep(0.01))  # a smarthost slow enough to stop mid-way
    with slow:
        site = ServedSite(tmp_path, db_url, slow.port)
        copy_head_schema(db_url)
        site.cli("community", "create", "housing", "--name", "Housing Advice")
        csv = tmp_path / "members.csv"
        csv.write_text("email,name\n" + "".join(f"m{i}@council.example,Member {i}\n" for i in range(members)))
        site.cli("member", "import", "housing", str(csv))
        site.start()
        assert (
            site.send(
                "m0@council.example",
                [LIST],
                mail("m0@council.example", LIST, "To everyone", "Hello all.", "all@council.example"),
            )[0]
            == 250
        )
        slow.wait_for(20, timeout=30)
        assert site.stop(signal.SIGTERM) == 0, site.log()
        partial = len(slow.messages)
        assert partial < members - 1, "the stop should have come in the middle of the fan-out"
        site.start()
        slow.wait_for(members - 1, timeout=120)
        time.sleep(1.0)
        site.stop()
    counts = Counter(m.rcpt_tos[0] for m in slow.messages)
    assert len(counts) == members - 1 and set(counts.values()) == {1}, "every member exactly once"
    print(f"stopped after {partial} of {members - 1} copies; the restart sent the rest")


def test_mail_spooled_before_a_crash_is_processed_once_on_start(
    tmp_path: Path, db_url: str, smtp_sink: SmtpSink
) -> None:
    site = ServedSite(tmp_path, db_url, smtp_sink.port)
    copy_head_schema(db_url)
    site.cli("community", "create", "housing", "--name", "Housing Advice")
    site.cli("member", "add", "housing", "alice@council.example")
    site.cli("member", "add", "housing", "bob@council.example")
    # What a crash right after the 250 leaves behind: the message stored, not yet processed.
    engine = make_engine(db_url)
    with make_sessionmaker(engine).begin() as session:
        spooling.spool(
            session,
            mail("alice@council.example", LIST, "Spooled", "Before the crash.", "spooled@council.example"),
            "alice@council.example",
            [LIST],
            "smtp",
        )
    site.start()
    try:
        assert [m.rcpt_tos for m in smtp_sink.wait_for(1)] == [["bob@council.example"]]
        site.stop()
        site.start()
        time.sleep(1.0)
        assert len(smtp_sink.messages) == 1, "processed once, not again on the next start"
    finally:
        site.stop()
    with make_sessionmaker(engine)() as session:
        statuses = list(session.scalars(select(InboundMessage.status)))
    engine.dispose()
    assert statuses == [InboundStatus.done]


def test_moderated_post_is_held_then_approved(tmp_path: Path, db_url: str, smtp_sink: SmtpSink) -> None:
    site = ServedSite(tmp_path, db_url, smtp_sink.port)
    copy_head_schema(db_url)
    site.cli("community", "create", "housing", "--name", "Housing Advice", "--policy", "moderated")
    site.cli("member", "add", "housing", "fiona@council.example", "--role", "facilitator")
    site.cli("member", "add", "housing", "alice@council.example")
    site.cli("member", "add", "housing", "bob@council.example")
    site.start()
    try:
        code, text = site.send(
            "alice@council.example",
            [LIST],
            mail("alice@council.example", LIST, "Void rates", "How do you count voids?", "held1@council.example"),
        )
        assert code == 250 and "held for moderation" in text
        notices = by_rcpt(smtp_sink.wait_for(2))
        assert sorted(notices) == ["alice@council.example", "fiona@council.example"]
        assert "awaiting approval" in notices["alice@council.example"].message["Subject"]
        assert notices["alice@council.example"].message["Auto-Submitted"] == "auto-replied"
        assert "How do you count voids?" in notices["fiona@council.example"].message.get_body(("plain",)).get_content()

        listing = site.cli("held", "list", "housing").stdout
        post_id = listing.split("\t", 1)[0]
        assert "Void rates" in listing
        assert "2 personal copies" in site.cli("held", "approve", post_id).stdout
        copies = by_rcpt(smtp_sink.wait_for(4)[2:])
        assert sorted(copies) == ["bob@council.example", "fiona@council.example"]
        assert copies["bob@council.example"].message["Message-ID"] == "<held1@council.example>"
        assert_error = site.cli("held", "approve", post_id, check=False)
        assert assert_error.returncode == 1 and "not awaiting moderation" in assert_error.stderr
    finally:
        site.stop()


@pytest.mark.parametrize(
    ("language", "subject", "why"),
    [
        ("en", "Not posted: Re: Damp surveys", "Why: the message has no text"),
        ("cy", "Heb ei phostio: Re: Damp surveys", "Pam: does dim testun yn y neges"),
    ],
)
def test_a_reply_with_no_new_text_is_explained_to_its_sender(
    served: ServedSite, smtp_sink: SmtpSink, language: str, subject: str, why: str
) -> None:
    """The SMTP server judges a message by its header (the sender waits for that); that a
    reply has nothing above the quote is found once the body is read, and told by mail, in
    the sender's language: the core's reason too."""
    served.cli("member", "add", "housing", "bob@council.example", "--language", language)
    served.start()
    assert (
        served.send(
            "alice@council.example",
            [LIST],
            mail("alice@council.example", LIST, "Damp surveys", QUESTION, "d1@council.example"),
        )[0]
        == 250
    )
    smtp_sink.wait_for(2)
    quoted_only = mail(
        "Bob Example <bob@council.example>",
        LIST,
        "Re: Damp surveys",
        f"On Mon, 23 Nov 2026 at 09:00, Alice Example <alice@council.example> wrote:\r\n> {QUESTION}\r\n",
        "d2@council.example",
        "In-Reply-To: <d1@council.example>\r\n",
    )
    assert served.send("bob@council.example", [LIST], quoted_only)[0] == 250
    [notice] = smtp_sink.wait_for(3)[2:]
    assert notice.rcpt_tos == ["bob@council.example"]
    assert notice.message["Subject"] == subject
    assert notice.message["In-Reply-To"] == "<d2@council.example>"
    assert why in notice.message.get_body(("plain",)).get_content()
    time.sleep(1.0)
    assert len(smtp_sink.messages) == 3, "nothing was posted to the members"


def test_a_spool_processor_that_dies_is_replaced_and_loses_nothing(served: ServedSite, smtp_sink: SmtpSink) -> None:
    served.start()
    processor = served.child_process("spawn_main")
    os.kill(processor, signal.SIGKILL)
    assert (
        served.send(
            "alice@council.example",
            [LIST],
            mail("alice@council.example", LIST, "After the crash", QUESTION, "k1@council.example"),
        )[0]
        == 250
    )
    assert sorted(m.rcpt_tos[0] for m in smtp_sink.wait_for(2)) == ["bob@council.example", "carol@council.example"]
    assert "spool processor ended unexpectedly" in served.log()
    assert served.child_process("spawn_main") != processor


def test_a_stop_signalled_to_every_process_still_processes_what_was_accepted(served: ServedSite) -> None:
    """A terminal's Ctrl-C, or a service manager's SIGTERM, reaches the spool processor as
    well as ``serve``: the processor leaves the stop to ``serve`` and finishes first."""
    served.start()
    assert (
        served.send(
            "alice@council.example",
            [LIST],
            mail("alice@council.example", LIST, "First", QUESTION, "s-first@council.example"),
        )[0]
        == 250
    )
    served.wait_until_processed()  # the processor is up (started, it ignores the stop signals)
    for i in range(6):
        assert (
            served.send(
                "alice@council.example",
                [LIST],
                mail("alice@council.example", LIST, f"Post {i}", QUESTION, f"s{i}@council.example"),
            )[0]
            == 250
        )
    assert served.proc is not None
    os.killpg(served.proc.pid, signal.SIGTERM)
    assert served.proc.wait(60) == 0, served.log()
    assert "ended unexpectedly" not in served.log(), "a clean stop, not a processor that died and was replaced"
    engine = make_engine(served.db_url)
    with make_sessionmaker(engine)() as session:
        statuses = list(session.scalars(select(InboundMessage.status)))
    engine.dispose()
    assert statuses == [InboundStatus.done] * 7, "every message accepted was processed before the stop"


@pytest.mark.parametrize("taken", ["smtp", "web"])
def test_serve_on_a_port_already_taken_says_so_in_one_line(served: ServedSite, taken: str) -> None:
    port = served.smtp_port if taken == "smtp" else served.web_port
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        result = served.cli("serve", check=False)
    assert result.returncode == 1
    what = "SMTP" if taken == "smtp" else "the web archive"
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"listbridge: error: cannot listen for {what} on 127.0.0.1:{port}: Address already in use"
    ), result.stderr


def test_the_last_facilitator_cannot_leave_by_mail(served: ServedSite, smtp_sink: SmtpSink) -> None:
    """``SLUG-unsubscribe@`` keeps the rule the members page keeps, and says why."""
    served.cli("member", "add", "housing", "alice@council.example", "--role", "facilitator")
    served.start()
    code, _ = served.send(
        "alice@council.example",
        [f"housing-unsubscribe@{DOMAIN}"],
        mail("alice@council.example", f"housing-unsubscribe@{DOMAIN}", "leave", "", "leave1@council.example"),
    )
    assert code == 250
    [answer] = smtp_sink.wait_for(1)
    assert answer.rcpt_tos == ["alice@council.example"]
    text = answer.message.get_body(("plain",)).get_content()
    assert "only facilitator of Housing Advice" in text and "still a member" in text
    assert "alice@council.example\tfacilitator\teach\tactive" in served.cli("member", "list", "housing").stdout
