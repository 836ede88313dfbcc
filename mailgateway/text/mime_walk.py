"""Walking a message's MIME tree: which parts make its text and HTML, which are attachments.

Of alternatives the sender's preferred version of each kind is kept, the root of
multipart/related comes first, signatures of multipart/signed are dropped, and a body
with HTML only gets its text from the HTML. A tree nested past any real message's depth
is not read further.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from email.message import Message

from forum.text import html_as_text, html_within_bounds
from mailgateway.text import mime_parts
from mailgateway.text.attachments import RawAttachment, read_attachment
from mailgateway.text.htmltext import html_to_text

_MAX_DEPTH = 40
_SIGNATURE_TYPES = frozenset(
    {"application/pgp-signature", "application/pkcs7-signature", "application/x-pkcs7-signature"}
)


@dataclass
class Body:
    """What a MIME subtree contributes: text segments in order, and attachments."""

    segments: list[tuple[str | None, str | None]] = field(default_factory=list)
    attachments: list[RawAttachment] = field(default_factory=list)

    def extend(self, other: Body) -> None:
        self.segments.extend(other.segments)
        self.attachments.extend(other.attachments)


def walk(part: Message, depth: int = 0) -> Body:
    """Collect body text segments and attachments of a MIME subtree."""
    content_type = mime_parts.content_type(part)
    body = Body()
    if depth > _MAX_DEPTH:
        return body
    if content_type.startswith("message/") or not part.is_multipart():
        return _walk_leaf(part, content_type)
    children = [c for c in part.get_payload() if isinstance(c, Message)]
    if content_type == "multipart/alternative":
        return _walk_alternative(children, depth)
    if content_type == "multipart/related":
        children = _related_root_first(part, children)
    elif content_type == "multipart/signed":
        children = [c for c in children if mime_parts.content_type(c) not in _SIGNATURE_TYPES]
    for child in children:
        body.extend(walk(child, depth + 1))
    return body


def _walk_leaf(part: Message, content_type: str) -> Body:
    body = Body()
    is_body_text = content_type in ("text/plain", "text/html")
    if is_body_text and mime_parts.disposition(part) != "attachment" and not mime_parts.filename(part):
        text = mime_parts.part_text(part)
        body.segments.append((text, None) if content_type == "text/plain" else (None, text))
    else:
        body.attachments.append(read_attachment(part, content_type))
    return body


def _walk_alternative(children: list[Message], depth: int) -> Body:
    """Keep the plain-text version for ``text`` and the HTML one for ``html``.

    Alternatives are ordered from plainest to richest, so of several plain
    or HTML versions the last one is the sender's preferred.
    """
    versions = [walk(child, depth + 1) for child in children]
    plain = next((v for v in reversed(versions) if _joined(v, 0).strip()), None)
    html = next((v for v in reversed(versions) if _joined(v, 1)), None)
    body = Body()
    plain_text = _joined(plain, 0) if plain else None
    html_text = _joined(html, 1) if html else None
    if plain_text is not None or html_text is not None:
        body.segments.append((plain_text, html_text))
    for version in versions:
        body.attachments.extend(version.attachments)
    return body


def _joined(body: Body, index: int) -> str:
    return "\n".join(text for s in body.segments if (text := s[index]) is not None)


def _related_root_first(part: Message, children: list[Message]) -> list[Message]:
    """The root of multipart/related is the "start" part, or the first one."""
    try:
        start = str(part.get_param("start") or "").strip().strip("<>")
    except Exception:  # noqa: BLE001 - an unreadable parameter means the default
        start = ""
    root = next((c for c in children if start and mime_parts.content_id(c) == start), None)
    if root is None:
        return children
    return [root] + [c for c in children if c is not root]


def segment_text(plain: str | None, html: str | None) -> str:
    """The text of one segment: its plain version, or its HTML made text."""
    if plain is not None and (plain.strip() or not html):
        return plain
    if not html:
        return ""
    return html_to_text(html) if html_within_bounds(html) else html_as_text(html)


def body_text(texts: list[str]) -> str:
    """The segments' texts as one body, a blank line between them."""
    stripped = [t.strip("\n") for t in texts]
    return "\n\n".join(t for t in stripped if t.strip())
