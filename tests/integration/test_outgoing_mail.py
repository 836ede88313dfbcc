"""What members' mail clients show of what the site sends, through a real ``listbridge
serve``: posts mailed in by SMTP, copies and notices read back from the smarthost the way
a mail client parses them (``email.policy.default`` on the bytes the sink received)."""

from __future__ import annotations

from collections.abc import Iterator
from email.header import Header
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.head_schema import copy_head_schema
from tests.integration.served import DOMAIN, ServedSite
from tests.support import Received, SmtpSink

pytestmark = pytest.mark.integration

LIST = f"housing@{DOMAIN}"
MEMBERS = ("bob@council.example", "carol@council.example")
LOGO = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4  # no real picture is needed, only its bytes
MINUTES = b"%PDF-1.4\n" + b"minutes of the housing forum\n" * 200
BUDGET = bytes(range(256)) * 40  # binary, as a spreadsheet is


@pytest.fixture
def served(tmp_path: Path, db_url: str, smtp_sink: SmtpSink) -> Iterator[ServedSite]:
    site = ServedSite(tmp_path, db_url, smtp_sink.port)
    copy_head_schema(db_url)
    site.cli("community", "create", "housing", "--name", "Housing Advice", "--subject-prefix", "[Housing]")
    site.cli("community", "create", "grwp", "--name", "Grŵp Tai – Cymru", "--policy", "moderated")
    for who in ("alice", *(m.split("@")[0] for m in MEMBERS)):
        site.cli("member", "add", "housing", f"{who}@council.example", "--name", f"{who.title()} Example")
    site.cli("member", "add", "grwp", "alice@council.example", "--name", "Siân Jones")
    site.cli("member", "add", "grwp", "bob@council.example", "--role", "facilitator")
    site.start()
    yield site
    site.stop()


def outlook_post(subject: str, message_id: str) -> bytes:
    """A post as Outlook sends one with a logo in its signature and two files attached:
    mixed(related(alternative(text, html), logo), minutes, budget)."""
    msg = EmailMessage()
    msg["From"] = "Alice Example <alice@council.example>"
    msg["To"] = LIST
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{message_id}>"
    msg.set_content("Minutes and budget attached.\n\nAlice\n")
    msg.add_alternative(
        '<p>Minutes and budget attached.</p><p>Alice<br><img src="cid:logo@council.example" alt="Council logo"></p>',
        subtype="html",
    )
    msg.get_payload()[1].add_related(LOGO, "image", "png", cid="<logo@council.example>", filename="logo.png")
    msg.add_attachment(MINUTES, "application", "pdf", filename="minutes.pdf")
    msg.add_attachment(BUDGET, "application", "vnd.ms-excel", filename="budget 2026–27.xls")
    return msg.as_bytes()


def by_rcpt(messages: list[Received]) -> dict[str, EmailMessage]:
    return {m.rcpt_tos[0]: m.message for m in messages}


def test_a_post_with_two_attachments_and_an_inline_logo_reaches_every_member_intact(
    served: ServedSite, smtp_sink: SmtpSink
) -> None:
    assert served.send("alice@council.example", [LIST], outlook_post("Forum minutes", "m1@council.example"))[0] == 250

    copies = by_rcpt(smtp_sink.wait_for(len(MEMBERS), 30))

    assert sorted(copies) == sorted(MEMBERS)
    for copy in copies.values():
        attached = {part.get_filename(): part.get_content() for part in copy.iter_attachments()}
        assert attached == {"minutes.pdf": MINUTES, "budget 2026–27.xls": BUDGET}
        html = copy.get_body(("html",))
        assert html is not None and 'src="cid:logo@council.example"' in html.get_content()
        related = copy.get_body(("related",))
        assert related is not None, "the logo travels beside the HTML that shows it"
        [logo] = [p for p in related.iter_parts() if p.get("Content-ID") == "<logo@council.example>"]
        assert logo.get_content() == LOGO
        assert "Minutes and budget attached." in copy.get_body(("plain",)).get_content()


def test_a_plain_text_member_gets_the_text_alone_and_the_others_html_too(
    served: ServedSite, smtp_sink: SmtpSink
) -> None:
    """``member add --plain-text``: that member's copy is one text/plain part and the files
    (the logo too, as an attachment); another member's copy of the same post keeps its HTML."""
    served.cli("member", "add", "housing", "dave@council.example", "--name", "Dave Example", "--plain-text")
    assert served.send("alice@council.example", [LIST], outlook_post("Forum minutes", "m1@council.example"))[0] == 250

    copies = by_rcpt(smtp_sink.wait_for(len(MEMBERS) + 1, 30))

    dave = copies["dave@council.example"]
    assert [p.get_content_type() for p in dave.walk() if p.get_content_maintype() == "text"] == ["text/plain"]
    assert "Minutes and budget attached." in dave.get_body(("plain",)).get_content()
    attached = {part.get_filename(): part.get_content() for part in dave.iter_attachments()}
    assert attached == {"minutes.pdf": MINUTES, "budget 2026–27.xls": BUDGET, "logo.png": LOGO}
    for member in MEMBERS:
        assert copies[member].get_body(("html",)) is not None, "everyone else's copy keeps its HTML"


def forwarded_as_attachment() -> tuple[EmailMessage, bytes]:
    """A message as Outlook's "Forward as attachment" sends it: a note, and the original
    (text, HTML and its own PDF) attached whole as message/rfc822."""
    original = EmailMessage()
    original["From"] = "Dai Rees <dai.rees@landlord.example>"
    original["To"] = "alice@council.example"
    original["Subject"] = "Notice of works at Bryn Terrace – tŷ 4"
    original["Message-ID"] = "<works-1@landlord.example>"
    original.set_content("Works start on Monday 14 December.\n\nDai\n")
    original.add_alternative("<p>Works start on <b>Monday 14 December</b>.</p><p>Dai</p>", subtype="html")
    original.add_attachment(MINUTES, "application", "pdf", filename="schedule.pdf")
    msg = EmailMessage()
    msg["From"] = "Alice Example <alice@council.example>"
    msg["To"] = LIST
    msg["Subject"] = "FW: Notice of works at Bryn Terrace"
    msg["Message-ID"] = "<fw1@council.example>"
    msg.set_content("For those with tenants on Bryn Terrace: the landlord's notice is attached.\n\nAlice\n")
    msg.add_attachment(original)
    return original, msg.as_bytes()


def test_a_post_with_a_message_forwarded_as_attachment_reaches_every_member_intact(
    served: ServedSite, smtp_sink: SmtpSink
) -> None:
    original, post = forwarded_as_attachment()
    assert served.send("alice@council.example", [LIST], post)[0] == 250

    received = smtp_sink.wait_for(len(MEMBERS), 30)

    assert sorted(r for m in received for r in m.rcpt_tos) == sorted(MEMBERS)
    for copy in received:
        lines = copy.raw.split(b"\r\n")
        assert all(len(line) <= 998 and b"\n" not in line for line in lines), "CRLF lines within SMTP's limit"
        [attached] = list(copy.message.iter_attachments())
        assert attached.get_content_type() == "message/rfc822"
        forwarded = attached.get_content()
        assert (forwarded["From"], forwarded["Subject"], forwarded["Message-ID"]) == (
            original["From"],
            original["Subject"],
            original["Message-ID"],
        )
        text = forwarded.get_body(("plain",)).get_content()
        assert text.replace("\r\n", "\n") == "Works start on Monday 14 December.\n\nDai\n"
        assert "<b>Monday 14 December</b>" in forwarded.get_body(("html",)).get_content()
        assert {p.get_filename(): p.get_content() for p in forwarded.iter_attachments()} == {"schedule.pdf": MINUTES}
        assert "the landlord's notice is attached" in copy.message.get_body(("plain",)).get_content()


SUBJECTS = [  # each of the first three came out changed before (a double space, a lost space)
    "Temporary accommodation out-of-area placements – notification of changes",
    "Cyfarfod y grŵp tai fforddiadwy yn tŷ ŵ ŷ",
    "Thank you all for a wonderful first year of the network 🎉 👩‍👩‍👧 more to come",
    "Temporary accommodation placements – notification of changes to the out-of-area procedure",
    "A long plain subject about the housing register review that goes well beyond one header line",
]


def encoded(subject: str) -> str:
    return Header(subject, "utf-8").encode()


def test_subjects_names_and_notices_read_back_as_written(served: ServedSite, smtp_sink: SmtpSink) -> None:
    for number, subject in enumerate(SUBJECTS):
        raw = (
            f"From: Alice Example <alice@council.example>\r\nTo: {LIST}\r\nSubject: {encoded(subject)}\r\n"
            f"Message-ID: <s{number}@council.example>\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\nSee the subject.\r\n"
        ).encode()
        assert served.send("alice@council.example", [LIST], raw)[0] == 250
    copies = smtp_sink.wait_for(len(SUBJECTS) * len(MEMBERS), 30)
    seen = sorted({str(copy.message["Subject"]) for copy in copies})
    assert seen == sorted(f"[Housing] {subject}" for subject in SUBJECTS)

    # A held post: its author and the facilitator are told, in the community's Welsh name.
    held = (
        f"From: =?utf-8?q?Si=C3=A2n_Jones?= <alice@council.example>\r\nTo: grwp@{DOMAIN}\r\n"
        f"Subject: {encoded(SUBJECTS[1])}\r\nMessage-ID: <h1@council.example>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\nPost it when you can.\r\n"
    ).encode()
    assert served.send("alice@council.example", [f"grwp@{DOMAIN}"], held)[0] == 250
    notices = by_rcpt(smtp_sink.wait_for(len(copies) + 2, 30)[len(copies) :])
    assert notices["alice@council.example"]["Subject"] == "Your message to Grŵp Tai – Cymru is awaiting approval"
    assert notices["bob@council.example"]["Subject"] == f"[Grŵp Tai – Cymru] awaiting your approval: {SUBJECTS[1]}"
    sender = notices["alice@council.example"]["From"].addresses[0]
    assert (sender.display_name, sender.addr_spec) == ("Grŵp Tai – Cymru", f"grwp-owner@{DOMAIN}")
    assert str(notices["alice@council.example"]["List-Id"]) == f"Grŵp Tai – Cymru <grwp.{DOMAIN}>"
