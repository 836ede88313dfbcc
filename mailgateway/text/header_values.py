"""Header values read however broken: RFC 2047 encoded words, addresses, Message-IDs,
dates and List-Id.

Headers are always decoded from their raw values, so a broken one degrades to a readable
string instead of an exception. Address headers are read by whichever of three parsers
finds the most usable addresses, since on broken headers they drop different ones.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from datetime import UTC, datetime
from email.headerregistry import AddressHeader, HeaderRegistry
from email.message import Message
from email.utils import getaddresses, parsedate_to_datetime
from typing import cast

from mailgateway.text import charsets

_STRICT_PARSE_ADDRESSES = 50  # longer lists are read by the linear parsers only
_ENCODED_WORD_RE = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
_FOLDING_RE = re.compile(r"\r?\n(?=[ \t])")
_STRAY_NEWLINE_RE = re.compile(r"[\r\n]+")
WHITESPACE_RE = re.compile(r"\s+")


def unfold(value: str) -> str:
    """A folded header value on one line."""
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
                pieces.append(charsets.decode_bytes(pending, pending_charset))
            pending = b""
            if not adjacent:
                pieces.append(between)
        pending += data
        pending_charset = charset
        position = match.end()
        after_word = True
    if pending:
        pieces.append(charsets.decode_bytes(pending, pending_charset))
    pieces.append(value[position:])
    return "".join(pieces)


def decode_header(value: str) -> str:
    """Readable text of a raw header value."""
    text = _decode_encoded_words(unfold(value)) if "=?" in value else unfold(value)
    return charsets.CONTROL_RE.sub("", charsets.fix_surrogates(text))


class Headers:
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
        return decode_header(value) if value is not None else ""

    def __contains__(self, name: str) -> bool:
        return name in self._values


_HEADER_FACTORY = HeaderRegistry()
# (display name, addr-spec or None) pairs read from an address header's value.
_AddressParser = Callable[[str], list[tuple[str, str | None]]]
_ADDR_SPEC_RE = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)


def _clean_addr(addr: str) -> str | None:
    """A lower-case addr-spec, or None if this is not an email address."""
    addr = re.sub(r"\s*@\s*", "@", addr.strip().strip("<>\"'").strip())
    addr = addr.rstrip(".").lower()
    local, at, domain = addr.rpartition("@")
    if not at or not local or "." not in domain or re.search(r"[\s<>(),;:\"\[\]]", addr):
        return None
    return charsets.fix_surrogates(addr)


def clean_name(name: str) -> str:
    """A display name without encoding, control characters or enclosing quotes."""
    name = decode_header(name) if "=?" in name else charsets.CONTROL_RE.sub("", charsets.fix_surrogates(name))
    name = WHITESPACE_RE.sub(" ", name).strip()
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
    unfolded = unfold(raw)
    best: list[tuple[str, str]] = []
    parsers: tuple[_AddressParser, ...] = (_parse_addresses_lenient, _parse_addresses_by_shape)
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
            unique[addr] = clean_name(name)
    return [(name, addr) for addr, name in unique.items()]


def _parse_addresses_strict(value: str) -> list[tuple[str, str | None]]:
    header = cast(AddressHeader, _HEADER_FACTORY("to", value))  # the registry makes "to" an address header
    return [(a.display_name, _clean_addr(a.addr_spec)) for a in header.addresses]


def _parse_addresses_lenient(value: str) -> list[tuple[str, str | None]]:
    return [(name, _clean_addr(addr)) for name, addr in getaddresses([value])]


def _parse_addresses_by_shape(value: str) -> list[tuple[str, str | None]]:
    return [("", _clean_addr(match)) for match in _ADDR_SPEC_RE.findall(value)]


def address_list(headers: Headers, name: str) -> tuple[str, ...]:
    found: dict[str, None] = {}
    for raw in headers.raw_all(name):
        for _display, addr in _parse_addresses(raw):
            found.setdefault(addr, None)
    return tuple(found)


def first_address(headers: Headers, name: str) -> tuple[str, str] | None:
    """(addr, display name) of the first usable address in a header."""
    for raw in headers.raw_all(name):
        for display, addr in _parse_addresses(raw):
            return addr, display
    return None


_ANGLE_ID_RE = re.compile(r"<([^<>]+)>")


def message_ids(value: str | None) -> list[str]:
    """Bare ids from a Message-ID / In-Reply-To / References value, in order, once each."""
    if not value:
        return []
    value = unfold(charsets.fix_surrogates(value))
    ids = [re.sub(r"\s+", "", m) for m in _ANGLE_ID_RE.findall(value)]
    if not ids:
        ids = [token.strip("<>,;") for token in value.split() if "@" in token]
    return list(dict.fromkeys(i for i in ids if i))


_DATE_FRACTION_RE = re.compile(r"(\d\d:\d\d:\d\d)[.,]\d+")
_DATE_BARE_OFFSET_RE = re.compile(r"\s(\d{4})\s*$")


def parse_date(value: str) -> datetime | None:
    """A timezone-aware date, tolerating fractional seconds and offsets without a sign."""
    if not value.strip():
        return None
    for candidate in (value, _DATE_BARE_OFFSET_RE.sub(r" +\1", _DATE_FRACTION_RE.sub(r"\1", value))):
        try:
            parsed = parsedate_to_datetime(candidate)
        except (TypeError, ValueError, IndexError, OverflowError):
            continue
        if parsed is not None:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def list_id(value: str) -> str | None:
    match = _ANGLE_ID_RE.search(value)
    candidate = match.group(1) if match else value
    candidate = candidate.strip().lower()
    return candidate if candidate and " " not in candidate else None
