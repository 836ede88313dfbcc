"""Text to HTML: whatever a sender writes, what reaches a reader's browser cannot run code."""

from __future__ import annotations

import pytest

from forum.text import markdown_to_html, markdown_to_text, sanitize, text_to_html


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
    html = ('<p><strong>Agenda</strong> for <em>Monday</em>:</p><ul><li>roof</li></ul>'
            '<blockquote>quoted</blockquote><a href="https://example.org/minutes">minutes</a>'
            '<span style="color: red;">urgent</span>')
    assert sanitize(html) == html


def test_markdown_renders_and_sanitizes() -> None:
    html = markdown_to_html("# Agenda\n\n**roof** and [minutes](https://example.org/m)\n\n"
                            "| item | who |\n|---|---|\n| roof | Ann |\n\n<b onclick=x>raw</b> [bad](javascript:steal())")
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
        ("# Grants\n\nSee [the page](https://council.example/g).", "Grants\n\nSee the page <https://council.example/g>."),
        ("Mail <ann@council.example> or <https://council.example>", "Mail ann@council.example or https://council.example"),
        ("![Council logo](https://council.example/logo.png)", "Council logo <https://council.example/logo.png>"),
        ("Use `rent --all` then\\\nstop. \\*Not\\* emphasis &amp; more", "Use rent --all then\nstop. *Not* emphasis & more"),
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
