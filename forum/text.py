"""Text in, safe HTML out: the only module that imports bleach.

Everything that reaches a browser or an HTML mail part passes through :func:`sanitize`,
whatever door it came in by (email HTML, Markdown from the web, chat). Keeping bleach
behind this one module means it can be swapped for nh3 by changing one file.
"""

from __future__ import annotations

import html
import re
import threading

import bleach
from bleach.css_sanitizer import CSSSanitizer
from markdown_it import MarkdownIt

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
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden|(?:width|height)\s*:\s*[01](?:px)?\s*(?:;|$)",
                           re.IGNORECASE)


def is_tracking_pixel(src: str, width: str = "", height: str = "", style: str = "") -> bool:
    """Whether an image is there only to tell its sender that the mail was opened: a 1×1
    (or 0×0) image, a hidden one, or any image from a host that serves only those."""
    if width.strip().lower() in _TINY or height.strip().lower() in _TINY or _HIDDEN_STYLE.search(style):
        return True
    host = re.sub(r"^[a-z][a-z0-9+.-]*://", "", src.strip(), flags=re.IGNORECASE).split("/", 1)[0].split(":")[0]
    return bool(host) and bool(TRACKER_HOSTS.search(host.lower()))


def sanitize(untrusted_html: str) -> str:
    """HTML that is safe to show: no script, style, event handlers, forms or javascript: URLs.

    bleach's ``strip`` keeps the *text* of removed elements; the contents of script/style
    blocks are not text a reader should see, so they go first.
    """
    return _cleaner().clean(_DROP_WITH_CONTENT.sub("", untrusted_html))


def markdown_to_html(source: str) -> str:
    """Markdown from the web form, rendered and sanitized."""
    return sanitize(_markdown.render(source))


def text_to_html(text: str) -> str:
    """Plain text (an emailed post) as HTML paragraphs with links made clickable."""
    paragraphs = [p for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
    body = "".join("<p>" + html.escape(p).replace("\n", "<br>\n") + "</p>\n" for p in paragraphs)
    return sanitize(bleach.linkify(body, parse_email=False))
