"""A post's stored HTML made ready for a page: inline images found, remote images held back.

The HTML was sanitized when the post was written (forum.text), so it is safe; what is left
is deciding, per view, which images to load. ``cid:`` images point at parts of the mail
the post came in, which the archive keeps as attachments: they become links to those.
Remote images are not loaded unless the reader asks: fetching one tells its sender who
read the post and when, so each becomes a link naming what it is; an image that is only
a tracking pixel (1×1, hidden, or from a tracker's host) is not worth a link and goes.

Sanitized HTML has a regular shape (html5lib's serializer quotes every attribute), so
image tags are rewritten with two regular expressions, and only in posts that have an
image at all: parsing every post of a long thread would cost more than the page's budget.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote

from forum.text import is_tracking_pixel

_IMG = re.compile(r"""<img\b((?:\s+[^\s=>/]+(?:=(?:"[^"]*"|'[^']*'|[^\s>"']+))?)*)\s*/?>""", re.IGNORECASE)
_ATTRIBUTE = re.compile(r"""([^\s=>/]+)(?:=(?:"([^"]*)"|'([^']*)'|([^\s>"']+)))?""")
_KEPT = ("src", "alt", "title", "width", "height", "style")  # what forum.text lets an img keep


@dataclass(frozen=True)
class RenderedBody:
    html: str
    remote_images: int  # how many remote images were replaced by links


def post_html(stored: str, inline_images: Mapping[str, str], *, remote_images: bool) -> RenderedBody:
    """``stored`` with ``cid:`` images pointing at ``inline_images`` (Content-ID -> URL) and,
    unless ``remote_images``, every http(s) image replaced by a link to it."""
    if "<img" not in stored.lower():
        return RenderedBody(stored, 0)
    held_back = 0

    def rewrite(tag: re.Match[str]) -> str:
        nonlocal held_back
        attributes = _attributes(tag.group(1))
        src = attributes.get("src", "")
        scheme = src.partition(":")[0].lower()
        if scheme in ("http", "https") and is_tracking_pixel(
            src, attributes.get("width", ""), attributes.get("height", ""), attributes.get("style", "")
        ):
            return ""
        if scheme == "cid":
            url = inline_images.get(_content_id(src))
            return _img({**attributes, "src": url}) if url else _missing(attributes)
        if scheme in ("http", "https"):
            if remote_images:
                return tag.group(0)
            held_back += 1
            return _remote_link(src, attributes.get("alt", ""))
        return _missing(attributes)

    return RenderedBody(_IMG.sub(rewrite, stored), held_back)


def _attributes(source: str) -> dict[str, str]:
    found = {}
    for name, double, single, bare in _ATTRIBUTE.findall(source):
        if name.lower() in _KEPT:
            found[name.lower()] = html.unescape(double or single or bare)
    return found


def _content_id(src: str) -> str:
    """The Content-ID a ``cid:`` URL names (RFC 2392: URL-encoded, without angle brackets)."""
    return unquote(src[4:]).strip().strip("<>")


def _img(attributes: Mapping[str, str]) -> str:
    return "<img " + " ".join(f'{name}="{html.escape(value)}"' for name, value in attributes.items()) + ">"


def _missing(attributes: Mapping[str, str]) -> str:
    alt = attributes.get("alt", "").strip()
    return f'<span class="missing-image">[image{": " + html.escape(alt) if alt else ""}]</span>'


def _remote_link(src: str, alt: str) -> str:
    label = f"remote image: {alt.strip() or 'no description'} ({src})"
    return (
        f'<a class="remote-image" href="{html.escape(src)}" rel="nofollow noopener noreferrer">{html.escape(label)}</a>'
    )
