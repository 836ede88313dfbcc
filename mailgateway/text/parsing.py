"""Turn raw incoming mail into a ParsedMail the rest of listbridge can trust.

Incoming mail is hostile and frequently broken: unknown or wrong charsets,
8-bit headers, unparsable addresses, truncated MIME, 5,000-character lines,
bare CR line endings.  Everything downstream (moderation, threading,
posting to the forum and chat) wants plain, decoded values instead, so this
module is the one place that copes with all of that, and it never raises
anything but :class:`MalformedMail`, whose message can be shown to a person.

The standard library does the MIME work: ``email.policy.default`` first and
``compat32`` if the modern policy chokes.  Headers are always decoded from
their raw values here, so a broken header degrades to a readable string
instead of an exception or surrogate garbage.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import hashlib
import mimetypes
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email import policy as email_policy
from email.headerregistry import HeaderRegistry
from email.message import Message
from email.parser import BytesHeaderParser, BytesParser
from email.utils import getaddresses, parsedate_to_datetime

from forum.text import html_as_text, html_within_bounds
from mailgateway.text.htmltext import html_to_text

__all__ = [
    "MAX_ADDRESSES",
    "MAX_HEADER_BYTES",
    "HeaderTooLarge",
    "MailHeaders",
    "MalformedMail",
    "ParsedAttachment",
    "ParsedMail",
    "is_reply_subject",
    "normalize_subject",
    "parse_headers",
    "parse_message",
]


class MalformedMail(ValueError):
    """The message cannot be used; ``str(error)`` explains why to a person."""


class HeaderTooLarge(MalformedMail):
    """The header block is longer than :data:`MAX_HEADER_BYTES`: refused unread."""


# Bounds on the work one message may cause. Reading headers costs time in proportion to
# their size, and the standard library's strict address parser in proportion to its
# square: a header of tens of thousands of addresses held the listener for seconds. Mail
# clients cap a message's recipients in the hundreds; relays add a few kilobytes of header.
MAX_HEADER_BYTES = 256 * 1024
MAX_ADDRESSES = 1000  # in any one address header
_STRICT_PARSE_ADDRESSES = 50  # longer lists are read by the linear parsers only
_ADDRESS_HEADERS = ("from", "sender", "reply-to", "to", "cc", "bcc", "x-original-from", "x-mailfrom",
                    "resent-from", "resent-sender", "resent-to", "resent-cc", "resent-bcc")


@dataclass(frozen=True)
class ParsedAttachment:
    """A non-body MIME part, decoded."""

    filename: str
    content_type: str
    data: bytes
    inline: bool
    content_id: str | None


@dataclass(frozen=True)
class MailHeaders:
    """What the gateway decides by while the sender waits at DATA: who wrote the message,
    and whether a machine sent it. Read from the header block alone (:func:`parse_headers`),
    which costs about a twentieth of a full parse."""

    message_id: str | None
    from_addr: str | None
    from_name: str
    auto_reason: str | None
    list_id: str | None


@dataclass(frozen=True)
class ParsedMail(MailHeaders):
    """The decoded, normalised content of one message."""

    to: tuple[str, ...]
    cc: tuple[str, ...]
    subject: str
    date: datetime | None
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    thread_index: str | None
    text: str
    html: str | None
    text_from_html: bool  # no usable text/plain: ``text`` was converted from ``html``
    attachments: tuple[ParsedAttachment, ...]
    size: int


# --------------------------------------------------------------------------
# Bytes and charsets
# --------------------------------------------------------------------------

# Labels mail clients use for charsets Python names differently, or for which
# a superset decodes what is really sent (Windows and CJK vendor extensions).
_CHARSET_SUPERSETS = {
    "us-ascii": "cp1252",
    "ascii": "cp1252",
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "iso-8859-9": "cp1254",
    "iso-8859-11": "cp874",
    "tis-620": "cp874",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "euc-cn": "gb18030",
    "big5": "cp950",
    "big-5": "cp950",
    "x-x-big5": "cp950",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "x-sjis": "cp932",
    "sjis": "cp932",
    "iso-2022-jp": "iso2022_jp_ext",
    "euc-kr": "cp949",
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "unicode-1-1-utf-7": "utf-7",
    "utf8": "utf-8",
    "x-unknown": "",
    "unknown-8bit": "",
    "unknown": "",
    "x-user-defined": "",
    "default": "",
}
# Charsets whose decoder accepts any bytes: they say nothing about whether
# the label was right, so UTF-8 is tried before them.
_PERMISSIVE = frozenset({"cp1252", "latin-1", "iso8859-1"})


def _codec_name(label: str | None) -> str | None:
    """The Python codec for a MIME charset label, or None if unknown."""
    if not label:
        return None
    label = label.strip().strip("\"'").lower()
    label = _CHARSET_SUPERSETS.get(label, label)
    if not label:
        return None
    try:
        return codecs.lookup(label).name
    except (LookupError, ValueError):
        return None


def _decode_bytes(data: bytes, charset: str | None) -> str:
    """Decode text whatever its label says: label, then UTF-8, then Windows-1252.

    Mislabelled mail is common (Latin-1 sent as UTF-8, UTF-8 sent as
    us-ascii), so a label is only trusted when the bytes decode cleanly.
    """
    codec = _codec_name(charset)
    candidates = [c for c in (codec, "utf-8") if c and c not in _PERMISSIVE]
    candidates += [c for c in (codec, "cp1252") if c]
    for candidate in dict.fromkeys(candidates):
        try:
            return data.decode(candidate)
        except (UnicodeDecodeError, LookupError):
            continue
    return _decode_mostly_utf8(data)


def _decode_mostly_utf8(data: bytes) -> str:
    """Last resort: UTF-8 with replacements if it is mostly UTF-8, else Windows-1252."""
    as_utf8 = data.decode("utf-8", errors="replace")
    replaced = as_utf8.count("\ufffd")
    multibyte = sum(1 for c in as_utf8 if ord(c) > 0x7F and c != "\ufffd")
    if multibyte > replaced:
        return as_utf8
    return data.decode("cp1252", errors="replace")


_SURROGATES_RE = re.compile("[\udc80-\udcff]+")


def _fix_surrogates(text: str) -> str:
    """Decode raw 8-bit bytes that the parser kept as surrogate escapes."""
    return _SURROGATES_RE.sub(
        lambda m: _decode_bytes(m.group().encode("utf-8", "surrogateescape"), None), text
    )


_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _normalize_text(text: str) -> str:
    """\\n line endings, no NULs or other control characters."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL_RE.sub("", text)


# --------------------------------------------------------------------------
# Headers
# --------------------------------------------------------------------------

_ENCODED_WORD_RE = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
_FOLDING_RE = re.compile(r"\r?\n(?=[ \t])")
_STRAY_NEWLINE_RE = re.compile(r"[\r\n]+")
_WHITESPACE_RE = re.compile(r"\s+")


def _unfold(value: str) -> str:
    return _STRAY_NEWLINE_RE.sub(" ", _FOLDING_RE.sub("", value))


def _encoded_word_bytes(encoding: str, payload: str) -> bytes | None:
    raw = payload.encode("ascii", "surrogateescape")
    try:
        if encoding.lower() == "q":
            return binascii.a2b_qp(raw, header=True)
        return base64.b64decode(raw + b"=" * (-len(raw) % 4))
    except (binascii.Error, ValueError):
        return None


def _decode_encoded_words(value: str) -> str:
    """RFC 2047 decoding that survives unknown charsets and broken words.

    Whitespace between two encoded words is dropped, and adjacent words in
    one charset are joined as bytes before decoding because clients split
    multi-byte characters across words.  A word that cannot be decoded is
    left as it was.
    """
    pieces: list[str] = []
    pending = b""
    pending_charset = ""
    position = 0
    after_word = False
    for match in _ENCODED_WORD_RE.finditer(value):
        data = _encoded_word_bytes(match.group(2), match.group(3))
        if data is None:
            continue
        between = value[position : match.start()]
        charset = match.group(1).split("*", 1)[0].lower()
        adjacent = after_word and not between.strip()
        if not adjacent or charset != pending_charset:
            if pending:
                pieces.append(_decode_bytes(pending, pending_charset))
            pending = b""
            if not adjacent:
                pieces.append(between)
        pending += data
        pending_charset = charset
        position = match.end()
        after_word = True
    if pending:
        pieces.append(_decode_bytes(pending, pending_charset))
    pieces.append(value[position:])
    return "".join(pieces)


def _decode_header(value: str) -> str:
    """Readable text of a raw header value."""
    text = _decode_encoded_words(_unfold(value)) if "=?" in value else _unfold(value)
    return _CONTROL_RE.sub("", _fix_surrogates(text))


class _Headers:
    """Raw header values by lower-case name, decoded on request."""

    def __init__(self, message: Message) -> None:
        self._values: dict[str, list[str]] = {}
        for name, value in message.raw_items():
            self._values.setdefault(str(name).strip().lower(), []).append(str(value))

    def raw_all(self, name: str) -> list[str]:
        return self._values.get(name, [])

    def raw(self, name: str) -> str | None:
        values = self.raw_all(name)
        return values[0] if values else None

    def text(self, name: str) -> str:
        value = self.raw(name)
        return _decode_header(value) if value is not None else ""

    def __contains__(self, name: str) -> bool:
        return name in self._values


# --------------------------------------------------------------------------
# Addresses and identifiers
# --------------------------------------------------------------------------

_HEADER_FACTORY = HeaderRegistry()
_ADDR_SPEC_RE = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)


def _clean_addr(addr: str) -> str | None:
    """A lower-case addr-spec, or None if this is not an email address."""
    addr = re.sub(r"\s*@\s*", "@", addr.strip().strip("<>\"'").strip())
    addr = addr.rstrip(".").lower()
    local, at, domain = addr.rpartition("@")
    if not at or not local or "." not in domain or re.search(r"[\s<>(),;:\"\[\]]", addr):
        return None
    return _fix_surrogates(addr)


def _clean_name(name: str) -> str:
    """A display name without encoding, control characters or enclosing quotes."""
    name = _decode_header(name) if "=?" in name else _CONTROL_RE.sub("", _fix_surrogates(name))
    name = _WHITESPACE_RE.sub(" ", name).strip()
    while len(name) >= 2 and name[0] == name[-1] and name[0] in "\"'":
        name = name[1:-1].strip()
    return name


def _parse_addresses(raw: str) -> list[tuple[str, str]]:
    """(display name, addr-spec) pairs of an address header, however broken.

    The strict RFC 5322 parser, the lenient legacy one and a plain search for
    address-shaped text each get a try; the one that finds the most usable
    addresses wins, because on broken headers the parsers drop different ones.
    The strict one takes time in proportion to the square of the list's length,
    so it reads short lists only.
    """
    unfolded = _unfold(raw)
    best: list[tuple[str, str]] = []
    parsers = (_parse_addresses_lenient, _parse_addresses_by_shape)
    if unfolded.count("@") <= _STRICT_PARSE_ADDRESSES:
        parsers = (_parse_addresses_strict, *parsers)
    for parse in parsers:
        try:
            found = parse(unfolded)
        except Exception:  # noqa: BLE001 - a broken header must not break parsing
            continue
        valid = _unique_addresses(found)
        if len(valid) > len(best):
            best = valid
    return best


def _unique_addresses(found: list[tuple[str, str | None]]) -> list[tuple[str, str]]:
    unique: dict[str, str] = {}
    for name, addr in found:
        if addr and addr not in unique:
            unique[addr] = _clean_name(name)
    return [(name, addr) for addr, name in unique.items()]


def _parse_addresses_strict(value: str) -> list[tuple[str, str | None]]:
    header = _HEADER_FACTORY("to", value)
    return [(a.display_name, _clean_addr(a.addr_spec)) for a in header.addresses]


def _parse_addresses_lenient(value: str) -> list[tuple[str, str | None]]:
    return [(name, _clean_addr(addr)) for name, addr in getaddresses([value])]


def _parse_addresses_by_shape(value: str) -> list[tuple[str, str | None]]:
    return [("", _clean_addr(match)) for match in _ADDR_SPEC_RE.findall(value)]


def _address_list(headers: _Headers, name: str) -> tuple[str, ...]:
    found: dict[str, None] = {}
    for raw in headers.raw_all(name):
        for _display, addr in _parse_addresses(raw):
            found.setdefault(addr, None)
    return tuple(found)


def _first_address(headers: _Headers, name: str) -> tuple[str, str] | None:
    """(addr, display name) of the first usable address in a header."""
    for raw in headers.raw_all(name):
        for display, addr in _parse_addresses(raw):
            return addr, display
    return None


_ANGLE_ID_RE = re.compile(r"<([^<>]+)>")


def _message_ids(value: str | None) -> list[str]:
    """Bare ids from a Message-ID / In-Reply-To / References value, in order, once each."""
    if not value:
        return []
    value = _unfold(_fix_surrogates(value))
    ids = [re.sub(r"\s+", "", m) for m in _ANGLE_ID_RE.findall(value)]
    if not ids:
        ids = [token.strip("<>,;") for token in value.split() if "@" in token]
    return list(dict.fromkeys(i for i in ids if i))


_DATE_FRACTION_RE = re.compile(r"(\d\d:\d\d:\d\d)[.,]\d+")
_DATE_BARE_OFFSET_RE = re.compile(r"\s(\d{4})\s*$")


def _parse_date(value: str) -> datetime | None:
    """A timezone-aware date, tolerating fractional seconds and offsets without a sign."""
    if not value.strip():
        return None
    for candidate in (value, _DATE_BARE_OFFSET_RE.sub(r" +\1", _DATE_FRACTION_RE.sub(r"\1", value))):
        try:
            parsed = parsedate_to_datetime(candidate)
        except (TypeError, ValueError, IndexError, OverflowError):
            continue
        if parsed is not None:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
    return None


def _list_id(value: str) -> str | None:
    match = _ANGLE_ID_RE.search(value)
    candidate = match.group(1) if match else value
    candidate = candidate.strip().lower()
    return candidate if candidate and " " not in candidate else None


# --------------------------------------------------------------------------
# Sender
# --------------------------------------------------------------------------

# "'Some One' via Example List" -- how Mailman, Google Groups and others
# rewrite From for DMARC, with the real sender kept elsewhere.
_VIA_NAME_RE = re.compile(r"^(?P<name>.+?)\s+via\s+\S.*$", re.I)
_LIST_HEADERS = ("list-id", "list-post", "x-mailman-version", "x-beenthere", "mailing-list", "x-original-sender")


def _sender(headers: _Headers) -> tuple[str, str]:
    """(address, display name) of the person who wrote the message.

    From, except where a mailing list we recognise (its List-Id and the like)
    rewrote it: then X-Original-From, Reply-To or X-MailFrom name the real
    author.  Reply-To is only believed when nothing contradicts it, because it
    often points at the list.  Anyone can write those headers, so they are
    read only in mail from a list server, and the author they name is checked
    like any other (mailgateway.incoming.authenticity): the list's own signature does
    not vouch for them; its ARC record may, if its sealer is trusted.
    """
    if "from" not in headers:
        raise MalformedMail("the message has no From address")
    from_ = _first_address(headers, "from")
    original = _first_address(headers, "x-original-from")
    reply_to = _first_address(headers, "reply-to")
    if not any(h in headers for h in _LIST_HEADERS):
        original = None
    if original and reply_to:
        if original[0] == reply_to[0]:
            return reply_to[0], reply_to[1] or original[1]
    elif from_ and _is_list_rewritten(headers, from_[1]):
        real = original or _distinct(reply_to, from_[0]) or _first_address(headers, "x-mailfrom")
        if real:
            via = _VIA_NAME_RE.match(from_[1])
            return real[0], real[1] or (_clean_name(via.group("name")) if via else "")
    if from_:
        return from_
    fallback = _first_address(headers, "sender") or reply_to
    if fallback:
        return fallback
    raise MalformedMail("the From header of the message has no usable email address")


def _is_list_rewritten(headers: _Headers, from_name: str) -> bool:
    return bool(_VIA_NAME_RE.match(from_name)) and any(h in headers for h in _LIST_HEADERS)


def _distinct(candidate: tuple[str, str] | None, addr: str) -> tuple[str, str] | None:
    return candidate if candidate and candidate[0] != addr else None


# --------------------------------------------------------------------------
# Automatic mail
# --------------------------------------------------------------------------

_AUTO_SUBJECT_RE = re.compile(
    r"^\s*(?:auto:|automatic reply|auto[- ]?reply|auto[- ]?response|out of (?:the )?office"
    r"|autosvar|automatisk svar|automatisch antwoord|abwesenheitsnotiz"
    r"|automatische antwort|r[ée]ponse automatique|respuesta autom[áa]tica"
    r"|risposta automatica|fuori sede|fr[åa]nvaro|resposta autom[áa]tica)",
    re.I,
)
_BOUNCE_SENDER_RE = re.compile(r"^(?:mailer[-_]?daemon|postmaster)@", re.I)


def _report_type(message: Message) -> str:
    try:
        return str(message.get_param("report-type") or "").strip().lower()
    except Exception:  # noqa: BLE001 - an unreadable parameter is no report type
        return ""


def _auto_reason(headers: _Headers, message: Message, from_addr: str | None) -> str | None:
    """Why a message was sent by a machine rather than a person, if it was."""
    if _content_type(message) == "multipart/report":
        return "read receipt" if _report_type(message) == "disposition-notification" else "bounce"
    if "x-failed-recipients" in headers:
        return "bounce"
    if from_addr and _BOUNCE_SENDER_RE.match(from_addr):
        return "bounce"
    auto_submitted = headers.text("auto-submitted").strip().lower()
    if auto_submitted and not auto_submitted.startswith("no"):
        return f"Auto-Submitted: {auto_submitted}"
    precedence = headers.text("precedence").strip().lower()
    if precedence in ("bulk", "junk", "list", "auto_reply"):
        return f"Precedence: {precedence}"
    for name in ("x-autoreply", "x-autorespond", "x-autoresponder", "x-autogenerated", "x-auto-generated"):
        value = headers.text(name).strip().lower()
        if name in headers and value not in ("no", "false", "0"):
            return f"{name}: {value}".strip()
    # Exchange and notification systems mark their own messages "All"; other
    # values are set by ordinary clients too.
    if headers.text("x-auto-response-suppress").strip().lower() == "all":
        return "X-Auto-Response-Suppress: All"
    if _AUTO_SUBJECT_RE.match(headers.text("subject")):
        return "automatic reply subject"
    return None


# --------------------------------------------------------------------------
# Body and attachments
# --------------------------------------------------------------------------

_MAX_DEPTH = 40
_SIGNATURE_TYPES = frozenset(
    {"application/pgp-signature", "application/pkcs7-signature", "application/x-pkcs7-signature"}
)
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


@dataclass
class _Part:
    """An attachment before its final name and inline flag are known."""

    content_type: str
    data: bytes
    filename: str | None
    content_id: str | None
    disposition: str


@dataclass
class _Body:
    """What a MIME subtree contributes: text segments in order, and attachments."""

    segments: list[tuple[str | None, str | None]] = field(default_factory=list)
    attachments: list[_Part] = field(default_factory=list)

    def extend(self, other: _Body) -> None:
        self.segments.extend(other.segments)
        self.attachments.extend(other.attachments)


def _content_type(part: Message) -> str:
    try:
        return part.get_content_type().lower()
    except Exception:  # noqa: BLE001 - an unparsable Content-Type means the default
        return "text/plain"


def _disposition(part: Message) -> str:
    raw = part.get("content-disposition")
    return str(raw).split(";", 1)[0].strip().lower() if raw is not None else ""


_FILENAME_PARAM_RE = re.compile(
    r"(?:^|;)\s*(?:file)?name\*?(?:\*\d+\*?)?\s*=\s*(\"[^\"]*\"|[^;]+)", re.I
)


def _raw_filename(part: Message) -> str | None:
    """The filename parameter read by hand, for headers the parsers reject."""
    for header in ("content-disposition", "content-type"):
        for name, value in part.raw_items():
            if str(name).lower() == header:
                match = _FILENAME_PARAM_RE.search(_unfold(str(value)))
                if match:
                    return match.group(1).strip().strip('"')
    return None


def _filename(part: Message) -> str | None:
    try:
        name = part.get_filename()
    except Exception:  # noqa: BLE001 - broken RFC 2231 parameters
        name = None
    if not name or "=?" in (_raw_filename(part) or ""):
        name = _raw_filename(part) or name
    if not name:
        return None
    return _decode_header(str(name))


def _content_id(part: Message) -> str | None:
    value = part.get("content-id")
    cid = str(value).strip().strip("<>").strip() if value is not None else ""
    return cid or None


def _transfer_encoding(part: Message) -> str:
    return str(part.get("content-transfer-encoding") or "").strip().lower()


def _payload_bytes(part: Message) -> bytes:
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


def _message_bytes(part: Message) -> bytes:
    """The bytes of an attached message/* part, as close to the original as possible.

    The parser has already split it into messages (one for message/rfc822,
    one per block for message/delivery-status); they are written back out.
    A message part should not be base64 or quoted-printable encoded, but
    some senders do it; the parser then reads the encoded text as the
    message, so it is decoded here.
    """
    payload = part.get_payload()
    if not (isinstance(payload, list) and payload):
        return _payload_bytes(part)
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


def _part_text(part: Message) -> str:
    try:
        charset = part.get_content_charset()
    except Exception:  # noqa: BLE001 - a broken charset parameter is no charset
        charset = None
    data = _payload_bytes(part)
    if charset is None and _content_type(part) == "text/html":
        # HTML often names its charset only in a <meta> element.
        meta = _META_CHARSET_RE.search(data[:4096])
        charset = meta.group(1).decode("ascii") if meta else None
    text = _normalize_text(_decode_bytes(data, charset))
    try:
        flowed = (part.get_param("format") or "").lower() == "flowed"
        delsp = (part.get_param("delsp") or "").lower() == "yes"
    except Exception:  # noqa: BLE001
        flowed = delsp = False
    return _unflow(text, delsp) if flowed and _content_type(part) == "text/plain" else text


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


def _as_attachment(part: Message, content_type: str) -> _Part:
    data = _message_bytes(part) if content_type.startswith("message/") else _payload_bytes(part)
    return _Part(content_type, data, _filename(part), _content_id(part), _disposition(part))


def _walk(part: Message, depth: int = 0) -> _Body:
    """Collect body text segments and attachments of a MIME subtree."""
    content_type = _content_type(part)
    body = _Body()
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
        children = [c for c in children if _content_type(c) not in _SIGNATURE_TYPES]
    for child in children:
        body.extend(_walk(child, depth + 1))
    return body


def _walk_leaf(part: Message, content_type: str) -> _Body:
    body = _Body()
    is_body_text = content_type in ("text/plain", "text/html")
    if is_body_text and _disposition(part) != "attachment" and not _filename(part):
        text = _part_text(part)
        body.segments.append((text, None) if content_type == "text/plain" else (None, text))
    else:
        body.attachments.append(_as_attachment(part, content_type))
    return body


def _walk_alternative(children: list[Message], depth: int) -> _Body:
    """Keep the plain-text version for ``text`` and the HTML one for ``html``.

    Alternatives are ordered from plainest to richest, so of several plain
    or HTML versions the last one is the sender's preferred.
    """
    versions = [_walk(child, depth + 1) for child in children]
    plain = next((v for v in reversed(versions) if _joined(v, 0).strip()), None)
    html = next((v for v in reversed(versions) if _joined(v, 1)), None)
    body = _Body()
    plain_text = _joined(plain, 0) if plain else None
    html_text = _joined(html, 1) if html else None
    if plain_text is not None or html_text is not None:
        body.segments.append((plain_text, html_text))
    for version in versions:
        body.attachments.extend(version.attachments)
    return body


def _joined(body: _Body, index: int) -> str:
    return "\n".join(s[index] for s in body.segments if s[index] is not None)


def _related_root_first(part: Message, children: list[Message]) -> list[Message]:
    """The root of multipart/related is the "start" part, or the first one."""
    try:
        start = str(part.get_param("start") or "").strip().strip("<>")
    except Exception:  # noqa: BLE001 - an unreadable parameter means the default
        start = ""
    root = next((c for c in children if start and _content_id(c) == start), None)
    if root is None:
        return children
    return [root] + [c for c in children if c is not root]


def _segment_text(plain: str | None, html: str | None) -> str:
    if plain is not None and (plain.strip() or not html):
        return plain
    if not html:
        return ""
    return html_to_text(html) if html_within_bounds(html) else html_as_text(html)


def _body_text(texts: list[str]) -> str:
    stripped = [t.strip("\n") for t in texts]
    return "\n\n".join(t for t in stripped if t.strip())


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


def _attachments(parts: list[_Part], html: str | None) -> tuple[ParsedAttachment, ...]:
    html_lower = (html or "").lower()
    seen: set[tuple[str | None, str, str]] = set()
    result: list[ParsedAttachment] = []
    for part in parts:
        key = (part.content_id, part.content_type, hashlib.sha256(part.data).hexdigest())
        if key in seen:
            continue
        seen.add(key)
        referenced = bool(part.content_id) and f"cid:{part.content_id.lower()}" in html_lower
        inline = referenced or (
            part.disposition == "inline" and not part.content_type.startswith(("text/", "message/"))
        )
        name = _safe_filename(part.filename, len(result) + 1, part.content_type)
        result.append(ParsedAttachment(name, part.content_type, part.data, inline, part.content_id))
    return tuple(result)


# --------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------


def _check_bounds(headers: _Headers) -> None:
    """Refuse a message whose header would cost more to read than any real one."""
    for name in _ADDRESS_HEADERS:
        if sum(value.count("@") for value in headers.raw_all(name)) > MAX_ADDRESSES:
            raise MalformedMail(f"the {name.title()} header lists more than {MAX_ADDRESSES} addresses, "
                                "more than this server reads")


def _check_header_size(raw: bytes) -> None:
    end = min((i for i in (raw.find(b"\r\n\r\n"), raw.find(b"\n\n")) if i >= 0), default=len(raw))
    if end > MAX_HEADER_BYTES:
        raise HeaderTooLarge(f"the message header is larger than this server accepts ({MAX_HEADER_BYTES} bytes)")


def _header_fields(headers: _Headers, message: Message) -> MailHeaders:
    from_addr, from_name = _sender(headers)
    message_ids = _message_ids(headers.raw("message-id"))
    return MailHeaders(
        message_id=message_ids[0] if message_ids else None,
        from_addr=from_addr,
        from_name=from_name,
        auto_reason=_auto_reason(headers, message, from_addr),
        list_id=_list_id(headers.text("list-id")),
    )


def _build(message: Message, raw: bytes) -> ParsedMail:
    headers = _Headers(message)
    _check_bounds(headers)
    body = _walk(message)
    htmls = [html for _plain, html in body.segments if html]
    html = "\n".join(htmls) if htmls else None
    texts = [_segment_text(plain, html) for plain, html in body.segments]
    return ParsedMail(
        **vars(_header_fields(headers, message)),
        to=_address_list(headers, "to"),
        cc=_address_list(headers, "cc"),
        subject=_WHITESPACE_RE.sub(" ", headers.text("subject")).strip(),
        date=_parse_date(headers.text("date")),
        in_reply_to=tuple(_message_ids(headers.raw("in-reply-to"))),
        references=tuple(_message_ids(" ".join(headers.raw_all("references")))),
        thread_index=headers.text("thread-index").strip() or None,
        text=_body_text(texts),
        html=html,
        text_from_html=bool(htmls) and all(text is not plain for text, (plain, _h) in zip(texts, body.segments)),
        attachments=_attachments(body.attachments, html),
        size=len(raw),
    )


def _raw_bytes(raw: bytes) -> bytes:
    if not isinstance(raw, (bytes, bytearray, memoryview)):
        raise MalformedMail("the message is not raw bytes")
    raw = bytes(raw)
    if not raw.strip():
        raise MalformedMail("the message is empty")
    return raw


def parse_headers(raw: bytes) -> MailHeaders:
    """The header block of one message, read as :func:`parse_message` reads it (raising
    :class:`MalformedMail` for the same unusable headers); the body is not looked at."""
    raw = _raw_bytes(raw)
    _check_header_size(raw)
    try:
        message = BytesHeaderParser(policy=email_policy.compat32).parsebytes(raw)
    except Exception as exc:  # noqa: BLE001 - whatever the library trips on, the sender hears why
        raise MalformedMail("the message header could not be parsed") from exc
    headers = _Headers(message)
    _check_bounds(headers)
    return _header_fields(headers, message)


def parse_message(raw: bytes) -> ParsedMail:
    """Parse one raw message; raise :class:`MalformedMail` (only) if it is unusable."""
    raw = _raw_bytes(raw)
    _check_header_size(raw)
    failure: Exception | None = None
    for policy in (email_policy.default, email_policy.compat32):
        try:
            message = BytesParser(policy=policy).parsebytes(raw)
            return _build(message, raw)
        except MalformedMail:
            raise
        except Exception as exc:  # noqa: BLE001 - retry with the lenient policy
            failure = exc
    raise MalformedMail("the message could not be parsed as email") from failure


# --------------------------------------------------------------------------
# Subjects
# --------------------------------------------------------------------------

_REPLY_PREFIXES = (
    r"re|aw|sv|svar|antw|antwort|r[ée]f\.?|rif|r|vs|odp|res|ynt|atb|ats|odg|vá|"
    r"απ|σχετ|回复|答复|回覆|答覆|返信"
)
_FORWARD_PREFIXES = (
    r"fwd?|wg|tr|rv|enc|doorst|vb|vl|pd|fs|továbbítás|přeposlat|"
    r"转发|轉寄|転送|πρθ"
)
_COUNTER = r"(?:\s*(?:\[\d+\]|\(\d+\)|\^\d+))?"
_REPLY_RE = re.compile(rf"(?:{_REPLY_PREFIXES}){_COUNTER}\s*[:：]", re.I)
_FORWARD_RE = re.compile(rf"(?:{_FORWARD_PREFIXES}){_COUNTER}\s*[:：]", re.I)
_TAG_RE = re.compile(r"\[[^\[\]]{0,100}\]")


def _strip_tags(subject: str) -> str:
    subject = subject.lstrip()
    while True:
        match = _TAG_RE.match(subject)
        if not match:
            return subject
        subject = subject[match.end() :].lstrip()


def is_reply_subject(subject: str) -> bool:
    """Whether the subject starts (after any "[list]" tags) with a reply prefix."""
    return bool(_REPLY_RE.match(_strip_tags(subject or "")))


def normalize_subject(subject: str) -> str:
    """The thread subject: reply/forward prefixes and "[list]" tags removed, casefolded."""
    rest = _strip_tags(subject or "")
    while True:
        match = _REPLY_RE.match(rest) or _FORWARD_RE.match(rest)
        if not match:
            break
        rest = _strip_tags(rest[match.end() :])
    return _WHITESPACE_RE.sub(" ", rest).strip().casefold()
