"""A message's attachments: decoded, deduplicated, safely named and told inline or not.

Clients attach the same image twice (once per alternative), name files with directories
or control characters, or give no name at all; what is stored and offered for download
gets a plain filename, and a part the HTML shows (``cid:``) is marked inline.
"""

from __future__ import annotations

import hashlib
import mimetypes
import unicodedata
from dataclasses import dataclass
from email.message import Message

from mailgateway.text import mime_parts

_EXTENSIONS = {
    "message/rfc822": ".eml",
    "message/global": ".eml",
    "message/delivery-status": ".txt",
    "message/disposition-notification": ".txt",
    "text/rfc822-headers": ".txt",
    "text/plain": ".txt",
    "text/html": ".html",
    "text/calendar": ".ics",
    "image/jpeg": ".jpg",
    "application/octet-stream": ".bin",
}
_MIME_TYPES = mimetypes.MimeTypes(filenames=())
_MAX_FILENAME_BYTES = 200


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


def _invented_name(index: int, content_type: str) -> str:
    extension = _EXTENSIONS.get(content_type) or _MIME_TYPES.guess_extension(content_type) or ".bin"
    return f"attachment-{index}{extension}"


def _safe_filename(name: str | None, index: int, content_type: str) -> str:
    """A filename without directories, control characters or hidden-file dots."""
    if name:
        name = unicodedata.normalize("NFC", name).replace("\\", "/").rsplit("/", 1)[-1]
        name = "".join(c for c in name if c.isprintable()).strip(" .")
        while len(name.encode("utf-8")) > _MAX_FILENAME_BYTES:
            stem, dot, extension = name.rpartition(".")
            name = f"{stem[:-1]}{dot}{extension}" if stem and len(extension) < 16 else name[:-1]
    return name or _invented_name(index, content_type)


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
        name = _safe_filename(part.filename, len(result) + 1, part.content_type)
        result.append(ParsedAttachment(name, part.content_type, part.data, inline, part.content_id))
    return tuple(result)
