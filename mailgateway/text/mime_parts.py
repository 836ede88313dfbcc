"""One MIME part, read leniently: its type, disposition, filename, Content-ID, decoded
payload and text.

Senders label parts with stray whitespace, broken RFC 2231 parameters, base64 inside
message/* parts and charsets named only in an HTML <meta>; each reader here copes and
falls back to the default rather than raising.
"""

from __future__ import annotations

import base64
import binascii
import re
from email import policy as email_policy
from email.message import Message

from mailgateway.text import charsets, header_values


def content_type(part: Message) -> str:
    """The part's type, lower case; text/plain when it cannot be read."""
    try:
        return part.get_content_type().lower()
    except Exception:  # noqa: BLE001 - an unparsable Content-Type means the default
        return "text/plain"


def disposition(part: Message) -> str:
    """``inline``, ``attachment`` or empty."""
    raw = part.get("content-disposition")
    return str(raw).split(";", 1)[0].strip().lower() if raw is not None else ""


_FILENAME_PARAM_RE = re.compile(r"(?:^|;)\s*(?:file)?name\*?(?:\*\d+\*?)?\s*=\s*(\"[^\"]*\"|[^;]+)", re.I)


def _raw_filename(part: Message) -> str | None:
    """The filename parameter read by hand, for headers the parsers reject."""
    for header in ("content-disposition", "content-type"):
        for name, value in part.raw_items():
            if str(name).lower() == header:
                match = _FILENAME_PARAM_RE.search(header_values.unfold(str(value)))
                if match:
                    return match.group(1).strip().strip('"')
    return None


def filename(part: Message) -> str | None:
    """The filename the sender gave, decoded, however its parameter was written."""
    try:
        name = part.get_filename()
    except Exception:  # noqa: BLE001 - broken RFC 2231 parameters
        name = None
    if not name or "=?" in (_raw_filename(part) or ""):
        name = _raw_filename(part) or name
    if not name:
        return None
    return header_values.decode_header(str(name))


def content_id(part: Message) -> str | None:
    """The Content-ID without its angle brackets."""
    value = part.get("content-id")
    cid = str(value).strip().strip("<>").strip() if value is not None else ""
    return cid or None


def _transfer_encoding(part: Message) -> str:
    return str(part.get("content-transfer-encoding") or "").strip().lower()


def payload_bytes(part: Message) -> bytes:
    """The decoded body of a leaf part.

    Base64 and quoted-printable are decoded here rather than by the library
    because it leaves labels with stray whitespace ("base64 ") undecoded.
    """
    encoding = _transfer_encoding(part)
    if encoding in ("base64", "quoted-printable"):
        payload = part.get_payload()
        if not isinstance(payload, str):
            return b""
        encoded = payload.encode("utf-8", "surrogateescape")
        return _lenient_b64decode(encoded) if encoding == "base64" else binascii.a2b_qp(encoded)
    decoded = part.get_payload(decode=True)
    return decoded if isinstance(decoded, bytes) else b""


def message_bytes(part: Message) -> bytes:
    """The bytes of an attached message/* part, as close to the original as possible.

    The parser has already split it into messages (one for message/rfc822,
    one per block for message/delivery-status); they are written back out.
    A message part should not be base64 or quoted-printable encoded, but
    some senders do it; the parser then reads the encoded text as the
    message, so it is decoded here.
    """
    payload = part.get_payload()
    if not (isinstance(payload, list) and payload):
        return payload_bytes(part)
    data = b"\n".join(_serialize(inner) for inner in payload if isinstance(inner, Message))
    encoding = _transfer_encoding(part)
    if encoding == "base64":
        return _lenient_b64decode(data) or data
    if encoding == "quoted-printable":
        return binascii.a2b_qp(data)
    return data


def _serialize(message: Message) -> bytes:
    try:
        return message.as_bytes(policy=email_policy.compat32)
    except Exception:  # noqa: BLE001 - regenerate leniently
        return message.as_string(policy=email_policy.compat32).encode("utf-8", "surrogateescape")


def _lenient_b64decode(data: bytes) -> bytes:
    compact = re.sub(rb"[^A-Za-z0-9+/]", b"", data)
    try:
        return base64.b64decode(compact + b"=" * (-len(compact) % 4))
    except (binascii.Error, ValueError):
        return b""


_META_CHARSET_RE = re.compile(rb"""<meta[^>]{0,200}?charset\s*=\s*["']?([\w.:-]+)""", re.I)


def part_text(part: Message) -> str:
    """The text of a text/* part, decoded whatever its charset label, format=flowed joined."""
    try:
        charset = part.get_content_charset()
    except Exception:  # noqa: BLE001 - a broken charset parameter is no charset
        charset = None
    data = payload_bytes(part)
    if charset is None and content_type(part) == "text/html":
        # HTML often names its charset only in a <meta> element.
        meta = _META_CHARSET_RE.search(data[:4096])
        charset = meta.group(1).decode("ascii") if meta else None
    text = charsets.normalize_text(charsets.decode_bytes(data, charset))
    try:
        flowed = _plain_param(part, "format") == "flowed"
        delsp = _plain_param(part, "delsp") == "yes"
    except Exception:  # noqa: BLE001
        flowed = delsp = False
    return _unflow(text, delsp) if flowed and content_type(part) == "text/plain" else text


def _plain_param(part: Message, name: str) -> str:
    """A Content-Type parameter, lower case; empty when absent or RFC 2231-encoded (a
    (charset, language, value) triple, which no client uses for these flags)."""
    value = part.get_param(name)
    return value.lower() if isinstance(value, str) else ""


def _quote_depth(line: str) -> int:
    return len(line) - len(line.lstrip(">"))


def _unflow(text: str, delsp: bool) -> str:
    """Join format=flowed soft line breaks (RFC 3676) so paragraphs read as written."""
    out: list[str] = []
    continuing = False
    for line in text.split("\n"):
        depth = _quote_depth(line)
        content = line[depth:]
        if content.startswith(" "):
            content = content[1:]
        soft = content.endswith(" ") and content != "-- "
        if delsp and soft:
            content = content[:-1]
        if continuing and out and _quote_depth(out[-1]) == depth:
            out[-1] += content
        else:
            out.append(">" * depth + (" " if depth and content else "") + content)
        continuing = soft
    return "\n".join(out)
