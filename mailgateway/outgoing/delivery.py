"""The delivery worker: due outbox rows → personal messages → the smarthost.

It runs inside ``listbridge serve`` on the shared event loop, in three kinds of task:

* the **feeder** claims due rows in batches (``forum.outbox.claim``) and turns them into
  ready messages. Database work and composing run in a worker thread, so the event loop
  (which also answers inbound SMTP) never waits for them. It claims as soon as
  :meth:`DeliveryWorker.wake` says a post was committed (the first copy leaves within
  milliseconds, not a polling period), whenever the queue runs low, and every second
  for rows that were due later (retries);
* one **sender** per smarthost connection (``[smtp_out] connections``), each reusing its
  aiosmtplib connection for message after message, one recipient per transaction and a
  VERP envelope sender, so a bounce names the member it is about;
* the **recorder** writes outcomes as a group commit: whatever was recorded while the
  last write was under way goes in the next one, so a busy worker commits a few copies
  at a time and an idle one each copy at once.

A row is marked done only after the smarthost accepted it, and rows claimed but not sent
are handed back on stop, so a clean stop loses nothing and sends nothing twice. A crash
(even SIGKILL) loses nothing either: what it had claimed is claimed again when the lease
runs out. What it can send twice is bounded by the one window SMTP cannot close (RFC
1047): between the smarthost's acceptance of a copy and the commit that records it. Each
connection waits, before ending its next message with the final dot, until the previous
copy's outcome is committed, so at most **one copy per connection** can be sent again:
the one it had accepted last (at full speed there usually is one on each connection, as
a copy's outcome is written a few milliseconds after its acceptance). The wait overlaps
the next message's MAIL, RCPT and DATA round trips. A message that waited in the queue
until its claim nearly expired is handed back too, unsent: the row may be claimed again
by then. Temporary failures (4xx, connection trouble) are retried with exponential
backoff until ``give_up_hours``; permanent ones (5xx) are recorded with the server's
reply. When no connection to the smarthost opens at all, everything queued is deferred
at once instead of failing one message at a time. A message that cannot be composed is a
bug (or something lost, such as an attachment's file), not a delivery problem: trying
again would fail alike, so its rows fail at once, the error is logged once and the site's
operators are told.

Here is the worker's loop; rows are made into messages by :mod:`.composer`, sent over
:mod:`.smarthost` connections, and their outcomes written by :mod:`.outcomes`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta

import aiosmtplib
from sqlalchemy.orm import Session, sessionmaker

from forum import digests, operators, outbox
from forum.config import DeliverySettings
from forum.db import make_engine
from forum.errors import describe
from forum.models import utcnow
from forum.outbox import Claimed
from forum.site import Site
from mailgateway.outgoing.composer import Breakage, Composer, Job, Sources
from mailgateway.outgoing.outcomes import FIELDS, Ledger, Outcome, Result
from mailgateway.outgoing.smarthost import Connection, Unsendable

log = logging.getLogger(__name__)

KINDS = (outbox.POST_EMAIL, outbox.NOTICE_EMAIL, outbox.DIGEST_EMAIL)
POLL_SECONDS = 1.0  # fallback for rows due later (retries); new posts come with wake()
FLUSH_RETRY_SECONDS = 0.05  # after a failed write of outcomes (the senders wait meanwhile)
# Writes of outcomes start at most this often: a write costs about as much CPU as sending
# a copy, so at full speed each write carries a few copies; a connection waits for at most one.
FLUSH_GAP_SECONDS = 0.005
COMPOSE_CHUNK = 50  # messages composed per trip to the worker thread, after the first few
SEND_WITHIN_SHARE = 0.8  # of the claim's lease: a job still queued later may be claimed again, so is released


class DeliveryWorker:
    """Sends the outbox's mail until told to stop; see the module docstring."""

    def __init__(self, site: Site, sessions: sessionmaker[Session], poll_seconds: float = POLL_SECONDS) -> None:
        self.site = site
        self.sessions = sessions
        self.poll_seconds = poll_seconds
        self.settings: DeliverySettings = site.settings.delivery
        self.composer = Composer(site)
        self.connections = [
            Connection(site.settings.smtp_out, site.mail_domain) for _ in range(site.settings.smtp_out.connections)
        ]
        self.batch_size = max(1, self.settings.batch_size)
        self.low_water = max(1, self.batch_size // 2)
        self._queue: asyncio.Queue[Job | None] = asyncio.Queue()
        self._woken = asyncio.Event()
        self._hungry = asyncio.Event()
        self._flush_now = asyncio.Event()
        self._ledger = Ledger()
        self.lease = timedelta(seconds=max(1.0, self.settings.claim_lease_seconds))
        # Outcomes go over a connection of their own whose commits do not wait for the disk.
        bind = sessions.kw["bind"]
        # No ping before each write: a dropped connection fails one write, which is retried.
        self._outcomes = make_engine(
            bind.url.render_as_string(hide_password=False), flush_commits=False, pool_size=1, pool_pre_ping=False
        )
        # Outcomes recorded and, of those, committed, counted; the recorder sets and
        # replaces ``_committed`` after each write.
        self._recorded = 0
        self._written = 0
        self._committed = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    def wake(self) -> None:
        """Claim now: a post (or notice) was just committed. Safe from any thread."""
        loop = self._loop
        if loop is None:
            return  # not running yet; run() claims as it starts
        try:
            on_loop = asyncio.get_running_loop() is loop
        except RuntimeError:
            on_loop = False
        if on_loop:
            self._woken.set()
        else:
            loop.call_soon_threadsafe(self._woken.set)

    async def run(self, stop: asyncio.Event) -> None:
        self._loop = asyncio.get_running_loop()
        closing = asyncio.Event()
        senders = [
            asyncio.create_task(self._send_loop(conn, stop), name=f"smtp-out-{i}")
            for i, conn in enumerate(self.connections)
        ]
        recorder = asyncio.create_task(self._record_loop(closing), name="delivery-recorder")
        log.info(
            "delivery started connections=%d smarthost=%s:%d",
            len(self.connections),
            self.site.settings.smtp_out.host,
            self.site.settings.smtp_out.port,
        )
        try:
            await self._feed(stop)
        finally:
            self._release_queued()
            for _ in senders:
                self._queue.put_nowait(None)
            await asyncio.gather(*senders)
            closing.set()
            await recorder
            await asyncio.gather(*(conn.close() for conn in self.connections))
            self._outcomes.dispose()
            log.info("delivery stopped")

    # feeding ----------------------------------------------------------------------------

    async def _feed(self, stop: asyncio.Event) -> None:
        self._woken.set()  # rows left over from the last run are due now
        while not stop.is_set():
            if self._queue.qsize() >= self.low_water:
                self._hungry.clear()
                await _wait_any(self.poll_seconds, self._hungry, stop)
                continue
            self._woken.clear()
            try:
                claimed = await self._claim()
            except Exception:
                log.exception("claiming outbox rows failed; trying again shortly")
                claimed = 0
            if not claimed:
                await _wait_any(self.poll_seconds, self._woken, stop)

    async def _claim(self) -> int:
        """Claim a batch and queue its messages, the first few before composing the rest:
        the first copies are on the wire while the others are still being made."""
        items, sources = await asyncio.to_thread(self._claim_rows)
        start, size = 0, len(self.connections)
        while start < len(items):
            jobs, refused, breakages = await asyncio.to_thread(
                self.composer.compose, items[start : start + size], sources
            )
            for job in jobs:
                self._queue.put_nowait(job)
            for item, result in refused:
                self._record(item, result)
            if breakages:
                await asyncio.to_thread(self._tell_operators, breakages)
            start, size = start + size, COMPOSE_CHUNK
        return len(items)

    def _claim_rows(self) -> tuple[list[Claimed], Sources]:
        with self.sessions.begin() as session:
            items = outbox.claim(session, KINDS, self.batch_size, lease=self.lease)
            items = digests.expand(session, self.site.signer, items)
            return items, self.composer.fetch(session, items)

    def _tell_operators(self, breakages: list[Breakage]) -> None:
        with self.sessions.begin() as session:
            queued = sum(
                operators.tell(session, self.site.settings, key=b.key, subject=b.subject, text=b.text)
                for b in breakages
            )
        if queued:
            self.wake()

    def _release_queued(self) -> None:
        while not self._queue.empty():
            job = self._queue.get_nowait()
            if job is not None:
                self._ledger.released.append(job.item.id)

    # sending ----------------------------------------------------------------------------

    async def _send_loop(self, conn: Connection, stop: asyncio.Event) -> None:
        await self._warm_up(conn)
        send_within = self.lease.total_seconds() * SEND_WITHIN_SHARE
        previous = 0  # this connection's last recorded outcome

        async def previous_committed() -> None:
            while self._written < previous and not stop.is_set():
                await _wait_any(None, self._committed, stop)

        while (job := await self._queue.get()) is not None:
            if self._queue.qsize() < self.low_water:
                self._hungry.set()
            if stop.is_set() or time.monotonic() - job.claimed_at > send_within:
                self._ledger.released.append(job.item.id)
                continue
            result = await self._transmit(conn, job, previous_committed)
            previous = self._record(job.item, result)
            if conn.failed_opens:
                if not any(c.is_open for c in self.connections):
                    self._defer_queued(result)  # the smarthost is down: all that waits would fail alike
                await _wait_any(conn.pause_seconds(), stop)

    def _defer_queued(self, result: Result) -> None:
        while not self._queue.empty():
            job = self._queue.get_nowait()
            if job is None:
                self._queue.put_nowait(None)  # a stop is under way; leave its sentinels
                return
            self._record(job.item, result)

    @staticmethod
    async def _warm_up(conn: Connection) -> None:
        """Connect before there is mail, so the first copy of a post does not wait for a
        handshake. A smarthost that is down now is tried again with the first message."""
        try:
            await conn.open()
        except (TimeoutError, aiosmtplib.SMTPException, OSError) as exc:
            log.warning("cannot open a smarthost connection yet: %s", describe(exc))

    async def _transmit(self, conn: Connection, job: Job, before_end: Callable[[], Awaitable[None]]) -> Result:
        """Send ``job``; when a pooled connection turns out dead, once more on a fresh one.

        Smarthosts close idle connections; that is the connection's fault, not the
        message's, so it must not cost the message a retry delay.
        """
        reused = conn.is_open
        result = await self._attempt(conn, job, before_end)
        if reused and result.connection_lost:
            result = await self._attempt(conn, job, before_end)
        return result

    async def _attempt(self, conn: Connection, job: Job, before_end: Callable[[], Awaitable[None]]) -> Result:
        """One try. Trouble opening a connection (refused, greeting, TLS, AUTH) is temporary
        whatever its code; only the replies to MAIL, RCPT and DATA decide a message's fate."""
        if not conn.is_open:
            try:
                await conn.open()
            except (TimeoutError, aiosmtplib.SMTPException, OSError) as exc:
                log.warning("cannot open a smarthost connection: %s", describe(exc))
                return Result(Outcome.retry, f"smarthost unavailable: {describe(exc)}")
        try:
            return Result(Outcome.done, await conn.send(job.sender, job.item.address, job.message, before_end))
        except Unsendable as exc:
            return Result(Outcome.failed, str(exc))
        except aiosmtplib.SMTPResponseException as exc:
            code, message = exc.code, exc.message
        except (TimeoutError, aiosmtplib.SMTPException, OSError) as exc:
            conn.abort()
            return Result(Outcome.retry, f"connection lost: {describe(exc)}", connection_lost=True)
        except Exception as exc:  # e.g. an address aiosmtplib cannot encode; the connection's state is unknown
            log.exception("sending failed outbox=%s rcpt=%s", job.item.id, job.item.address)
            conn.abort()
            return Result(Outcome.retry, f"internal error sending: {describe(exc)}")
        if code == 421:  # RFC 5321 3.8: the server is closing the connection (idle too long, shutting down)
            conn.abort()
            return Result(Outcome.retry, f"{code} {message}", connection_lost=True)
        return Result(Outcome.failed if 500 <= code < 600 else Outcome.retry, f"{code} {message}")

    # recording --------------------------------------------------------------------------

    def _record(self, item: Claimed, result: Result) -> int:
        """Hand ``result`` to the recorder; returns its number, for waiting on its commit."""
        self._recorded += 1
        self._flush_now.set()
        if result.outcome is Outcome.done:
            self._ledger.done.append(item.id)
            log.debug("sent " + FIELDS, item.id, item.post_id, item.address, result.reply)
            return self._recorded
        if result.outcome is Outcome.retry:
            if utcnow() - item.created_at < timedelta(hours=self.settings.give_up_hours):
                delay = outbox.backoff(item.attempts, self.settings.retry_base_seconds, self.settings.retry_max_seconds)
                self._ledger.retry.append((item.id, result.reply, delay))
                log.info(
                    "deferred " + FIELDS + " attempt=%d retry_in=%.1fs",
                    item.id,
                    item.post_id,
                    item.address,
                    result.reply,
                    item.attempts,
                    delay.total_seconds(),
                )
                return self._recorded
            result = Result(Outcome.failed, f"gave up after {self.settings.give_up_hours:g} hours: {result.reply}")
        self._ledger.failed.append((item.id, result.reply))
        log.warning("failed " + FIELDS, item.id, item.post_id, item.address, result.reply)
        return self._recorded

    async def _record_loop(self, closing: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        while not closing.is_set():
            await _wait_any(None, self._flush_now, closing)
            self._flush_now.clear()
            started = loop.time()
            if not await self._flush():
                await _wait_any(FLUSH_RETRY_SECONDS, closing)
            await _wait_any(started + FLUSH_GAP_SECONDS - loop.time(), closing)
        await self._flush()
        self._committed.set()  # stopped: no sender waits on the recorder any more

    async def _flush(self) -> bool:
        """Write what was recorded since the last write; False if that failed."""
        upto, batch = self._recorded, self._ledger.take()
        if batch:
            try:
                await asyncio.to_thread(self._write, batch)
            except Exception:
                # Kept for the next write, and the senders wait for it. Lost only if the
                # last write fails too; then the rows stay claimed until their lease ends
                # and are sent again.
                log.exception("recording %d delivery outcomes failed", len(batch))
                self._ledger.merge(batch)
                self._flush_now.set()
                return False
        self._written = upto
        committed, self._committed = self._committed, asyncio.Event()
        committed.set()
        return True

    def _write(self, batch: Ledger) -> None:
        with self._outcomes.begin() as conn:
            batch.write(conn)


async def _wait_any(timeout: float | None, *events: asyncio.Event) -> None:
    """Until one of ``events`` is set or ``timeout`` seconds pass (None: no limit)."""
    if any(event.is_set() for event in events):
        return
    waiters = {asyncio.ensure_future(event.wait()) for event in events}
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
