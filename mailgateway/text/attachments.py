"""A message's attachments: decoded, deduplicated, safely named and told inline or not.

Clients attach the same image twice (once per alternative), and name files with
directories or control characters, or not at all: each is kept once, under a plain
filename (``forum.files``), and a part the HTML shows (``cid:``) is marked inline.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from email.message import Message

from forum.files import safe_filename
from mailgateway.text import mime_parts


@dataclass(frozen=True)
class ParsedAttachment:
    """A non-body MIME part, decoded."""

    filename: str
    content_type: str
    data: bytes
    inline: bool
    content_id: str | None


@dataclass
class RawAttachment:
    """An attachment before its final name and inline flag are known."""

    content_type: str
    data: bytes
    filename: str | None
    content_id: str | None
    disposition: str


def read_attachment(part: Message, content_type: str) -> RawAttachment:
    """A part that is not body text, as an attachment; an attached message keeps its bytes."""
    data = mime_parts.message_bytes(part) if content_type.startswith("message/") else mime_parts.payload_bytes(part)
    return RawAttachment(
        content_type, data, mime_parts.filename(part), mime_parts.content_id(part), mime_parts.disposition(part)
    )


def parsed_attachments(parts: list[RawAttachment], html: str | None) -> tuple[ParsedAttachment, ...]:
    """``parts`` each once, safely named, inline where ``html`` shows them or they ask to be."""
    html_lower = (html or "").lower()
    seen: set[tuple[str | None, str, str]] = set()
    result: list[ParsedAttachment] = []
    for part in parts:
        key = (part.content_id, part.content_type, hashlib.sha256(part.data).hexdigest())
        if key in seen:
            continue
        seen.add(key)
        referenced = bool(part.content_id and f"cid:{part.content_id.lower()}" in html_lower)
        inline = referenced or (
            part.disposition == "inline" and not part.content_type.startswith(("text/", "message/"))
        )
        name = safe_filename(part.filename, len(result) + 1, part.content_type)
        result.append(ParsedAttachment(name, part.content_type, part.data, inline, part.content_id))
    return tuple(result)
