"""Text to HTML: whatever a sender writes, what reaches a reader's browser cannot run code."""

from __future__ import annotations

import time

import pytest

from forum.text import (
    MAX_HTML_CHARS,
    html_as_text,
    html_within_bounds,
    markdown_to_html,
    markdown_to_text,
    sanitize,
    text_to_html,
)


@pytest.mark.parametrize(
    ("untrusted", "forbidden"),
    [
        ("<p>hi<script>alert(1)</script></p>", "alert"),
        ("<SCRIPT type='text/javascript'>steal()</SCRIPT >", "steal"),
        ("<style>body { display: none }</style><p>x</p>", "display"),
        ('<p onclick="steal()">x</p>', "onclick"),
        ('<img src="x.png" onerror="steal()">', "onerror"),
        ('<a href="javascript:steal()">click</a>', "javascript"),
        ('<a href="JaVaScRiPt:steal()">click</a>', "steal"),
        ('<a href="data:text/html;base64,PHNjcmlwdD4=">x</a>', "data:"),
        ('<form action="https://evil.example/"><input name="password"></form>', "<form"),
        ('<form action="https://evil.example/"><input name="password"></form>', "<input"),
        ('<iframe src="https://evil.example/"></iframe>', "<iframe"),
        ('<p style="position: fixed; top: 0">overlay</p>', "position"),
        ("<!-- <script>steal()</script> -->", "steal"),
    ],
)
def test_sanitize_removes_active_content(untrusted: str, forbidden: str) -> None:
    assert forbidden.lower() not in sanitize(untrusted).lower()


def test_sanitize_keeps_ordinary_formatting() -> None:
    html = (
        "<p><strong>Agenda</strong> for <em>Monday</em>:</p><ul><li>roof</li></ul>"
        '<blockquote>quoted</blockquote><a href="https://example.org/minutes">minutes</a>'
        '<span style="color: red;">urgent</span>'
    )
    assert sanitize(html) == html


def test_markdown_renders_and_sanitizes() -> None:
    html = markdown_to_html(
        "# Agenda\n\n**roof** and [minutes](https://example.org/m)\n\n"
        "| item | who |\n|---|---|\n| roof | Ann |\n\n<b onclick=x>raw</b> [bad](javascript:steal())"
    )
    assert "<h1>Agenda</h1>" in html
    assert '<strong>roof</strong> and <a href="https://example.org/m">minutes</a>' in html
    assert "<td>roof</td>" in html
    assert "<b" not in html and "&lt;b onclick=x&gt;" in html  # raw HTML in Markdown is shown, not run
    assert 'href="javascript' not in html


def test_text_to_html_links_urls_and_escapes_html() -> None:
    html = text_to_html("See https://example.org/a?b=1&c=2 <script>x</script>\nsecond line\n\nnext paragraph")
    assert '<a href="https://example.org/a?b=1&amp;c=2">https://example.org/a?b=1&amp;c=2</a>' in html
    assert "&lt;script&gt;x&lt;/script&gt;" in html
    assert "<br>\nsecond line</p>" in html
    assert html.count("<p>") == 2


def test_text_to_html_of_empty_text_is_empty() -> None:
    assert text_to_html("  \n\n ") == ""


@pytest.mark.parametrize(
    ("markdown", "text"),
    [
        ("Is the **boiler** scheme _open_? ~~No~~", "Is the boiler scheme open? No"),
        (
            "# Grants\n\nSee [the page](https://council.example/g).",
            "Grants\n\nSee the page <https://council.example/g>.",
        ),
        (
            "Mail <ann@council.example> or <https://council.example>",
            "Mail ann@council.example or https://council.example",
        ),
        ("![Council logo](https://council.example/logo.png)", "Council logo <https://council.example/logo.png>"),
        (
            "Use `rent --all` then\\\nstop. \\*Not\\* emphasis &amp; more",
            "Use rent --all then\nstop. *Not* emphasis & more",
        ),
        ("- one\n- two\n  1. inner\n\n5. five\n6. six", "- one\n- two\n  1. inner\n\n5. five\n6. six"),
        ("> quoted **text**\n>\n> > deeper", "> quoted text\n>\n> > deeper"),
        ("```\ncode *kept*\n  as is\n```", "    code *kept*\n      as is"),
        ("| Area | Rent |\n|---|---|\n| North | £95 |", "Area | Rent\nNorth | £95"),
        ("Above\n\n---\n\nBelow <b>raw</b>", "Above\n\n* * *\n\nBelow <b>raw</b>"),
    ],
)
def test_markdown_to_text_reads_as_text(markdown: str, text: str) -> None:
    """What plain-text mail, digests and chat show of a web post: no markup, links with their address."""
    assert markdown_to_text(markdown) == text


@pytest.mark.parametrize(
    "hostile",
    [
        "<div>" * 20_000 + "deep",  # nested past any message's depth
        "<b><i><u><span><em>" * 20_000 + "deep",  # inline tags never closed
        "<b>x</p>" * 20_000 + "deep",  # an end tag closes only its own kind
        "<div>x</div>" * 4_000 + "deep",  # more elements than any message's
        "<p>" + "deep " * (MAX_HTML_CHARS // 5),  # longer than any message's
    ],
)
def test_html_past_the_bounds_is_shown_as_its_text_in_good_time(hostile: str) -> None:
    started = time.monotonic()
    shown = sanitize(hostile)
    assert time.monotonic() - started < 1
    assert "deep" in shown and "<div" not in shown and "<b>" not in shown


def test_ordinary_html_is_within_the_bounds() -> None:
    outlook = (
        "<html><!--[if gte mso 9]><xml>" + "<w:LsdException Locked='false'/>" * 400 + "</xml><![endif]-->"
        "<body><div class=WordSection1>" + "<p class=MsoNormal><span>Words.</span></p>" * 1000 + "</div>"
    )
    assert html_within_bounds(outlook)
    assert not html_within_bounds("<div>" * 101)
    assert html_within_bounds("<div></div>" * 100 + "<p>" * 1000)


def test_unclosed_script_and_style_are_dropped_to_the_end_in_linear_time() -> None:
    started = time.monotonic()
    assert html_as_text("<p>kept</p>" + "<style>" * 50_000) == "kept"
    assert time.monotonic() - started < 1
    assert html_as_text("a<script>x</script>b<style>y</STYLE >c") == "abc"


def test_html_as_text_keeps_line_breaks_and_entities() -> None:
    assert html_as_text("<p>Fish &amp; chips</p><div>two</div>three<br>four") == "Fish & chips\n\ntwo\nthree\nfour"
