"""Turn raw incoming mail into a ParsedMail the rest of listbridge can trust.

Incoming mail is hostile and frequently broken: unknown or wrong charsets,
8-bit headers, unparsable addresses, truncated MIME, 5,000-character lines,
bare CR line endings.  Everything downstream (moderation, threading,
posting to the forum and chat) wants plain, decoded values instead, so this
module is the one place that copes with all of that, and it never raises
anything but :class:`MalformedMail`, whose message can be shown to a person.

The standard library does the MIME work: ``email.policy.default`` first and
``compat32`` if the modern policy chokes. Here the message is bounded, its author and
whether a machine sent it are found, and the parts are put together: header values are
read by :mod:`.header_values`, charsets by :mod:`.charsets`, the MIME tree by
:mod:`.mime_walk`, one part by :mod:`.mime_parts`, attachments by :mod:`.attachments`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from email import policy as email_policy
from email.message import Message
from email.parser import BytesHeaderParser, BytesParser

from mailgateway.text import attachments, header_values, mime_parts, mime_walk
from mailgateway.text.attachments import ParsedAttachment

__all__ = [
    "MAX_ADDRESSES",
    "MAX_HEADER_BYTES",
    "HeaderTooLarge",
    "MailHeaders",
    "MalformedMail",
    "ParsedMail",
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
_ADDRESS_HEADERS = (
    "from",
    "sender",
    "reply-to",
    "to",
    "cc",
    "bcc",
    "x-original-from",
    "x-mailfrom",
    "resent-from",
    "resent-sender",
    "resent-to",
    "resent-cc",
    "resent-bcc",
)


@dataclass(frozen=True)
class MailHeaders:
    """What the gateway decides by while the sender waits at DATA: who wrote the message,
    and whether a machine sent it. Read from the header block alone (:func:`parse_headers`),
    at a small part of the cost of a full parse."""

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
# Sender
# --------------------------------------------------------------------------

# "'Some One' via Example List" -- how Mailman, Google Groups and others
# rewrite From for DMARC, with the real sender kept elsewhere.
_VIA_NAME_RE = re.compile(r"^(?P<name>.+?)\s+via\s+\S.*$", re.I)
_LIST_HEADERS = ("list-id", "list-post", "x-mailman-version", "x-beenthere", "mailing-list", "x-original-sender")


def _sender(headers: header_values.Headers) -> tuple[str, str]:
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
    from_ = header_values.first_address(headers, "from")
    original = header_values.first_address(headers, "x-original-from")
    reply_to = header_values.first_address(headers, "reply-to")
    if not any(h in headers for h in _LIST_HEADERS):
        original = None
    if original and reply_to:
        if original[0] == reply_to[0]:
            return reply_to[0], reply_to[1] or original[1]
    elif from_ and _is_list_rewritten(headers, from_[1]):
        real = original or _distinct(reply_to, from_[0]) or header_values.first_address(headers, "x-mailfrom")
        if real:
            via = _VIA_NAME_RE.match(from_[1])
            return real[0], real[1] or (header_values.clean_name(via.group("name")) if via else "")
    if from_:
        return from_
    fallback = header_values.first_address(headers, "sender") or reply_to
    if fallback:
        return fallback
    raise MalformedMail("the From header of the message has no usable email address")


def _is_list_rewritten(headers: header_values.Headers, from_name: str) -> bool:
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


def _auto_reason(headers: header_values.Headers, message: Message, from_addr: str | None) -> str | None:
    """Why a message was sent by a machine rather than a person, if it was."""
    if mime_parts.content_type(message) == "multipart/report":
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
# Entry points
# --------------------------------------------------------------------------


def _check_bounds(headers: header_values.Headers) -> None:
    """Refuse a message whose header would cost more to read than any real one."""
    for name in _ADDRESS_HEADERS:
        if sum(value.count("@") for value in headers.raw_all(name)) > MAX_ADDRESSES:
            raise MalformedMail(
                f"the {name.title()} header lists more than {MAX_ADDRESSES} addresses, more than this server reads"
            )


def _check_header_size(raw: bytes) -> None:
    end = min((i for i in (raw.find(b"\r\n\r\n"), raw.find(b"\n\n")) if i >= 0), default=len(raw))
    if end > MAX_HEADER_BYTES:
        raise HeaderTooLarge(f"the message header is larger than this server accepts ({MAX_HEADER_BYTES} bytes)")


def _header_fields(headers: header_values.Headers, message: Message) -> MailHeaders:
    from_addr, from_name = _sender(headers)
    message_ids = header_values.message_ids(headers.raw("message-id"))
    return MailHeaders(
        message_id=message_ids[0] if message_ids else None,
        from_addr=from_addr,
        from_name=from_name,
        auto_reason=_auto_reason(headers, message, from_addr),
        list_id=header_values.list_id(headers.text("list-id")),
    )


def _build(message: Message, raw: bytes) -> ParsedMail:
    headers = header_values.Headers(message)
    _check_bounds(headers)
    body = mime_walk.walk(message)
    htmls = [html for _plain, html in body.segments if html]
    html = "\n".join(htmls) if htmls else None
    texts = [mime_walk.segment_text(plain, html) for plain, html in body.segments]
    return ParsedMail(
        **vars(_header_fields(headers, message)),
        to=header_values.address_list(headers, "to"),
        cc=header_values.address_list(headers, "cc"),
        subject=header_values.WHITESPACE_RE.sub(" ", headers.text("subject")).strip(),
        date=header_values.parse_date(headers.text("date")),
        in_reply_to=tuple(header_values.message_ids(headers.raw("in-reply-to"))),
        references=tuple(header_values.message_ids(" ".join(headers.raw_all("references")))),
        thread_index=headers.text("thread-index").strip() or None,
        text=mime_walk.body_text(texts),
        html=html,
        text_from_html=bool(htmls)
        and all(text is not plain for text, (plain, _h) in zip(texts, body.segments, strict=True)),
        attachments=attachments.parsed_attachments(body.attachments, html),
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
    except Exception as exc:
        raise MalformedMail("the message header could not be parsed") from exc
    headers = header_values.Headers(message)
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
