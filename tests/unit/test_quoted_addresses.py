"""Addresses in quoted header blocks and attributions are taken out; names, and addresses
people typed in their own words, stay."""

from __future__ import annotations

import pytest

from mailgateway.text.quoted_addresses import HIDDEN, hide_quoted_addresses, hide_quoted_addresses_html


@pytest.mark.parametrize(
    ("line", "shown"),
    [
        ("From: Alice Adviser <alice@council.example>", "From: Alice Adviser"),
        ('From: "Adviser, Alice" <alice@council.example>', 'From: "Adviser, Alice"'),
        ("From: Alice Adviser [mailto:alice@council.example]", "From: Alice Adviser"),
        ("To: Bob <bob@council.example>; carol@council.example", f"To: Bob; {HIDDEN}"),
        ("Cc: <dave@council.example>", f"Cc: {HIDDEN}"),
        ("Von: Alice Adviser <alice@council.example>", "Von: Alice Adviser"),
        ("> *From:* Alice Adviser <alice@council.example>", "> *From:* Alice Adviser"),
        (
            "On Tue, 1 Dec 2026 at 09:00, Alice <alice@council.example> wrote:",
            "On Tue, 1 Dec 2026 at 09:00, Alice wrote:",
        ),
        (
            "> Le mar. 1 déc. 2026 à 09:00, Alice <alice@council.example> a écrit :",
            "> Le mar. 1 déc. 2026 à 09:00, Alice a écrit :",
        ),
    ],
)
def test_quoted_headers_and_attributions_lose_their_addresses(line: str, shown: str) -> None:
    assert hide_quoted_addresses(f"Thanks.\n\n{line}\nSubject: Damp\n") == f"Thanks.\n\n{shown}\nSubject: Damp\n"


def test_addresses_in_ones_own_words_stay() -> None:
    text = "Write to me at alice@council.example, or to Bob <bob@council.example>."
    assert hide_quoted_addresses(text) == text


def test_html_header_blocks_and_attributions_lose_their_addresses_and_mailto_links() -> None:
    html = (
        '<p>Agreed, see below.</p><p>Mail <a href="mailto:alice@council.example">me</a> at alice@council.example</p>'
        '<p><b>From:</b> Alice Adviser &lt;<a href="mailto:alice@council.example">alice@council.example</a>&gt;'
        "<br><b>Sent:</b> 01 December 2026 09:00<br><b>To:</b> bob@council.example<br><b>Subject:</b> Damp</p>"
        '<div>On Tue, 1 Dec 2026 at 09:00, Carol &lt;<a href="mailto:carol@council.example">'
        "carol@council.example</a>&gt; wrote:<br></div><blockquote>Who has a surveyor?</blockquote>"
    )
    shown = hide_quoted_addresses_html(html)
    assert "<b>From:</b> Alice Adviser<br/>" in shown and f"<b>To:</b> {HIDDEN}<br/>" in shown
    assert "On Tue, 1 Dec 2026 at 09:00, Carol wrote:" in shown and "carol@" not in shown
    assert '<p>Mail <a href="mailto:alice@council.example">me</a> at alice@council.example</p>' in shown
    assert shown.count("alice@council.example") == 2 and "bob@" not in shown


def test_html_without_quoted_addresses_is_returned_as_it_was() -> None:
    html = "<p>Mail me at <a href='mailto:alice@council.example'>alice@council.example</a></p>"
    assert hide_quoted_addresses_html(html) is html
