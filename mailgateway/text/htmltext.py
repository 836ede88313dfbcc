"""HTML mail bodies: readable plain text, and removal of quoted-reply containers.

Many clients send HTML only.  The gateway needs plain text that reads like
what the sender saw (paragraphs, lists, links with their address, quoted
blocks as "> " lines so the reply trimmer recognises them), and, for HTML
posts, the HTML of the new part only.  Both work on the parsed tree from
BeautifulSoup with the pure-Python "html.parser" backend, which accepts any
tag soup without raising.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from bs4 import BeautifulSoup, Comment, Doctype, NavigableString, Tag

from forum.text import is_tracking_pixel

__all__ = ["cut_at_text", "drop_tracking_pixels", "html_to_text", "strip_quote_containers", "text_upto"]

_DROPPED_TAGS = frozenset(
    {"head", "script", "style", "title", "meta", "link", "noscript", "template", "object", "iframe"}
)
_PARAGRAPH_TAGS = frozenset(
    {"p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "dl", "table", "pre", "address", "figure"}
)
_BLOCK_TAGS = frozenset(
    {
        "div",
        "section",
        "article",
        "header",
        "footer",
        "nav",
        "aside",
        "main",
        "center",
        "form",
        "fieldset",
        "tr",
        "dt",
        "dd",
        "caption",
        "tbody",
        "thead",
        "tfoot",
        "body",
        "html",
        "details",
        "summary",
        "figcaption",
    }
)
_CELL_TAGS = frozenset({"td", "th"})
# What Outlook's own plain-text version shows for a horizontal rule.
_RULE = "_" * 32
_WHITESPACE_RE = re.compile(r"[ \t\n\r\f\v\u200b]+")
_MANY_NEWLINES_RE = re.compile(r"\n{3,}")
_LINK_SCHEMES = ("http://", "https://", "ftp://", "mailto:")
# Python's recursion limit is 1000 frames and each level of markup costs a few.
_MAX_DEPTH = 150


class _TextBuilder:
    """Accumulates inline text and block breaks without piling up blank lines."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._pending_breaks = 0

    def inline(self, text: str, keep_spaces: bool = False) -> None:
        """Append text; spaces at the start of a line are dropped unless they matter."""
        if not text:
            return
        self._flush_breaks()
        if not keep_spaces:
            if self._at_line_start():
                text = text.lstrip(" ")
            elif text.startswith(" ") and self._parts[-1].endswith(" "):
                text = text[1:]
        if text:
            self._parts.append(text)

    def hard_break(self) -> None:
        """A <br>: always a new line, even several in a row."""
        self._flush_breaks()
        self._parts.append("\n")

    def block_break(self, newlines: int) -> None:
        if self._parts:
            self._pending_breaks = max(self._pending_breaks, newlines - self._trailing_newlines())

    def _flush_breaks(self) -> None:
        if self._pending_breaks and self._parts:
            self._parts.append("\n" * self._pending_breaks)
        self._pending_breaks = 0

    def _trailing_newlines(self) -> int:
        tail = "".join(self._parts[-3:])
        return len(tail) - len(tail.rstrip("\n"))

    def _at_line_start(self) -> bool:
        return not self._parts or self._parts[-1].endswith("\n")

    def text(self) -> str:
        return "".join(self._parts)


def _comparable_target(text: str) -> str:
    text = text.strip().lower()
    for scheme in _LINK_SCHEMES:
        if text.startswith(scheme):
            text = text[len(scheme) :]
    return text.rstrip("/")


def _link_suffix(anchor: Tag, label: str) -> str:
    """ " (url)" after a link's text, unless the text already is the address."""
    href = str(anchor.get("href") or "").strip()
    if not href.lower().startswith(_LINK_SCHEMES):
        return ""
    target = href[len("mailto:") :] if href.lower().startswith("mailto:") else href
    if not label.strip():
        return target
    if _comparable_target(label) == _comparable_target(href):
        return ""
    return f" ({target})"


def _render_children(node: Tag, out: _TextBuilder, preformatted: bool, depth: int) -> None:
    if depth > _MAX_DEPTH:
        # Absurdly deep markup (hostile or broken) is flattened rather than
        # walked recursively.
        out.inline(_WHITESPACE_RE.sub(" ", node.get_text(" ")))
        return
    for child in node.children:
        _render(child, out, preformatted, depth + 1)


def _render_nested(node: Tag, preformatted: bool, depth: int) -> str:
    nested = _TextBuilder()
    _render_children(node, nested, preformatted, depth)
    return _finish(nested.text())


def _render(node: object, out: _TextBuilder, preformatted: bool, depth: int) -> None:
    if isinstance(node, (Comment, Doctype)):
        return
    if isinstance(node, NavigableString):
        text = str(node)
        if preformatted:
            out.inline(text, keep_spaces=True)
        else:
            out.inline(_WHITESPACE_RE.sub(" ", text))
        return
    if not isinstance(node, Tag) or node.name in _DROPPED_TAGS:
        return
    _render_tag(node, out, preformatted, depth)


def _render_tag(node: Tag, out: _TextBuilder, preformatted: bool, depth: int) -> None:
    name = node.name
    if name == "br":
        out.hard_break()
    elif name == "hr":
        out.block_break(1)
        out.inline(_RULE)
        out.block_break(1)
    elif name == "img":
        alt = str(node.get("alt") or "").strip()
        if alt:
            out.inline(f"[image: {alt}]")
    elif name == "a":
        label = _render_nested(node, preformatted, depth)
        out.inline(label + _link_suffix(node, label))
    elif name == "blockquote":
        _render_prefixed_block(_render_nested(node, preformatted, depth), "> ", ">", out)
    elif name == "li":
        _render_list_item(node, out, preformatted, depth)
    elif name in _CELL_TAGS:
        out.inline(" ")
        _render_children(node, out, preformatted, depth)
        out.inline(" ")
    elif name in _PARAGRAPH_TAGS:
        out.block_break(2)
        _render_children(node, out, preformatted or name == "pre", depth)
        out.block_break(2)
    elif name in _BLOCK_TAGS:
        out.block_break(1)
        _render_children(node, out, preformatted, depth)
        out.block_break(1)
    else:
        _render_children(node, out, preformatted, depth)


def _render_list_item(node: Tag, out: _TextBuilder, preformatted: bool, depth: int) -> None:
    parent = node.parent
    if isinstance(parent, Tag) and parent.name == "ol":
        number = 1 + sum(1 for s in node.previous_siblings if isinstance(s, Tag) and s.name == "li")
        marker = f"{number}. "
    else:
        marker = "- "
    content = _render_nested(node, preformatted, depth)
    out.block_break(1)
    lines = content.split("\n") if content else [""]
    indent = " " * len(marker)
    out.inline(marker + lines[0])
    for line in lines[1:]:
        out.hard_break()
        out.inline(indent + line if line else "", keep_spaces=True)
    out.block_break(1)


def _render_prefixed_block(content: str, prefix: str, empty_prefix: str, out: _TextBuilder) -> None:
    out.block_break(1)
    for i, line in enumerate(content.split("\n")):
        if i:
            out.hard_break()
        out.inline(prefix + line if line.strip() else empty_prefix, keep_spaces=True)
    out.block_break(1)


def _finish(text: str) -> str:
    lines = [line.replace("\xa0", " ").rstrip() for line in text.split("\n")]
    return _MANY_NEWLINES_RE.sub("\n\n", "\n".join(lines)).strip("\n")


def html_to_text(html: str) -> str:
    """Readable plain text of an HTML body: paragraphs, lists, "text (url)" links, "> " quotes."""
    if not html or not html.strip():
        return ""
    soup = BeautifulSoup(html, "html.parser")
    out = _TextBuilder()
    _render_children(soup, out, preformatted=False, depth=0)
    return _finish(out.text()).strip()


# --------------------------------------------------------------------------
# Quote containers
# --------------------------------------------------------------------------

# Containers that hold only the quoted original (or the sender's signature).
_QUOTE_CONTAINER_SELECTORS = (
    "div.gmail_quote",
    "div.gmail_extra",
    "blockquote.gmail_quote",
    "div.yahoo_quoted",
    "div[id^=yahoo_quoted]",
    "div.moz-cite-prefix",
    "blockquote[type=cite]",
    "blockquote.protonmail_quote",
    "div.zmail_extra",
    "div.gmail_signature",
    "div.moz-signature",
)
# Markers after which everything is the original message (Outlook and kin).
_CUT_FROM_SELECTORS = (
    "#appendonsend",
    "#divRplyFwdMsg",
    "div.OutlookMessageHeader",
    "#OLK_SRC_BODY_SECTION",
    "#mail-editor-reference-message-container",
)
_MAX_MARKER_TEXT = 400


def _possible(selectors: tuple[str, ...], folded_html: str) -> list[str]:
    """The selectors whose class, id or attribute value (their last word) is in the
    case-folded HTML at all: each selector run walks every element, and most mail holds
    none of these names."""
    return [s for s in selectors if re.findall(r"[\w-]{4,}", s)[-1].casefold() in folded_html]


def _text_of(node: object) -> str:
    if isinstance(node, Tag):
        return node.get_text(" ", strip=True)
    return str(node).strip() if isinstance(node, NavigableString) else ""


def _is_blank(node: object) -> bool:
    if isinstance(node, Tag):
        return node.name == "br" or (not _text_of(node) and node.find("img") is None)
    return isinstance(node, NavigableString) and not str(node).strip()


def _cut_from(node: Tag | NavigableString) -> None:
    """Remove ``node`` and everything after it in document order."""
    parent = node.parent
    for sibling in list(node.next_siblings):
        sibling.extract()
    node.extract()
    while isinstance(parent, Tag) and parent.parent is not None and parent.name not in ("body", "html"):
        for sibling in list(parent.next_siblings):
            sibling.extract()
        parent = parent.parent


def _previous_content(node: Tag) -> Iterator[Tag | NavigableString]:
    """Preceding siblings that are not blank, nearest first."""
    for sibling in node.previous_siblings:
        if isinstance(sibling, Tag | NavigableString) and not _is_blank(sibling):
            yield sibling


def _remove_attribution_before(node: Tag, is_attribution: Callable[[str], bool]) -> bool:
    """Drop the "On ... wrote:" line just before a quote; whether there was one."""
    previous = next(_previous_content(node), None)
    if previous is None:
        return False
    text = _text_of(previous)
    if len(text) <= _MAX_MARKER_TEXT and is_attribution(text):
        previous.extract()
        return True
    return False


def _is_outlook_separator(div: Tag, is_header: Callable[[str], bool]) -> bool:
    """Outlook's "border-top" div that starts the header block of the original."""
    style = str(div.get("style") or "").replace(" ", "").lower()
    if "border-top:solid" not in style:
        return False
    return is_header(div.get_text(" ", strip=True)[: _MAX_MARKER_TEXT // 2])


def _cut_at_outlook_markers(soup: BeautifulSoup, is_header: Callable[[str], bool], folded_html: str) -> None:
    for selector in _possible(_CUT_FROM_SELECTORS, folded_html):
        marker = soup.select_one(selector)
        if marker is not None:
            for rule in _previous_content(marker):
                if isinstance(rule, Tag) and rule.name == "hr":
                    rule.extract()
                break
            _cut_from(marker)
    for div in soup.find_all("div", style=True):
        if div.parent is not None and _is_outlook_separator(div, is_header):
            _cut_from(div)
            break


def _remove_quote_containers(soup: BeautifulSoup, is_attribution: Callable[[str], bool], folded_html: str) -> None:
    for selector in _possible(_QUOTE_CONTAINER_SELECTORS, folded_html):
        for container in soup.select(selector):
            if container.parent is None:
                continue
            if container.name == "blockquote":
                _remove_attribution_before(container, is_attribution)
            container.extract()
    for quote in soup.find_all("blockquote"):
        if quote.parent is not None and _remove_attribution_before(quote, is_attribution):
            quote.extract()


def _cut_at_unquoted_originals(soup: BeautifulSoup, is_attribution: Callable[[str], bool]) -> None:
    """An attribution or "-----Original Message-----" with the original pasted unquoted after it."""
    for string in list(soup.find_all(string=True)):
        if isinstance(string, (Comment, Doctype)) or string.parent is None:
            continue
        text = str(string).strip()
        if text and len(text) <= _MAX_MARKER_TEXT and is_attribution(text):
            _cut_from(string)
            return


def strip_quote_containers(
    html: str,
    is_attribution: Callable[[str], bool],
    is_header: Callable[[str], bool] | None = None,
) -> str:
    """HTML of the new part of a reply: quoted originals and their attributions removed.

    ``is_attribution`` recognises "On ... wrote:" / "-----Original Message-----"
    lines and ``is_header`` recognises "From: ..." lines of an embedded header
    block; they come from the plain-text trimmer so both agree on what a
    quote looks like.
    """
    if not html or not html.strip():
        return html or ""
    soup = BeautifulSoup(html, "html.parser")
    folded = html.casefold()
    _cut_at_outlook_markers(soup, is_header or (lambda line: False), folded)
    _remove_quote_containers(soup, is_attribution, folded)
    _cut_at_unquoted_originals(soup, is_attribution)
    return str(soup)


def drop_tracking_pixels(html: str) -> str:
    """HTML without its tracking pixels, found while their size and style are still there
    (sanitizing removes the ``display:none`` that hides some of them)."""
    if not html or "<img" not in html.lower():
        return html
    soup = BeautifulSoup(html, "html.parser")
    pixels = [
        img
        for img in soup.find_all("img")
        if is_tracking_pixel(
            str(img.get("src") or ""),
            str(img.get("width") or ""),
            str(img.get("height") or ""),
            str(img.get("style") or ""),
        )
    ]
    for img in pixels:
        img.decompose()
    return str(soup) if pixels else html


def _words(text: str) -> str:
    return " ".join(text.replace("\xa0", " ").split()).lower()


def cut_at_text(html: str, start: str, after: str) -> str | None:
    """HTML up to where the text ``start`` begins, looked for after the text ``after``
    (the last words kept); None if it is not found there.

    The plain-text rendering decides where a signature starts; this finds the same place
    in the HTML, comparing words only (markup splits a line over many strings).
    """
    want, after = _words(start), _words(after)
    if not want:
        return None
    soup = BeautifulSoup(html, "html.parser")
    seen, passed = "", not after
    for string in soup.find_all(string=True):
        if isinstance(string, (Comment, Doctype)) or (
            string.parent is not None and string.parent.name in _DROPPED_TAGS
        ):
            continue
        text = _words(str(string))
        if not text:
            continue
        common = min(len(text), len(want))
        if passed and common >= min(8, len(want)) and text[:common] == want[:common]:
            _cut_from(string)
            return str(soup)
        seen = (seen + " " + text)[-4 * len(after) - 200 :]
        passed = passed or after in seen
    return None


def text_upto(node: Tag, limit: int, known: dict[int, str | None] | None = None) -> str | None:
    """The words of ``node`` (spaces collapsed), or None once they pass ``limit``
    characters: looking whether a small element is a banner or a footer must not cost
    reading the whole of each large one around it. ``known`` keeps the answers for the
    elements asked about already (one parse), so each is read at most once."""
    if known is not None and id(node) in known:
        return known[id(node)]
    parts: list[str] = []
    size = 0
    text: str | None = None
    for string in node.strings:
        if isinstance(string, (Comment, Doctype)):
            continue
        parts.append(string)
        size += len(string)
        if size > 2 * limit:
            break
    else:
        text = " ".join(" ".join(parts).split())
        text = text if len(text) <= limit else None
    if known is not None:
        known[id(node)] = text
    return text
