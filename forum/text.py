"""Text in, safe HTML out: the only module that imports bleach.

Everything that reaches a browser or an HTML mail part passes through :func:`sanitize`,
whatever door it came in by (email HTML, Markdown from the web, chat). Keeping bleach
behind this one module means it can be swapped for nh3 by changing one file.

A post's text (what plain-text mail, digests, chat and search show) must read as text
too, so Markdown from the web is also rendered as plain text, by :func:`markdown_to_text`.
"""

from __future__ import annotations

import html
import re
import threading
from urllib.parse import urlsplit

import bleach
from bleach.css_sanitizer import CSSSanitizer
from markdown_it import MarkdownIt
from markdown_it.tree import SyntaxTreeNode

ALLOWED_TAGS = frozenset(
    {
        "a",
        "abbr",
        "b",
        "blockquote",
        "br",
        "caption",
        "code",
        "del",
        "div",
        "em",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "hr",
        "i",
        "img",
        "ins",
        "kbd",
        "li",
        "ol",
        "p",
        "pre",
        "s",
        "small",
        "span",
        "strong",
        "sub",
        "sup",
        "table",
        "tbody",
        "td",
        "tfoot",
        "th",
        "thead",
        "tr",
        "u",
        "ul",
    }
)
ALLOWED_ATTRIBUTES = {
    "a": ["href", "title"],
    "abbr": ["title"],
    "img": ["src", "alt", "title", "width", "height"],
    "td": ["colspan", "rowspan", "align"],
    "th": ["colspan", "rowspan", "align", "scope"],
    "*": ["style"],
}
ALLOWED_PROTOCOLS = frozenset({"http", "https", "mailto", "cid"})
_CSS = CSSSanitizer(
    allowed_css_properties=["color", "background-color", "font-weight", "font-style", "text-decoration", "text-align"]
)
_local = threading.local()


def _cleaner() -> bleach.Cleaner:
    """This thread's Cleaner: bleach's Cleaner is not thread-safe (its tokenizer keeps
    state), and the web archive sanitizes from many request threads at once."""
    cleaner = getattr(_local, "cleaner", None)
    if cleaner is None:
        cleaner = _local.cleaner = bleach.Cleaner(
            tags=ALLOWED_TAGS,
            attributes=ALLOWED_ATTRIBUTES,
            protocols=ALLOWED_PROTOCOLS,
            strip=True,
            strip_comments=True,
            css_sanitizer=_CSS,
        )
    return cleaner


_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table").enable("strikethrough")
_UNSEEN_OPEN = re.compile(r"<(script|style|head|title|template|noscript)\b", re.IGNORECASE)

# bleach's parser (html5lib) takes time for each element, and for each element opened,
# for the elements still open around it (it looks through them). HTML larger, with more
# elements or deeper than any message needs is shown as its text instead, so one message
# cannot hold the processing of every other one.
MAX_HTML_CHARS = 200_000
MAX_HTML_ELEMENTS = 3_000
MAX_HTML_DEPTH = 100
MAX_HTML_NESTING = 100_000  # the elements open around each element opened, summed
MAX_HTML_AS_TEXT_CHARS = 2_000_000  # even read as text, HTML costs time for every tag
_TAG_OR_COMMENT = re.compile(r"<!--|<(/?)([a-zA-Z][a-zA-Z0-9]*)")
# Elements that never stay open (void), or that the next one of their kind closes: they
# do not deepen the tree.
_NOT_NESTING = frozenset(
    {
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "param",
        "source",
        "track",
        "wbr",
        "p",
        "li",
        "dt",
        "dd",
        "tr",
        "td",
        "th",
        "option",
        "optgroup",
        "thead",
        "tbody",
        "tfoot",
        "colgroup",
        "html",
        "head",
        "body",
    }
)
_ANY_TAG = re.compile(r"<[^<>]*>?")
_BLOCK_BREAK = re.compile(r"<(?:/?(?:p|div|tr|li|h[1-6]|blockquote|table|pre)\b[^<>]*|br\b[^<>]*)>?", re.IGNORECASE)


def html_within_bounds(untrusted_html: str) -> bool:
    """Whether HTML is small, few and shallow enough to parse as HTML: a linear count of the
    elements left open (an end tag closes only an element of its own name; comments,
    where Outlook keeps its XML, open nothing)."""
    if len(untrusted_html) > MAX_HTML_CHARS:
        return False
    open_by_name: dict[str, int] = {}
    depth = nesting = elements = position = 0
    while (match := _TAG_OR_COMMENT.search(untrusted_html, position)) is not None:
        position = match.end()
        if match.group(2) is None:  # a comment, to its end
            end = untrusted_html.find("-->", position)
            position = len(untrusted_html) if end < 0 else end + 3
            continue
        elements += not match.group(1)
        if elements > MAX_HTML_ELEMENTS:
            return False
        name = match.group(2).lower()
        if name in _NOT_NESTING:
            continue
        if match.group(1):
            if open_by_name.get(name):
                open_by_name[name] -= 1
                depth -= 1
        else:
            open_by_name[name] = open_by_name.get(name, 0) + 1
            nesting += depth
            depth += 1
            if depth > MAX_HTML_DEPTH or nesting > MAX_HTML_NESTING:
                return False
    return True


def html_as_text(untrusted_html: str) -> str:
    """The readable text of HTML past the bounds, in time proportional to its size: tags
    dropped (block ones make line breaks), entities decoded. Of HTML longer than
    :data:`MAX_HTML_AS_TEXT_CHARS` only the beginning is read, and the text says so."""
    rest = len(untrusted_html) - MAX_HTML_AS_TEXT_CHARS
    text = _BLOCK_BREAK.sub("\n", _drop_unseen(untrusted_html[:MAX_HTML_AS_TEXT_CHARS]))
    text = html.unescape(_ANY_TAG.sub("", text))
    text = re.sub(r"\n[ \t]*(?:\n[ \t]*)+", "\n\n", text).strip()
    return text + (f"\n\n[{rest:,} more characters of HTML not shown: too large]" if rest > 0 else "")


def _drop_unseen(untrusted_html: str) -> str:
    """Script, style and the like removed with their content; one left open runs to the
    end, as a browser reads it. Each close tag is looked for once: linear time."""
    kept: list[str] = []
    position = 0
    while (opened := _UNSEEN_OPEN.search(untrusted_html, position)) is not None:
        kept.append(untrusted_html[position : opened.start()])
        closed = re.compile(rf"</{opened.group(1)}\s*>", re.IGNORECASE).search(untrusted_html, opened.end())
        if closed is None:
            return "".join(kept)
        position = closed.end()
    kept.append(untrusted_html[position:])
    return "".join(kept)


# Hosts that serve nothing but tracking pixels (mail-merge and marketing open trackers).
TRACKER_HOSTS = re.compile(
    r"(?:^|\.)(?:mailtrack\.io|mailstat\.us|t\.yesware\.com|t\.sidekickopen\d*\.com|track\.hubspot\.com"
    r"|pixel\.watch|app\.bananatag\.com|open\.convertkit-mail\d*\.com|links\.streak\.com"
    r"|mandrillapp\.com|list-manage\.com|email\.mg\.[\w.-]+|ct\.sendgrid\.net"
    r"|clicks\.mlsend\.com|trk\.klclick\d*\.com|exct\.net|pstmrk\.it|getnotify\.com"
    r"|readnotify\.com|mailfoogae\.appspot\.com|cirrusinsight\.com|boomeranggmail\.com)$",
    re.IGNORECASE,
)
_TINY = frozenset({"0", "1", "0px", "1px"})
_HIDDEN_STYLE = re.compile(
    r"display\s*:\s*none|visibility\s*:\s*hidden|(?:width|height)\s*:\s*[01](?:px)?\s*(?:;|$)", re.IGNORECASE
)


def is_tracking_pixel(src: str, width: str = "", height: str = "", style: str = "") -> bool:
    """Whether an image is there only to tell its sender that the mail was opened: a 1×1
    (or 0×0) image, a hidden one, or any image from a host that serves only those."""
    if width.strip().lower() in _TINY or height.strip().lower() in _TINY or _HIDDEN_STYLE.search(style):
        return True
    try:
        host = urlsplit(src.strip()).hostname  # without user, port, query or fragment; lowercased
    except ValueError:  # not a URL (an unbalanced IPv6 bracket): it loads nothing
        return False
    return host is not None and bool(TRACKER_HOSTS.search(host))


def sanitize(untrusted_html: str) -> str:
    """HTML that is safe to show: no script, style, event handlers, forms or javascript: URLs.

    bleach's ``strip`` keeps the *text* of removed elements; the contents of script/style
    blocks are not text a reader should see, so they go first. HTML past the bounds is
    shown as its text (:func:`html_as_text`).
    """
    if not html_within_bounds(untrusted_html):
        return _paragraphs(html_as_text(untrusted_html))
    return _cleaner().clean(_drop_unseen(untrusted_html))


def markdown_to_html(source: str) -> str:
    """Markdown from the web form, rendered and sanitized."""
    return sanitize(_markdown.render(source))


def markdown_to_text(source: str) -> str:
    """Markdown from the web form as the plain text a reader expects: no ``**``, ``#`` or
    ``[label](url)`` left; links as ``label <url>``, lists with their markers, quotes as
    ``> `` lines (which digests and trimming know), code indented."""
    return _blocks(SyntaxTreeNode(_markdown.parse(source)).children, "\n\n")


_RULE = "* * *"


def _blocks(nodes: list[SyntaxTreeNode], separator: str) -> str:
    return separator.join(text for text in (_block(node) for node in nodes) if text)


def _block(node: SyntaxTreeNode) -> str:
    kind = node.type
    if kind in ("paragraph", "heading"):
        return "".join(_inline(child) for child in node.children)
    if kind == "blockquote":
        return "\n".join(f"> {line}" if line else ">" for line in _blocks(node.children, "\n\n").split("\n"))
    if kind in ("bullet_list", "ordered_list"):
        return "\n".join(
            _list_item(item, f"{item.info}. " if kind == "ordered_list" else "- ") for item in node.children
        )
    if kind in ("fence", "code_block"):
        return "\n".join(f"    {line}" for line in node.content.rstrip("\n").split("\n"))
    if kind == "hr":
        return _RULE
    if kind == "table":
        return "\n".join(
            " | ".join(_block(cell) for cell in row.children) for section in node.children for row in section.children
        )
    if kind in ("th", "td", "inline"):
        return "".join(_inline(child) for child in node.children)
    return node.content or _blocks(node.children, "\n\n")


def _list_item(item: SyntaxTreeNode, marker: str) -> str:
    lines = _blocks(item.children, "\n").split("\n")
    indent = " " * len(marker)
    return "\n".join([marker + lines[0]] + [indent + line if line else "" for line in lines[1:]])


def _inline(node: SyntaxTreeNode) -> str:
    kind = node.type
    if kind in ("softbreak", "hardbreak"):
        return "\n"
    if kind in ("link", "image"):
        label = "".join(_inline(child) for child in node.children)
        target = str(node.attrs.get("href" if kind == "link" else "src", ""))
        if not label or label in (target, target.removeprefix("mailto:")):
            return label or f"<{target}>"
        return f"{label} <{target}>"
    if node.children:
        return "".join(_inline(child) for child in node.children)
    return node.content


def text_to_html(text: str) -> str:
    """Plain text (an emailed post) as HTML paragraphs with links made clickable (not in
    text longer than :data:`MAX_HTML_CHARS`: linking parses the HTML)."""
    body = _paragraphs(text)
    return sanitize(bleach.linkify(body, parse_email=False)) if len(body) <= MAX_HTML_CHARS else body


def _paragraphs(text: str) -> str:
    """Plain text as escaped HTML paragraphs."""
    paragraphs = [p for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
    return "".join("<p>" + html.escape(p).replace("\n", "<br>\n") + "</p>\n" for p in paragraphs)
