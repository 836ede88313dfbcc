"""Bringing an existing list archive (an mbox file) into a community.

Mailman 2 (pipermail), Mailman 3 (HyperKitty) and Google Groups all export mbox, each
with its quirks: "From " separator lines in several date styles, body lines escaped as
``>From`` (mboxrd) or not at all (mboxo), CRLF line endings, addresses obfuscated as
``alice at example.org``, messages without a Message-ID or with a Date that is missing
or absurd. Each message goes through the same parser and the same
:func:`~mailgateway.incoming.drafting.build_draft` as live mail, and through
:func:`~forum.posting.submit_post` as a trusted draft that keeps its original date and
author, so an imported archive threads exactly as if it had been mailed to the list —
except that a "Re:" subject is matched against threads active in the days before *the
message's own date*, not before today.

An import is history, not news: no member is sent a copy (no outbox rows survive) and
nothing waits in the inbound spool; the original bytes are kept as a finished inbound
row (channel ``import``) so the archive's mbox download serves them unchanged. Every
message is imported in a savepoint of its own, so one bad message is refused with its
number in the file while the rest go in, and a Message-ID already stored is skipped:
running the same file again imports nothing.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker as SessionMaker

from forum.errors import InvalidInput, ListbridgeError
from forum.models import (
    Community,
    InboundMessage,
    InboundStatus,
    Post,
    utcnow,
)
from forum.posting import Draft, community_by_slug, submit_post
from forum.site import Site
from mailgateway.addresses import Form, Route
from mailgateway.incoming.drafting import build_draft
from mailgateway.text.parsing import MalformedMail, ParsedMail, parse_message

CHANNEL = "import"
BATCH = 200  # messages per transaction: a crash loses at most one batch, which a re-run redoes

# "From sender date": asctime ("Mon Jan  3 10:00:00 2005"), optionally with a zone before
# the year as Google Takeout writes it ("Thu Mar 05 21:29:36 +0000 2020"). The sender may
# be Mailman's obfuscated "alice at example.org", so it is anything up to the date.
_DAY = rb"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
_MONTH = rb"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
_FROM_LINE = re.compile(
    rb"^From (?P<sender>.*?)\s*(?P<date>"
    + _DAY
    + rb",?\s+"
    + _MONTH
    + rb"\s+\d{1,2}\s+\d{1,2}:\d\d(?::\d\d)?\s+(?:(?:[+-]\d{4}|[A-Z]{1,5})\s+)?\d{4})\s*$"
)
_ESCAPED_FROM = re.compile(rb"^>(>*From )")
# Mailman's archive hides addresses as "alice at example.org"; only in address headers
# that have no "@" at all is it undone, for parsing (the stored original keeps it).
_OBFUSCATED = re.compile(rb"\b([\w.+'-]+) at ([\w-]+(?:\.[\w-]+)+)\b")
_OBFUSCATED_NAMED = re.compile(
    rb"\b([\w.+'-]+) at ([\w-]+(?:\.[\w-]+)+)\s*\(([^()\"]*)\)"
)  # pipermail's "a at b (Name)"
_ADDRESS_HEADER = re.compile(rb"^(?:from|reply-to|sender|to|cc|x-original-from):", re.IGNORECASE)
_HEADER_END = re.compile(rb"\r?\n(?=\r?\n)")  # the end of the last header line
_FROM_HEADER = re.compile(rb"^from:", re.IGNORECASE)
_STAND_IN_HEADER = re.compile(rb"^(?:reply-to|sender):(.*)", re.IGNORECASE | re.DOTALL)
EARLIEST = datetime(1975, 1, 1, tzinfo=UTC)  # before this a Date is a broken clock, not history
FUTURE_SLACK = timedelta(days=2)


class NotAnMbox(InvalidInput):
    """The file is not an mbox at all (nothing in it was imported)."""


@dataclass(frozen=True)
class MboxMessage:
    """One message of the file: its number (from 1), its bytes, and the sender and date on
    its "From " line."""

    number: int
    raw: bytes
    sender: bytes
    envelope_date: datetime | None


@dataclass(frozen=True)
class Refusal:
    number: int
    reason: str

    def __str__(self) -> str:
        return f"message {self.number}: {self.reason}"


@dataclass
class ImportReport:
    imported: int = 0
    skipped: int = 0  # already stored (same Message-ID): a re-run, or a duplicate in the file
    refused: list[Refusal] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.imported + self.skipped + len(self.refused)

    def summary(self) -> str:
        return f"{self.imported} imported, {self.skipped} skipped (already there), {len(self.refused)} refused"


Progress = Callable[[int, int], None]  # (messages done, messages in the file)


# Reading the file -------------------------------------------------------------------------


def _is_separator(line: bytes, first: bool) -> bool:
    """A "From " line that starts a message. The first one may have any shape; later ones
    must carry a date, so an unescaped "From here on…" in a body (mboxo) does not split it."""
    return line.startswith(b"From ") and (first or _FROM_LINE.match(line.rstrip(b"\r\n")) is not None)


def _lines(stream: BinaryIO, name: str) -> Iterator[bytes]:
    """The file's lines, after checking it starts like an mbox (blank lines may come first)."""
    lines = iter(stream)
    for line in lines:
        if line.strip():
            if not line.startswith(b"From "):
                raise NotAnMbox(f'{name} is not an mbox file: it does not start with a "From " line')
            yield line
            break
    yield from lines


def count_messages(path: Path) -> int:
    """How many messages :func:`read_mbox` will yield (a quick pass, for the progress bar)."""
    with path.open("rb") as stream:
        return sum(1 for i, line in enumerate(_lines(stream, path.name)) if _is_separator(line, i == 0))


def read_mbox(path: Path) -> Iterator[MboxMessage]:
    """The messages of an mbox, one at a time (memory stays flat however big the file).

    ``>From`` lines lose one ``>`` (mboxrd, which also undoes mboxo's escaping), and the
    blank line that separates messages is dropped, so a message reads back byte for byte
    as the archive's own mbox download wrote it.
    """
    with path.open("rb") as stream:
        number, envelope = 0, b""
        body: list[bytes] = []
        for line in _lines(stream, path.name):
            if _is_separator(line, number == 0):
                if number:
                    yield _message(number, envelope, body)
                number, envelope, body = number + 1, line, []
            else:
                body.append(_ESCAPED_FROM.sub(rb"\1", line))
        if number:
            yield _message(number, envelope, body)


def _message(number: int, envelope: bytes, body: list[bytes]) -> MboxMessage:
    if body and not body[-1].strip(b"\r\n"):
        body.pop()
    match = _FROM_LINE.match(envelope.rstrip(b"\r\n"))
    sender = match.group("sender") if match else envelope[5:].split(b" ", 1)[0]
    return MboxMessage(number, b"".join(body), sender.strip(), _envelope_date(match) if match else None)


def _envelope_date(match: re.Match[bytes]) -> datetime | None:
    text = match.group("date").decode("ascii").replace(",", "")
    parts = text.split()
    if len(parts) == 6:  # "Thu Mar 05 21:29:36 +0000 2020": zone before the year
        day, month, mday, clock, zone, year = parts
        text = f"{day}, {mday} {month} {year} {clock} {zone}"
    else:
        day, month, mday, clock, year = parts
        text = f"{day}, {mday} {month} {year} {clock} +0000"
    try:
        return _utc(parsedate_to_datetime(text))
    except (TypeError, ValueError):
        return None


# One message ------------------------------------------------------------------------------


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def _plausible(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    moment = _utc(moment)
    return moment if EARLIEST <= moment <= utcnow() + FUTURE_SLACK else None


def post_date(parsed: ParsedMail, message: MboxMessage, previous: datetime | None) -> datetime:
    """When the post was written: its Date, else the date the archive filed it under, else
    the date of the message before it (the file is in archive order), else now."""
    return _plausible(parsed.date) or _plausible(message.envelope_date) or previous or utcnow()


def derived_message_id(raw: bytes, site: Site) -> str:
    """A Message-ID for a message that has none, from its bytes: the same message gets the
    same id on every run, so a re-run still recognises it."""
    return f"import.{hashlib.sha256(raw).hexdigest()[:40]}@{site.mail_domain}"


def parseable(message: MboxMessage) -> bytes:
    """The message as the parser should see it: Mailman's "alice at example.org" addresses
    made real, and a message without From given its Reply-To, Sender or the "From " line's
    sender, so old mail from a client that wrote none keeps an author. The stored original
    stays as it was."""
    raw = message.raw
    end = _HEADER_END.search(raw)
    cut = end.end() if end else len(raw)
    lines = raw[:cut].splitlines(keepends=True)
    obfuscated = False
    for i, line in enumerate(lines):
        if line[:1] not in (b" ", b"\t"):  # a new header; otherwise a folded continuation
            obfuscated = bool(_ADDRESS_HEADER.match(line)) and b"@" not in line
        if obfuscated:
            lines[i] = _OBFUSCATED.sub(rb"\1@\2", _OBFUSCATED_NAMED.sub(rb'"\3" <\1@\2>', line))
    if not any(_FROM_HEADER.match(line) for line in lines):
        lines.insert(0, b"From: " + _stand_in_author(lines, message.sender) + b"\n")
    return b"".join(lines) + raw[cut:]


def _stand_in_author(lines: list[bytes], sender: bytes) -> bytes:
    for line in lines:
        match = _STAND_IN_HEADER.match(line)
        if match and b"@" in line:
            return match.group(1).strip()
    return _OBFUSCATED.sub(rb"\1@\2", sender)


@dataclass(frozen=True)
class Importer:
    """Imports messages into one community, each placed by its own date."""

    site: Site
    community: Community

    def draft(self, session: Session, parsed: ParsedMail, message: MboxMessage, created: datetime) -> Draft:
        draft = build_draft(session, self.site, parsed, Route(Form.post, self.community.slug))
        if not draft.body.strip() and draft.quoted.strip():
            # A reply that is all quotation is still part of the record: show what it holds.
            draft = replace(draft, body=draft.quoted, quoted="")
        return replace(
            draft,
            message_id=parsed.message_id or derived_message_id(message.raw, self.site),
            source=CHANNEL,
            created_at=created,
            trusted=True,
        )

    def already_stored(self, session: Session, message_id: str) -> bool:
        return (
            session.scalar(select(Post.id).where(Post.community_id == self.community.id, Post.message_id == message_id))
            is not None
        )

    def store(self, session: Session, draft: Draft, raw: bytes, sender: str) -> Post:
        """Store one new post with its original bytes, and no fan-out."""
        inbound = InboundMessage(
            raw=raw,
            mail_from=sender,
            rcpt_to=[f"{self.community.slug}@{self.site.mail_domain}"],
            channel=CHANNEL,
            status=InboundStatus.done,
            processed_at=utcnow(),
        )
        session.add(inbound)
        session.flush()
        post = submit_post(session, replace(draft, inbound_id=inbound.id, fan_out=False), self.site).post
        inbound.outcome = f"imported as post {post.id} in thread {post.thread_id}"
        return post


@dataclass(frozen=True)
class MboxImport:
    """A checked import, ready to run: the community exists and the file is an mbox."""

    sessions: SessionMaker[Session]
    importer: Importer
    path: Path
    total: int  # messages in the file

    def run(self, progress: Progress | None = None) -> ImportReport:
        """Import every message, committing every :data:`BATCH` messages."""
        report = ImportReport()
        previous: datetime | None = None
        with self.sessions() as session:
            for message in read_mbox(self.path):
                previous = _import_one(session, self.importer, message, previous, report) or previous
                if report.total % BATCH == 0:
                    session.commit()
                if progress:
                    progress(report.total, self.total)
            session.commit()
        return report


def open_import(sessions: SessionMaker[Session], site: Site, slug: str, path: Path) -> MboxImport:
    """Check an import of the mbox at ``path`` into community ``slug`` before it starts.

    Raises :class:`~forum.errors.NotFound` for an unknown community and
    :class:`NotAnMbox` for a file that is missing or not an mbox; anything wrong with a
    single message is a :class:`Refusal` in the run's report instead.
    """
    with sessions() as session:  # the community first: the file is read only for a community that exists
        community = community_by_slug(session, slug)
        session.expunge(community)
    if not path.is_file():
        raise NotAnMbox(f"{path}: no such file")
    total = count_messages(path)
    return MboxImport(sessions, Importer(site, community), path, total)


def _import_one(
    session: Session, importer: Importer, message: MboxMessage, previous: datetime | None, report: ImportReport
) -> datetime | None:
    """Import one message into ``report``; returns its date, which the next message without
    a usable one falls back on."""
    try:
        parsed = parse_message(parseable(message))
    except MalformedMail as exc:
        report.refused.append(Refusal(message.number, str(exc)))
        return None
    created = post_date(parsed, message, previous)
    try:
        with session.begin_nested():
            draft = importer.draft(session, parsed, message, created)
            if importer.already_stored(session, draft.message_id or ""):
                report.skipped += 1
                return created
            importer.store(session, draft, message.raw, parsed.from_addr or "")
    except ListbridgeError as exc:
        report.refused.append(Refusal(message.number, exc.message))
        return created
    except DBAPIError as exc:  # a value the database will not take (an absurdly long header)
        report.refused.append(Refusal(message.number, f"could not be stored: {str(exc.orig).splitlines()[0]}"))
        return created
    report.imported += 1
    return created
