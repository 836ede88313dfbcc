"""Hand-written trimming cases for what the corpus shows poorly."""

from __future__ import annotations

import time

import pytest

from mailgateway.text.htmltext import html_to_text
from mailgateway.text.reply_lines import is_attribution_line
from mailgateway.text.trimming import MAX_TRIMMED_CHARS, Trimmed, trim_html, trim_reply

QUOTE = "\n\n> The build fails on main.\n> Any idea?\n"


@pytest.mark.parametrize(
    "attribution",
    [
        "On Mon, Mar 4, 2024 at 10:15 AM Ann Example <ann@example.org> wrote:",
        "On 4 Mar 2024, at 10:15, Ann Example <ann@example.org> wrote:",
        "Le lun. 4 mars 2024 à 10:15, Ann Example <ann@example.org> a écrit :",
        "Am Mo., 4. März 2024 um 10:15 Uhr schrieb Ann Example <ann@example.org>:",
        "El lun, 4 mar 2024 a las 10:15, Ann Example (<ann@example.org>) escribió:",
        "Il giorno lun 4 mar 2024 alle ore 10:15 Ann Example <ann@example.org> ha scritto:",
        "Op ma 4 mrt 2024 om 10:15 schreef Ann Example <ann@example.org>:",
        "Em seg., 4 de mar. de 2024 às 10:15, Ann Example <ann@example.org> escreveu:",
        "Den mån 4 mars 2024 kl 10:15 skrev Ann Example <ann@example.org>:",
        "man. 4. mar. 2024 kl. 10.15 skrev Ann Example <ann@example.org>:",
        "pon., 4 mar 2024 o 10:15 Ann Example <ann@example.org> napisał(a):",
        "пн, 4 мар. 2024 г. в 10:15, Ann Example <ann@example.org>:",
        "2024年3月4日(月) 10:15 Ann Example <ann@example.org>:",
        "在 2024年3月4日，10:15，Ann Example <ann@example.org> 写道：",
        "* Ann Example <ann@example.org> [2024-03-04 10:15]:",
        "-----Original Message-----",
        "-------- Weitergeleitete Nachricht --------",
        "Begin forwarded message:",
    ],
)
def test_attributions_in_many_languages_are_trimmed(attribution: str) -> None:
    assert is_attribution_line(attribution)
    result = trim_reply(f"Works for me now.\n\n{attribution}{QUOTE}")
    assert result.body == "Works for me now."
    assert "Any idea?" in result.elided


def test_attribution_wrapped_over_lines_is_recognised() -> None:
    text = "Agreed.\n\nOn Mon, Mar 4, 2024 at 10:15 AM Ann Example <\nann@example.org> wrote:\n" + QUOTE
    assert trim_reply(text).body == "Agreed."


@pytest.mark.parametrize(
    "headers",
    [
        "From: Ann Example\nSent: Monday, March 4, 2024 10:15 AM\nTo: dev@lists.example.org\nSubject: Re: build",
        "Von: Ann Example\nGesendet: Montag, 4. März 2024 10:15\nAn: dev@lists.example.org\nBetreff: AW: build",
        "De : Ann Example\nEnvoyé : lundi 4 mars 2024 10:15\nÀ : dev@lists.example.org\nObjet : RE: build",
        "*From:* Ann Example\n*Sent:* Monday, March 4, 2024 10:15 AM\n*To:* dev\n*Subject:* build",
    ],
)
def test_outlook_header_blocks_are_trimmed(headers: str) -> None:
    text = f"Thanks!\n\n________________________________\n{headers}\n\nThe original message.\n"
    assert trim_reply(text).body == "Thanks!"
    assert trim_reply(f"Thanks!\n\n{headers}\n\nThe original message.\n").body == "Thanks!"


@pytest.mark.parametrize(
    "opening", ["-----Original Message-----", "________________________________", "-----Ursprüngliche Nachricht-----"]
)
def test_an_outlook_quote_with_nothing_typed_above_is_all_quote(opening: str) -> None:
    """The text under the quoted headers is the mail quoted, not a reply below it."""
    headers = "From: Ann Example <ann@example.org>\nSent: Monday, March 4, 2024 10:15 AM\nTo: dev\nSubject: build"
    result = trim_reply(f"\n\n{opening}\n{headers}\n\nThe original message.\n\nAnn\n")
    assert result.body == ""
    assert "The original message." in result.quoted and "From: Ann Example" in result.quoted


def test_a_forward_with_nothing_typed_keeps_what_it_forwards() -> None:
    text = (
        "---------- Forwarded message ---------\nFrom: Ombudsman <news@ombudsman.example>\n"
        "Date: Mon, 30 Nov 2026 at 16:02\nSubject: Spotlight report\nTo: <bob@example.org>\n\n"
        "Dear colleague,\n\nOur spotlight report is out.\n"
    )
    assert "Our spotlight report is out." in trim_reply(text).body


@pytest.mark.parametrize(
    "signature",
    [
        "Sent from my iPhone",
        "Get Outlook for iOS<https://aka.ms/o0ukef>",
        "Sent from Mail<https://go.microsoft.com/fwlink/?LinkId=550986> for Windows",
        "Envoyé de mon iPhone",
        "Von meinem iPhone gesendet",
        "Enviado desde mi Samsung Galaxy",
        "Sent from my Pixel 8, please excuse my brevity.",
    ],
)
def test_mobile_signatures_are_removed(signature: str) -> None:
    assert trim_reply(f"Sounds good.\n\n{signature}\n").body == "Sounds good."


def test_dash_dash_signature_is_removed() -> None:
    result = trim_reply("Sounds good.\n\n-- \nAnn Example\nhttps://example.org\n")
    assert result == Trimmed(
        "Sounds good.", "-- \nAnn Example\nhttps://example.org", signature="Ann Example\nhttps://example.org", quoted=""
    )


def test_the_senders_signature_is_told_apart_from_the_mail_quoted_under_it() -> None:
    result = trim_reply(
        "Sounds good.\n\n-- \nAnn Example\nHousing Team\n\n"
        "On Mon, 2 Mar 2026 at 10:00, Bob <bob@example.org> wrote:\n> Shall we meet?\n> -- \n> Bob\n"
    )
    assert result.body == "Sounds good."
    assert result.signature == "Ann Example\nHousing Team"
    assert result.quoted.startswith("On Mon, 2 Mar 2026") and result.quoted.endswith("> Bob")


def test_a_mobile_signature_is_the_senders_signature() -> None:
    result = trim_reply(
        "Yes, Tuesday works.\n\nSent from my iPhone\n\n> On 2 Mar 2026, at 10:00, Bob wrote:\n> Tuesday?\n"
    )
    assert (result.body, result.signature) == ("Yes, Tuesday works.", "Sent from my iPhone")
    assert "Sent from my iPhone" not in result.quoted and "Tuesday?" in result.quoted


def test_inline_reply_keeps_the_quotes_it_answers() -> None:
    text = (
        "On Mon, Mar 4, 2024 at 10:15 AM Ann <ann@example.org> wrote:\n"
        "> Is the build fixed?\n\nYes, since this morning.\n\n> And the docs?\n\nNot yet.\n"
    )
    assert trim_reply(text).body == "> Is the build fixed?\n\nYes, since this morning.\n\n> And the docs?\n\nNot yet."


def test_prose_that_looks_like_markers_is_kept() -> None:
    text = (
        "Release notes\n=============\n\n"
        "Subject: the agenda for Monday\n\n"
        "On this day I wrote something\nwhich was very interesting.\n\n"
        "I updated the doc at 10:30 as Bob wrote\nand pushed it.\n\n"
        "From my point of view it is fine. Go to Settings>Privacy to check.\n\n"
        "| name | value |\n|------|-------|\n| a    | 1     |\n"
    )
    assert trim_reply(text).body == text.strip()


def test_reply_above_marker_cuts_the_notification_below() -> None:
    text = "My answer.\n\n## Please type your reply above this line. ##\n\nPrevious discussion"
    assert trim_reply(text).body == "My answer."


def test_empty_input() -> None:
    assert trim_reply("") == Trimmed("", "")
    assert trim_reply(" \n\t\n") == Trimmed("", "")


def test_crlf_and_pgp_armour() -> None:
    text = (
        "-----BEGIN PGP SIGNED MESSAGE-----\r\nHash: SHA256\r\n\r\nSigned words.\r\n"
        "-----BEGIN PGP SIGNATURE-----\r\n\r\niQEz\r\n-----END PGP SIGNATURE-----\r\n"
    )
    assert trim_reply(text).body == "Signed words."


APPLE_REPLY = """\
<html><body><div>Yes, ship it.</div><div><br><blockquote type="cite">
<div>On 4 Mar 2024, at 10:15, Ann Example &lt;ann@example.org&gt; wrote:</div><br>
<div>Ship it?</div></blockquote></div></body></html>"""

THUNDERBIRD_REPLY = """\
<p>Fine by me.</p>
<div class="moz-cite-prefix">On 04/03/2024 10:15, Ann Example wrote:<br></div>
<blockquote type="cite" cite="mid:abc@example.org">Fine?</blockquote>"""

OUTLOOK_DESKTOP_REPLY = """\
<div class="WordSection1"><p class="MsoNormal">Approved.</p>
<div style="border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm">
<p class="MsoNormal"><b>From:</b> Ann Example &lt;ann@example.org&gt;<br><b>Sent:</b> Monday,
March 4, 2024 10:15<br><b>To:</b> dev<br><b>Subject:</b> approval</p></div>
<p class="MsoNormal">Please approve.</p></div>"""

YAHOO_REPLY = """\
<div>Will do.</div><div class="yahoo_quoted"><div>On Monday, March 4, 2024, 10:15:00 AM GMT,
Ann &lt;ann@example.org&gt; wrote:</div><div>Please do.</div></div>"""

THUNDERBIRD_SIGNATURE = """\
<p>Shared their spec.</p><div class="moz-signature">-- <br>Dave Patel<br>Riverside HA</div>"""

ORIGINAL_MESSAGE_REPLY = """\
<p>Noted.</p><p>-----Original Message-----<br>From: Ann<br>Sent: Monday</p><p>Note this.</p>"""


@pytest.mark.parametrize(
    ("html", "new_text", "gone"),
    [
        (APPLE_REPLY, "Yes, ship it.", "Ship it?"),
        (THUNDERBIRD_REPLY, "Fine by me.", "Fine?"),
        (OUTLOOK_DESKTOP_REPLY, "Approved.", "Please approve."),
        (YAHOO_REPLY, "Will do.", "Please do."),
        (ORIGINAL_MESSAGE_REPLY, "Noted.", "Note this."),
        (THUNDERBIRD_SIGNATURE, "Shared their spec.", "--"),
    ],
    ids=["apple", "thunderbird", "outlook-desktop", "yahoo", "original-message", "thunderbird-signature"],
)
def test_trim_html_removes_quote_containers(html: str, new_text: str, gone: str) -> None:
    trimmed = trim_html(html)
    assert gone not in trimmed
    assert html_to_text(trimmed) == new_text
    assert gone in html_to_text(html)


def test_trim_html_keeps_a_plain_blockquote_the_author_wrote() -> None:
    html = "<p>As the manual says:</p><blockquote>Measure twice.</blockquote><p>So do that.</p>"
    assert html_to_text(trim_html(html)) == "As the manual says:\n\n> Measure twice.\n\nSo do that."


def test_html_to_text_lists_links_and_breaks() -> None:
    html = (
        "<p>Steps:</p><ol><li>Clone <a href='https://example.org/repo'>the repo</a></li>"
        "<li>Run <code>make</code></li></ol><ul><li>note</li></ul>line one<br>line two"
        "<script>alert(1)</script><p>Mail <a href='mailto:ann@example.org'>ann@example.org</a></p>"
    )
    assert html_to_text(html) == (
        "Steps:\n\n1. Clone the repo (https://example.org/repo)\n2. Run make\n\n- note\n\n"
        "line one\nline two\n\nMail ann@example.org"
    )


def test_a_patch_mail_starting_with_a_dashed_line_keeps_its_body() -> None:
    patch = "---\n notmuch-new.c | 30 +++---\n 1 files changed\n\ndiff --git a/x b/x\n+added line\n"
    trimmed = trim_reply(patch)
    assert "diff --git a/x b/x" in trimmed.body and "+added line" in trimmed.body


def test_a_text_past_the_bound_is_kept_whole_and_read_quickly() -> None:
    quote = "\nOn Mon, Bob wrote:\n> Any news?\n"
    under = "Pasted data.\n" * ((MAX_TRIMMED_CHARS - len(quote)) // 13)
    assert trim_reply(under + quote).quoted == "> Any news?"
    over = "Pasted data.\n" * (MAX_TRIMMED_CHARS // 13 + 1)
    assert trim_reply((over + quote).replace("\n", "\r\n")) == Trimmed((over + quote).strip(), "")
    huge = "Words of a very long post, in lines of seventy-two characters at most.\n" * 360_000  # 25 MiB
    started = time.perf_counter()
    assert trim_reply(huge).body == huge.strip()
    assert time.perf_counter() - started < 1
