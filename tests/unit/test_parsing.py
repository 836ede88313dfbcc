"""Hand-written parsing cases for what the corpus shows poorly."""

from __future__ import annotations

import base64
import random
import textwrap
from datetime import UTC

import pytest

from mailgateway.text.htmltext import html_to_text
from mailgateway.text.parsing import MalformedMail, parse_headers, parse_message
from mailgateway.text.trimming import trim_html, trim_reply

OUTLOOK_HTML_REPLY = """\
<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8">
<style type="text/css">p {margin:0}</style></head>
<body dir="ltr">
<div style="font-family: Calibri, Arial; font-size: 12pt;">Thanks, the fix works for me.</div>
<div>See <a href="https://example.org/ticket/42">the ticket</a> for details.</div>
<div id="appendonsend"></div>
<hr style="display:inline-block;width:98%" tabindex="-1">
<div id="divRplyFwdMsg" dir="ltr"><font face="Calibri, sans-serif" style="font-size:11pt">
<b>From:</b> Ann Example &lt;ann@example.org&gt;<br>
<b>Sent:</b> Monday, March 4, 2024 10:15 AM<br>
<b>To:</b> dev@lists.example.org &lt;dev@lists.example.org&gt;<br>
<b>Subject:</b> Re: build failure</font>
<div>&nbsp;</div></div>
<div><div>Does anyone else see the build failure on main?</div></div>
</body></html>
"""

GMAIL_HTML_REPLY = """\
<div dir="ltr">Sounds good, <b>merge it</b>.<div><br></div></div><br>
<div class="gmail_quote"><div dir="ltr" class="gmail_attr">On Mon, Mar 4, 2024 at 10:15 AM Ann Example
&lt;<a href="mailto:ann@example.org">ann@example.org</a>&gt; wrote:<br></div>
<blockquote class="gmail_quote" style="margin:0px 0px 0px 0.8ex">Shall I merge the patch?</blockquote></div>
"""


def mail(headers: str, body: bytes | str = b"Hello.\n", *, newline: bytes = b"\r\n") -> bytes:
    """A raw message from header lines and a body."""
    head = textwrap.dedent(headers).strip().encode("utf-8")
    payload = body.encode("utf-8") if isinstance(body, str) else body
    return head.replace(b"\n", newline) + newline + newline + payload


def multipart(subtype: str, boundary: str, parts: list[bytes], headers: str = "From: a@example.org") -> bytes:
    body = b"".join(b"--" + boundary.encode() + b"\r\n" + part + b"\r\n" for part in parts)
    body += b"--" + boundary.encode() + b"--\r\n"
    return mail(f'{headers}\nContent-Type: multipart/{subtype}; boundary="{boundary}"', body)


def part(headers: str, body: bytes | str) -> bytes:
    return mail(headers, body)


def test_outlook_html_only_reply_becomes_readable_text_that_trims() -> None:
    raw = mail(
        "From: Bob <bob@example.org>\nContent-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: base64",
        base64.encodebytes(OUTLOOK_HTML_REPLY.encode()),
    )
    parsed = parse_message(raw)
    assert parsed.html is not None and "divRplyFwdMsg" in parsed.html
    assert "Thanks, the fix works for me." in parsed.text
    assert "See the ticket (https://example.org/ticket/42) for details." in parsed.text
    assert "From: Ann Example <ann@example.org>" in parsed.text
    assert "<" not in parsed.text.replace("<ann@", "").replace("<dev@", "")
    new_text = "Thanks, the fix works for me.\nSee the ticket (https://example.org/ticket/42) for details."
    assert trim_reply(parsed.text).body == new_text
    trimmed_html = trim_html(parsed.html)
    assert "Does anyone else see" not in trimmed_html
    assert html_to_text(trimmed_html) == new_text


def test_gmail_html_reply_loses_its_quote() -> None:
    raw = multipart(
        "alternative",
        "gm",
        [
            part(
                "Content-Type: text/plain; charset=UTF-8",
                "Sounds good, *merge it*.\n\nOn Mon, Mar 4, 2024 at "
                "10:15 AM Ann Example <ann@example.org> wrote:\n\n> Shall I merge the patch?\n",
            ),
            part("Content-Type: text/html; charset=UTF-8", GMAIL_HTML_REPLY),
        ],
    )
    parsed = parse_message(raw)
    assert parsed.text.startswith("Sounds good, *merge it*.")
    assert trim_reply(parsed.text).body == "Sounds good, *merge it*."
    assert html_to_text(trim_html(parsed.html or "")) == "Sounds good, merge it."
    assert "> Shall I merge the patch?" in html_to_text(GMAIL_HTML_REPLY)


def test_a_line_of_5000_characters_survives() -> None:
    line = "x" * 5000
    parsed = parse_message(mail("From: a@example.org\nSubject: long", f"start\n{line}\nend\n"))
    assert line in parsed.text.split("\n")


def test_latin1_mislabelled_as_utf8_is_still_readable() -> None:
    body = "Le café est prêt.\n".encode("latin-1")
    parsed = parse_message(mail("From: a@example.org\nContent-Type: text/plain; charset=utf-8", body))
    assert parsed.text == "Le café est prêt."


@pytest.mark.parametrize("label", ["x-unknown", "utf-99", '"utf-8"', "unknown-8bit"])
def test_unknown_charsets_fall_back_gracefully(label: str) -> None:
    body = "Grüße aus Köln\n".encode()
    parsed = parse_message(mail(f"From: a@example.org\nContent-Type: text/plain; charset={label}", body))
    assert parsed.text == "Grüße aus Köln"


@pytest.mark.parametrize(
    ("charset", "encoding"),
    [("utf-7", "utf-7"), ("iso-2022-jp", "iso2022_jp"), ("big5", "big5"), ("koi8-r", "koi8_r"), ("gb2312", "gb2312")],
)
def test_declared_charsets_are_decoded(charset: str, encoding: str) -> None:
    text = {"iso-2022-jp": "日本語のテキスト", "big5": "中文測試", "gb2312": "中文测试", "koi8-r": "Привет"}.get(
        charset, "Grüße €"
    )
    raw = mail(f"From: a@example.org\nContent-Type: text/plain; charset={charset}", text.encode(encoding))
    assert parse_message(raw).text == text


def test_html_charset_named_only_in_a_meta_element_is_used() -> None:
    html = '<html><head><meta http-equiv="Content-Type" content="text/html; charset=windows-1251"></head>'
    raw = mail("From: a@example.org\nContent-Type: text/html", (html + "<p>Привет</p>").encode("cp1251"))
    assert parse_message(raw).text == "Привет"


def test_encoded_word_and_rfc2231_filenames_are_decoded() -> None:
    raw = multipart(
        "mixed",
        "b1",
        [
            part("Content-Type: text/plain", "see attached"),
            part(
                "Content-Type: application/pdf\nContent-Disposition: attachment; "
                'filename="=?UTF-8?B?UsOpc3Vtw6kucGRm?="\nContent-Transfer-Encoding: base64',
                "JVBERi0xLjQK",
            ),
            part(
                "Content-Type: text/plain\nContent-Disposition: attachment; filename*=UTF-8''%E2%82%AC%20notes.txt",
                "euro",
            ),
            part('Content-Type: application/octet-stream; name="../../etc/passwd"', "x"),
            part("Content-Type: image/png\nContent-Transfer-Encoding: base64", "iVBORw0KGgo="),
        ],
    )
    attachments = parse_message(raw).attachments
    assert [a.filename for a in attachments] == ["Résumé.pdf", "€ notes.txt", "passwd", "attachment-4.png"]
    assert attachments[0].data == b"%PDF-1.4\n"
    assert attachments[0].content_type == "application/pdf"


def test_inline_images_of_related_html_are_marked_inline() -> None:
    raw = multipart(
        "related",
        "rel",
        [
            part("Content-Type: text/html", '<p>Look: <img src="cid:logo@x"></p>'),
            part(
                "Content-Type: image/gif\nContent-ID: <logo@x>\nContent-Transfer-Encoding: base64",
                "R0lGODlhAQABAAAAACw=",
            ),
            part(
                "Content-Type: image/gif\nContent-ID: <unused@x>\nContent-Disposition: attachment; filename=a.gif",
                "GIF89a",
            ),
        ],
    )
    parsed = parse_message(raw)
    assert parsed.text == "Look:"
    assert [(a.content_id, a.inline) for a in parsed.attachments] == [("logo@x", True), ("unused@x", False)]


def test_attached_message_becomes_an_eml_attachment() -> None:
    inner = mail("From: c@example.org\nSubject: original", "the original\n")
    raw = multipart(
        "mixed",
        "fw",
        [part("Content-Type: text/plain", "FYI, see below."), part("Content-Type: message/rfc822", inner)],
        headers="From: a@example.org\nSubject: Fwd: original",
    )
    parsed = parse_message(raw)
    assert parsed.text == "FYI, see below."
    (attachment,) = parsed.attachments
    assert (attachment.filename, attachment.content_type) == ("attachment-1.eml", "message/rfc822")
    assert parse_message(attachment.data).text.strip() == "the original"


@pytest.mark.parametrize("newline", [b"\n", b"\r", b"\r\n"])
def test_line_endings_are_normalised(newline: bytes) -> None:
    raw = mail("From: a@example.org\nSubject: endings", b"one" + newline + b"two" + newline, newline=newline)
    parsed = parse_message(raw)
    assert (parsed.subject, parsed.text) == ("endings", "one\ntwo")


def test_headers_are_decoded_and_normalised() -> None:
    raw = mail(
        """\
        From: =?utf-8?q?Jos=C3=A9?= =?utf-8?q?_P=C3=A9rez?= <Jose@Example.ORG>
        To: "List" <dev@lists.example.org>, other@example.org.
        Cc: =?iso-8859-1?q?Marston=2C_John?= <john@example.org>
        Subject: =?utf-8?b?w4lsw6h2ZXM=?=
          et  professeurs
        Message-ID: < abc@host >
        In-Reply-To: <parent@host> (Your message of Monday)
        References: <root@host> <parent@host>
         <root@host>
        Date: Mon, 4 Mar 2024 10:15:00 -0000
        List-Id: Developers <dev.lists.example.org>
        Thread-Index: AdpuJ0AXg1jF3Q==""",
    )
    parsed = parse_message(raw)
    assert (parsed.from_addr, parsed.from_name) == ("jose@example.org", "José Pérez")
    assert parsed.to == ("dev@lists.example.org", "other@example.org")
    assert parsed.cc == ("john@example.org",)
    assert parsed.subject == "Élèves et professeurs"
    assert parsed.message_id == "abc@host"
    assert parsed.in_reply_to == ("parent@host",)
    assert parsed.references == ("root@host", "parent@host")
    assert parsed.date is not None and parsed.date.tzinfo == UTC
    assert parsed.list_id == "dev.lists.example.org"
    assert parsed.thread_index == "AdpuJ0AXg1jF3Q=="
    assert parsed.auto_reason is None


def test_missing_or_broken_headers_have_empty_values() -> None:
    parsed = parse_message(mail("From: a@example.org\nDate: the day after tomorrow"))
    assert (parsed.subject, parsed.date, parsed.message_id, parsed.to) == ("", None, None, ())


def test_no_sender_is_refused_with_a_readable_reason() -> None:
    with pytest.raises(MalformedMail, match="no From"):
        parse_message(mail("To: a@example.org\nSubject: who?"))
    with pytest.raises(MalformedMail, match="usable email address"):
        parse_message(mail("From: MAILER-DAEMON (Mail Delivery System)"))
    with pytest.raises(MalformedMail, match="empty"):
        parse_message(b"  \r\n")


def test_sender_header_stands_in_for_an_unusable_from() -> None:
    parsed = parse_message(mail("From: undisclosed\nSender: Real Person <real@example.org>"))
    assert (parsed.from_addr, parsed.from_name) == ("real@example.org", "Real Person")


def test_list_rewritten_from_is_undone() -> None:
    parsed = parse_message(
        mail(
            "From: 'Ann Example' via Developers <dev@lists.example.org>\n"
            "Reply-To: ann@example.org\nList-Id: <dev.lists.example.org>"
        )
    )
    assert (parsed.from_addr, parsed.from_name) == ("ann@example.org", "Ann Example")


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ("Auto-Submitted: auto-replied", "Auto-Submitted: auto-replied"),
        ("Auto-Submitted: no", None),
        ("Precedence: bulk", "Precedence: bulk"),
        ("X-Autoreply: yes", "x-autoreply: yes"),
        ("X-Auto-Response-Suppress: All", "X-Auto-Response-Suppress: All"),
        ("X-Auto-Response-Suppress: OOF, AutoReply", None),
        ("Subject: Out of Office: back Monday", "automatic reply subject"),
        ("Content-Type: multipart/report; report-type=delivery-status; boundary=x", "bounce"),
        ("Content-Type: multipart/report; report-type=disposition-notification; boundary=x", "read receipt"),
    ],
)
def test_automatic_messages_are_recognised(headers: str, reason: str | None) -> None:
    assert parse_message(mail(f"From: a@example.org\n{headers}")).auto_reason == reason


def test_bounces_from_the_mailer_daemon_are_recognised() -> None:
    assert parse_message(mail("From: MAILER-DAEMON@mx.example.org")).auto_reason == "bounce"


def test_format_flowed_paragraphs_are_joined() -> None:
    body = "This is a long \nparagraph.\n> quoted and \n> flowed\n-- \nsig\n"
    raw = mail("From: a@example.org\nContent-Type: text/plain; format=flowed", body)
    assert parse_message(raw).text == "This is a long paragraph.\n> quoted and flowed\n-- \nsig"


def test_message_without_body_still_parses() -> None:
    parsed = parse_message(b"From: a@example.org\r\nSubject: nothing\r\n")
    assert (parsed.text, parsed.html, parsed.attachments) == ("", None, ())


def test_arbitrary_bytes_never_raise_anything_but_malformed_mail() -> None:
    rng = random.Random(1234)
    seeds = [mail("From: a@example.org\nContent-Type: multipart/mixed; boundary=b", b"--b\r\n\r\nx\r\n--b--")]
    for _ in range(300):
        sample = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 20)):
            sample[rng.randrange(len(sample))] = rng.randrange(256)
        blob = bytes(sample) if rng.random() < 0.8 else rng.randbytes(rng.randint(1, 400))
        try:
            parse_message(blob)
        except MalformedMail as refusal:
            assert str(refusal)


def test_headers_naming_another_author_are_read_only_in_list_mail() -> None:
    """Anyone can write X-Original-From and Reply-To: without a list server's marks, the
    From line is the author (whose domain is then the one checked)."""
    forged = (
        b"From: Mallory <mallory@evil.example>\r\nX-Original-From: Alice <alice@council.example>\r\n"
        b"Reply-To: Alice <alice@council.example>\r\nSubject: x\r\n\r\nhello\r\n"
    )
    assert parse_headers(forged).from_addr == "mallory@evil.example"
    listed = forged.replace(b"Subject:", b"List-Id: <council.lists.example.org>\r\nSubject:")
    assert parse_headers(listed).from_addr == "alice@council.example"
