"""Members' addresses in the mail a reply quotes, taken out of what is shown.

A reply quotes the mail it answers under that mail's header block ("From: Alice Adviser
<alice@council.example>", "Sent: …", "To: …", as Outlook writes it) or an attribution
("On 1 Dec 2026, Alice <alice@council.example> wrote:", as Gmail does). The archive shows
the quote behind "Show quoted text", and the quote itself where it stays in the post (an
interleaved reply, HTML whose quote no marker gives away); members' addresses are never
shown to other members unless they choose. So on those lines only, an address beside a
name is dropped and one standing alone is replaced: the names stay, and so does an address
someone typed in their own words, theirs to show.
"""

from __future__ import annotations

import re

from bs4 import BeautifulSoup, NavigableString, Tag

from mailgateway.text.reply_lines import is_attribution_line, is_header_line

__all__ = ["HIDDEN", "hide_quoted_addresses", "hide_quoted_addresses_html"]

HIDDEN = "(address hidden)"
_ADDRESS = r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+"
# "<alice@…>", "[mailto:alice@…]", "(alice@…)", with the space before it.
_BESIDE_NAME = re.compile(rf"[ \t]*(?:<|\[|\()[ \t]*(?:mailto:)?{_ADDRESS}[ \t]*(?:>|\]|\))", re.I)
_ALONE = re.compile(rf"(?<![\w.+'-])(?:mailto:)?{_ADDRESS}", re.I)
_QUOTE_PREFIX = re.compile(r"^[ \t]*(?:>[ \t]?)*")
_LINE_BREAKING = frozenset(
    {
        "br",
        "p",
        "div",
        "td",
        "th",
        "tr",
        "li",
        "blockquote",
        "table",
        "tbody",
        "thead",
        "ul",
        "ol",
        "dl",
        "dt",
        "dd",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "pre",
        "hr",
        "section",
        "article",
        "header",
        "footer",
        "body",
        "html",
    }
)


def _quotes_someone(line: str) -> bool:
    """A header line of a quoted mail, or an attribution ("On … wrote:")."""
    content = line[len(_QUOTE_PREFIX.match(line).group()) :].strip()  # type: ignore[union-attr]
    return "@" in content and (is_header_line(content) or is_attribution_line(content))


def _without_addresses(line: str) -> str:
    return _ALONE.sub(HIDDEN, _BESIDE_NAME.sub(_beside_name, line))


def _beside_name(match: re.Match[str]) -> str:
    """Nothing after a name; after a label or a separator ("To: <bob@…>"), :data:`HIDDEN`."""
    before = match.string[: match.start()].rstrip()
    if before and before[-1] not in ":;,":
        return ""
    return match.group()[: len(match.group()) - len(match.group().lstrip())] + HIDDEN


def hide_quoted_addresses(text: str) -> str:
    """Plain text with the addresses of quoted header blocks and attributions taken out."""
    if not text or "@" not in text:
        return text
    lines = text.split("\n")
    changed = [_without_addresses(line) if _quotes_someone(line) else line for line in lines]
    return "\n".join(changed) if changed != lines else text


def hide_quoted_addresses_html(html: str) -> str:
    """The same for HTML: on each line (between breaks and blocks) that is a quoted header
    or an attribution, ``mailto:`` links become their text and addresses are taken out."""
    if not html or "@" not in html:
        return html
    soup = BeautifulSoup(html, "html.parser")
    found = False
    for anchor in soup.find_all("a", href=re.compile(r"^\s*mailto:", re.I)):
        if isinstance(anchor, Tag) and _quotes_someone(_line_of(anchor)):
            anchor.replace_with(NavigableString(anchor.get_text()))
            found = True
    soup.smooth()
    for string in soup.find_all(string=_ALONE):
        if type(string) is NavigableString and _quotes_someone(_line_of(string)):
            string.replace_with(NavigableString(_without_addresses(str(string))))
            found = True
    return str(soup) if found else html


def _line_of(node: Tag | NavigableString) -> str:
    """The text of the line ``node`` is on: from the break or block before it to the next."""
    block = node.parent
    while isinstance(block, Tag) and block.name not in _LINE_BREAKING and block.parent is not None:
        block = block.parent
    if not isinstance(block, Tag):
        return str(node)
    before: list[str] = []
    after: list[str] = []
    current = before
    inside = {id(d) for d in node.descendants} if isinstance(node, Tag) else set()
    for item in block.descendants:
        if item is node:
            current = after
            before.append(node.get_text() if isinstance(node, Tag) else str(node))
            continue
        if id(item) in inside:
            continue
        if isinstance(item, Tag) and item.name in _LINE_BREAKING:
            if current is after:
                break
            before.clear()
        elif isinstance(item, NavigableString) and type(item) is NavigableString:
            current.append(str(item))
    return "".join(before + after)
