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

import bleach
from bleach.css_sanitizer import CSSSanitizer
from markdown_it import MarkdownIt
from markdown_it.tree import SyntaxTreeNode

ALLOWED_TAGS = frozenset(
    {
        "a", "abbr", "b", "blockquote", "br", "caption", "code", "del", "div", "em", "h1", "h2", "h3",
        "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "ol", "p", "pre", "s", "small", "span",
        "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul",
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
_DROP_WITH_CONTENT = re.compile(r"<(script|style|head|title|template|noscript)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)


def sanitize(untrusted_html: str) -> str:
    """HTML that is safe to show: no script, style, event handlers, forms or javascript: URLs.

    bleach's ``strip`` keeps the *text* of removed elements; the contents of script/style
    blocks are not text a reader should see, so they go first.
    """
    return _cleaner().clean(_DROP_WITH_CONTENT.sub("", untrusted_html))


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
        return "\n".join(_list_item(item, f"{item.info}. " if kind == "ordered_list" else "- ")
                         for item in node.children)
    if kind in ("fence", "code_block"):
        return "\n".join(f"    {line}" for line in node.content.rstrip("\n").split("\n"))
    if kind == "hr":
        return _RULE
    if kind == "table":
        return "\n".join(" | ".join(_block(cell) for cell in row.children)
                         for section in node.children for row in section.children)
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
    """Plain text (an emailed post) as HTML paragraphs with links made clickable."""
    paragraphs = [p for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
    body = "".join("<p>" + html.escape(p).replace("\n", "<br>\n") + "</p>\n" for p in paragraphs)
    return sanitize(bleach.linkify(body, parse_email=False))
