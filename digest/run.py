"""Building and queueing digests: a run for one period, and a preview for one member.

A run takes a :func:`~forum.digests.cutoff`, finds the members whose digest is owed (their
newest slot is later than their last digest's), reads the posts published between the
lowest of their high-water marks and the cutoff, and builds every member's digest from
one :class:`~digest.build.Edition`. Then, a batch of members at a time, one transaction
claims their cursors and queues the digests of the members it claimed. A run that stops
or dies part-way leaves the members it did not reach owed, for the next run; a batch that
dies leaves nothing of itself. Members with nothing new are claimed too, without mail, so
that they are not owed again until their next slot.

Reading happens in a read-only session (on SQLite it never holds up the gateway's
writes) and the write lock is taken one short batch at a time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from digest.build import Digest, Edition, Recipient, Section
from digest.slots import Schedule, Schedules
from forum import digests
from forum.access import user_by_email
from forum.db import make_sessionmaker
from forum.digests import Block, CursorStart, PayloadPart, QueuedDigest, Subscriber
from forum.errors import NotFound
from forum.models import Delivery
from forum.site import Site

log = logging.getLogger(__name__)
BATCH = 1000  # members per transaction
Progress = Callable[[int, int], None]  # (members done, members owed)


def plural(count: int, one: str, many: str) -> str:
    """``1 digest``, ``1,234 digests``: for the operator's summary (digests themselves
    say theirs through gettext, in the templates)."""
    return f"{count:,} {one if count == 1 else many}"


@dataclass(frozen=True)
class RunReport:
    period: Delivery
    owed: int  # members whose digest for the slot was owed when the run began
    queued: int  # digests queued
    empty: int  # owed, but nothing new: recorded, nothing sent
    taken: int  # claimed by another run meanwhile
    started: int  # members seen for the first time, whose first digest comes at their next slot
    seconds: float

    def summary(self) -> str:
        return (
            f"{self.period.value}: {plural(self.queued, 'digest', 'digests')} queued for "
            f"{plural(self.owed, 'member', 'members')} owed one ({self.empty:,} with nothing new, "
            f"{self.taken:,} done by another run meanwhile) in {self.seconds:.1f} s"
            + (
                f"; {plural(self.started, 'member', 'members')} new to {self.period.value} delivery "
                "will get their first at their next hour"
                if self.started
                else ""
            )
        )


@dataclass(frozen=True)
class Rendered:
    address: str
    subject: str
    text: str
    html: str


class Digests:
    """Runs and previews digests against one site's database."""

    def __init__(self, site: Site, engine: Engine) -> None:
        self.site = site
        self.sessions = make_sessionmaker(engine)
        self.readers = make_sessionmaker(engine, readonly=True)
        # Blocks must outlive every digest queued from them: delivery retries until it gives up.
        self.keep_runs = timedelta(hours=site.settings.delivery.give_up_hours) + timedelta(days=1)

    def run(
        self,
        period: Delivery,
        now: datetime,
        *,
        force: bool = False,
        progress: Progress | None = None,
        stop: threading.Event | None = None,
    ) -> RunReport:
        """Queue every ``period`` digest owed at ``now`` by the members' hours; with
        ``force``, as an operator asks, also the next digest, early, of every member who has
        had the latest."""
        began = time.monotonic()
        with self.sessions.begin() as session:
            digests.prune(session, now, self.keep_runs)
        with self.sessions.begin() as session:
            upto = digests.cutoff(session)
        with self.readers() as session:
            subs = digests.subscribers(session, period)
            recipients, starts = self._recipients(session, period, subs, now, force=force, owed_only=True)
            edition = self._edition(session, period, recipients, upto) if recipients else None
        if starts:
            with self.sessions.begin() as session:
                digests.start_cursors(session, period, starts)
        queued = empty = taken = 0
        if edition is not None:
            payloads: Payloads | None = None
            for start in range(0, len(recipients), BATCH):
                if stop is not None and stop.is_set():
                    break
                batch = recipients[start : start + BATCH]
                built = {r.user_id: edition.digest_for(r) for r in batch}
                with self.sessions.begin() as session:
                    payloads = payloads or Payloads(digests.start_run(session, period, upto))
                    claimed = _claim(session, period, batch, upto)
                    ready = [d for user_id, d in built.items() if user_id in claimed and d is not None]
                    digests.queue(session, period, payloads.queued(session, ready))
                queued += len(ready)
                empty += sum(1 for user_id in claimed if built[user_id] is None)
                taken += len(batch) - len(claimed)
                if progress is not None:
                    progress(start + len(batch), len(recipients))
        report = RunReport(period, len(recipients), queued, empty, taken, len(starts), time.monotonic() - began)
        log.info(
            "digest run period=%s owed=%d queued=%d empty=%d taken=%d started=%d seconds=%.1f",
            period.value,
            report.owed,
            report.queued,
            report.empty,
            report.taken,
            report.started,
            report.seconds,
        )
        return report

    def preview(self, email: str, period: Delivery, now: datetime) -> Rendered | None:
        """The digest the member with ``email`` would get now, or None when nothing is new;
        nothing is recorded."""
        with self.readers() as session:
            user = user_by_email(session, email)
            if user is None:
                raise NotFound(f"no member has the address {email}")
            subs = digests.subscribers(session, period, user.id)
            if not subs:
                raise NotFound(f"{email} takes no {period.value} digest in any community")
            recipients, _ = self._recipients(session, period, subs, now, force=True, owed_only=False, only=user.id)
            edition = self._edition(session, period, recipients, digests.newest_publication(session))
        digest = edition.digest_for(recipients[0])
        if digest is None:
            return None
        text, html = digests.assemble(self.site.signer, user.id, digest.parts())
        return Rendered(digest.recipient.address, digest.subject, text, html)

    def _recipients(
        self,
        session: Session,
        period: Delivery,
        subs: Sequence[Subscriber],
        now: datetime,
        *,
        force: bool,
        owed_only: bool,
        only: int | None = None,
    ) -> tuple[list[Recipient], list[CursorStart]]:
        """Recipients for ``subs`` (all of them, or member ``only``) and their slots: the
        latest due if they have not had it; else, with ``force``, the next one, early.
        With ``owed_only``, only members owed that slot.

        A member seen for the first time has had no digest, but is not owed one yet: they
        get a cursor (the second list) at their latest slot, and their first digest at
        their next, covering what was published since the latest.
        """
        schedules = Schedules(self.site.settings.digest, period)
        known: dict[datetime, int] = {}

        def published_before(moment: datetime) -> int:
            if moment not in known:
                known[moment] = digests.publication_before(session, moment)
            return known[moment]

        owed: list[tuple[Subscriber, Schedule, datetime, int]] = []
        starts: list[CursorStart] = []
        for sub in subs:
            schedule = schedules.of(sub.timezone, sub.hour)
            latest = schedule.latest(now)
            if sub.slot_at is None or sub.high_water is None:
                had, after = latest, published_before(latest)
                if not force:
                    starts.append(CursorStart(sub.user_id, had, after))
            else:
                had, after = sub.slot_at, sub.high_water
            slot = latest if had < latest else schedule.next(now) if force else None
            if slot is not None and not (owed_only and had >= slot):
                owed.append((sub, schedule, slot, after))
        if not owed:
            return [], starts
        communities = digests.subscriptions(session, period, only)
        recipients = [
            Recipient(
                sub.user_id, sub.email, schedule, slot, after, tuple(communities.get(sub.user_id, ())), sub.language
            )
            for sub, schedule, slot, after in owed
        ]
        return recipients, starts

    def _edition(self, session: Session, period: Delivery, recipients: Sequence[Recipient], upto: int) -> Edition:
        posts = digests.new_posts(session, min(r.after for r in recipients), upto)
        return Edition(
            self.site,
            period,
            posts,
            digests.first_posts(session, {post.thread_id for post in posts}),
            digests.communities(session, {post.community_id for post in posts}),
        )


def _claim(session: Session, period: Delivery, batch: Sequence[Recipient], upto: int) -> set[int]:
    by_slot: dict[datetime, list[int]] = {}
    for recipient in batch:
        by_slot.setdefault(recipient.slot_at, []).append(recipient.user_id)
    claimed: set[int] = set()
    for slot, user_ids in by_slot.items():
        claimed |= digests.claim(session, period, slot, user_ids, upto)
    return claimed


class Payloads:
    """Digests as the outbox keeps them (see ``forum.digests``): ids of stored blocks, and
    the purpose and id of each slot's token. Remembers, across the batches of one run,
    which blocks are stored and each section's parts as ids, so that a member's payload
    is a few list joins."""

    def __init__(self, run_id: int) -> None:
        self.run_id = run_id
        self._ids: dict[Block, int] = {}
        self._sections: dict[Section, list[PayloadPart]] = {}

    def queued(self, session: Session, ready: Sequence[Digest]) -> list[QueuedDigest]:
        """``ready`` as the outbox keeps them; blocks not stored yet are, in this transaction."""
        fresh: dict[Block, None] = {}
        for digest in ready:
            for block in (digest.opening, digest.closing):
                if block not in self._ids:
                    fresh[block] = None
            for section in digest.sections:
                if section not in self._sections:
                    fresh.update((block, None) for block, _ in section.parts if block not in self._ids)
        self._ids.update(zip(fresh, digests.store_blocks(session, self.run_id, list(fresh)), strict=True))
        out = []
        for digest in ready:
            parts: list[PayloadPart] = [self._ids[digest.opening]]
            for section in digest.sections:
                parts += self._section(section)
            parts.append(self._ids[digest.closing])
            r = digest.recipient
            out.append(QueuedDigest(r.user_id, r.address, r.slot_at, digest.subject, digest.slug, parts))
        return out

    def _section(self, section: Section) -> list[PayloadPart]:
        parts = self._sections.get(section)
        if parts is None:
            parts = self._sections[section] = [
                self._ids[block] if value is None else (self._ids[block], *value) for block, value in section.parts
            ]
        return parts
