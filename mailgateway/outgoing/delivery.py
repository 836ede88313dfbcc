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
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import timedelta

import aiosmtplib
from aiosmtplib import SMTPStatus
from sqlalchemy.orm import Session, sessionmaker

from forum import digests, operators, outbox
from forum.config import DeliverySettings, SmtpOutSettings
from forum.db import make_engine
from forum.errors import NotFound, describe
from forum.models import utcnow
from forum.outbox import Claimed
from forum.site import Site
from mailgateway import addresses
from mailgateway.outgoing.compose import PostTemplate, build_template, personalize
from mailgateway.outgoing.dkim_sign import DkimSigner
from mailgateway.outgoing.notices import compose_digest, compose_notice
from mailgateway.outgoing.post_views import CommunityInfo, PostView, archived_at, load_community, load_post

log = logging.getLogger(__name__)
FIELDS = "outbox=%s post=%s rcpt=%s reply=%r"  # every delivery log line names these

KINDS = (outbox.POST_EMAIL, outbox.NOTICE_EMAIL, outbox.DIGEST_EMAIL)
POLL_SECONDS = 1.0  # fallback for rows due later (retries); new posts come with wake()
FLUSH_RETRY_SECONDS = 0.05  # after a failed write of outcomes (the senders wait meanwhile)
# Writes of outcomes start at most this often: a write costs 0.1-0.4 ms of CPU (measured
# alone; more under load), as much as sending a copy, so at full speed each write carries
# a few copies; a connection waits for at most one.
FLUSH_GAP_SECONDS = 0.005
TEMPLATE_CACHE_SIZE = 16
TEMPLATE_MAX_AGE = 60.0  # seconds: an edited or deleted post stops going out unchanged soon
RECONNECT_MAX_SECONDS = 30.0
COMPOSE_CHUNK = 50  # messages composed per trip to the worker thread, after the first few
SEND_WITHIN_SHARE = 0.8  # of the claim's lease: a job still queued later may be claimed again, so is released


@dataclass(frozen=True)
class Job:
    """One message ready for the wire."""

    item: Claimed
    sender: str  # envelope sender (VERP)
    message: bytes
    claimed_at: float  # time.monotonic(): a job waiting near the end of its lease is handed back


class Outcome(enum.Enum):
    done = "done"
    retry = "retry"
    failed = "failed"


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    reply: str  # the smarthost's reply, or what went wrong
    connection_lost: bool = False


@dataclass
class Ledger:
    """Outcomes waiting to be written, in one transaction per flush."""

    done: list[int] = field(default_factory=list)
    retry: list[tuple[int, str, timedelta]] = field(default_factory=list)
    failed: list[tuple[int, str]] = field(default_factory=list)
    released: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.done) + len(self.retry) + len(self.failed) + len(self.released)

    def take(self) -> Ledger:
        taken = Ledger(self.done, self.retry, self.failed, self.released)
        self.done, self.retry, self.failed, self.released = [], [], [], []
        return taken

    def merge(self, other: Ledger) -> None:
        self.done += other.done
        self.retry += other.retry
        self.failed += other.failed
        self.released += other.released

    def write(self, session: outbox.Executor) -> None:
        outbox.mark_done(session, self.done)
        for item_id, error, delay in self.retry:
            outbox.retry_later(session, item_id, error, delay)
        for item_id, error in self.failed:
            outbox.mark_failed(session, item_id, error)
        outbox.release(session, self.released)


class CannotCompose(Exception):
    """A source whose messages cannot be made: its rows fail without trying again."""


@dataclass(frozen=True)
class Breakage:
    """A new kind of failure to compose, for the operators: one notice per ``key``."""

    key: str
    subject: str
    text: str


Source = PostTemplate | PostView | CommunityInfo | NotFound | CannotCompose
Sources = dict[int | str, Source]  # what rows are composed from: by post id, or community slug


class Composer:
    """Turns claimed rows into messages, keeping recent posts' templates.

    Used from one worker thread at a time (the feeder's), so it needs no lock.
    """

    def __init__(self, site: Site) -> None:
        self.site = site
        self.dkim = DkimSigner.from_settings(site.settings.dkim, site.mail_domain)
        self._templates: OrderedDict[int, tuple[float, PostTemplate]] = OrderedDict()
        self._reported: set[str] = set()  # breakages logged by this process

    def fetch(self, session: Session, items: Iterable[Claimed]) -> Sources:
        """What composing ``items`` needs: cached templates, else rows from the database."""
        sources: Sources = {}
        for item in items:
            key = _source_key(item)
            if key is None or key in sources:
                continue
            cached = self._cached(key) if isinstance(key, int) else None
            try:
                sources[key] = cached or (load_post(session, key) if isinstance(key, int)
                                          else load_community(session, key))
            except NotFound as exc:
                sources[key] = exc
        return sources

    def compose(self, items: Iterable[Claimed], sources: Sources
                ) -> tuple[list[Job], list[tuple[Claimed, Result]], list[Breakage]]:
        """Messages for ``items``, the rows that cannot be sent with why, and the failures
        to compose that are new, for the operators (CPU only).

        A post's template replaces its view in ``sources`` once built, so a batch composed
        in several calls builds it once; a post that cannot be composed is replaced by
        the error, so the rest of its copies fail without trying.
        """
        jobs: list[Job] = []
        refused: list[tuple[Claimed, Result]] = []
        breakages: list[Breakage] = []
        for item in items:
            try:
                job = self._job(item, sources)
                # Signed here, in the composing thread: OpenSSL releases the GIL, so the
                # signatures overlap with sending on the event loop.
                jobs.append(replace(job, message=self.dkim.sign(job.message)) if self.dkim else job)
            except NotFound as exc:
                refused.append((item, Result(Outcome.failed, exc.message)))
            except CannotCompose as exc:
                refused.append((item, Result(Outcome.failed, str(exc))))
            except Exception as exc:  # a bug, or a file gone: no retry would compose it
                error, breakage = self._broken(item, sources, exc)
                refused.append((item, Result(Outcome.failed, error)))
                if breakage is not None:
                    breakages.append(breakage)
        return jobs, refused, breakages

    def _broken(self, item: Claimed, sources: Sources, exc: Exception) -> tuple[str, Breakage | None]:
        """The row's error; logged, and a :class:`Breakage` for the operators, the first
        time this post (or, for notices and digests, this kind of message today) fails."""
        error = f"cannot be composed: {describe(exc)}"
        post = item.post_id if item.kind == outbox.POST_EMAIL else None
        source = sources.get(post) if post is not None else None
        if post is not None:
            sources[post] = CannotCompose(error)
        key = f"post:{post}" if post is not None else f"{item.kind}:{utcnow():%Y-%m-%d}"
        if key in self._reported:
            return error, None
        self._reported.add(key)
        log.error("cannot compose " + FIELDS + " kind=%s; its message is not sent", item.id, item.post_id,
                  item.address, error, item.kind, exc_info=exc)
        if item.payload.get(operators.TO_OPERATORS):
            return error, None  # never a notice about a notice to the operators
        if post is not None:
            what = f"The email copies of post {post}"
            if isinstance(source, PostView):
                what += f' ("{source.subject}" in {source.community.name}, {archived_at(source, self.site)})'
            consequence = "Members who take each post by email did not get it; it is on the web."
        else:
            what = f"A {item.kind.replace('_', ' ')} to {item.address} (outbox row {item.id})"
            consequence = "Others of its kind may fail alike today; this is said once a day."
        text = (f"{what} could not be composed, so nothing was sent.\n\n"
                f"The error: {error}\n\n{consequence} The rows are marked failed and are not retried. "
                "This is a bug, or something missing on the server (such as an attachment's file); "
                "the server's log has the details.\n")
        subject = f"{self.site.settings.site.name}: a message could not be composed and was not sent"
        return error, Breakage(f"cannot-compose:{key}", subject, text)

    def _job(self, item: Claimed, sources: Sources) -> Job:
        domain = self.site.mail_domain
        claimed = time.monotonic()
        if item.kind == outbox.POST_EMAIL and item.post_id is not None and item.user_id is not None:
            template = self._template(item.post_id, sources)
            return Job(item, addresses.bounce_address(template.slug, domain, item.address),
                       personalize(template, self.site, item.user_id), claimed)
        if item.kind in (outbox.NOTICE_EMAIL, outbox.DIGEST_EMAIL):
            key = _source_key(item)
            community = _found(sources[key]) if key is not None else None
            assert community is None or isinstance(community, CommunityInfo)
            sender = (addresses.bounce_address(community.slug, domain, item.address) if community
                      else f"noreply@{domain}")
            # Stable across retries (a receiver may drop a repeat), unique across databases.
            message_id = f"notice.{item.id}.{int(item.created_at.timestamp())}@{domain}"
            compose = compose_digest if item.kind == outbox.DIGEST_EMAIL else compose_notice
            return Job(item, sender, compose(self.site, item.address, item.payload, message_id=message_id,
                                             community=community, user_id=item.user_id), claimed)
        raise NotFound(f"outbox row {item.id} of kind {item.kind!r} names no post, member or message")

    def _template(self, post_id: int, sources: Sources) -> PostTemplate:
        source = _found(sources[post_id])
        if isinstance(source, PostView):
            source = sources[post_id] = build_template(source, self.site)
            self._templates[post_id] = (time.monotonic(), source)
            while len(self._templates) > TEMPLATE_CACHE_SIZE:
                self._templates.popitem(last=False)
        assert isinstance(source, PostTemplate)
        return source

    def _cached(self, post_id: int) -> PostTemplate | None:
        entry = self._templates.get(post_id)
        if entry is None or time.monotonic() - entry[0] > TEMPLATE_MAX_AGE:
            return None
        self._templates.move_to_end(post_id)
        return entry[1]


def _source_key(item: Claimed) -> int | str | None:
    """What a row is composed from: its post (an id) or, for a notice, its community (a slug)."""
    if item.kind == outbox.POST_EMAIL:
        return item.post_id
    return item.payload.get("slug") or None


def _found(value: Source) -> PostTemplate | PostView | CommunityInfo:
    if isinstance(value, (NotFound, CannotCompose)):
        raise value
    return value


class Unsendable(Exception):
    """A message no smarthost would take as it is: a permanent failure, not a retry."""


class Connection:
    """One smarthost connection, opened on first use and reused until it breaks."""

    def __init__(self, settings: SmtpOutSettings, local_hostname: str) -> None:
        self.settings = settings
        self.local_hostname = local_hostname
        self.failed_opens = 0  # consecutive; the sender pauses longer after each
        self._smtp: aiosmtplib.SMTP | None = None

    @property
    def is_open(self) -> bool:
        return self._smtp is not None and self._smtp.is_connected

    async def open(self) -> None:
        """Connect, EHLO, STARTTLS and AUTH as configured."""
        s = self.settings
        smtp = aiosmtplib.SMTP(
            hostname=s.host, port=s.port, local_hostname=self.local_hostname, timeout=s.timeout_seconds,
            start_tls=s.starttls, username=s.username or None, password=s.password or None,
        )
        try:
            await smtp.connect()
            if smtp.last_ehlo_response is None:  # connect() only says EHLO when STARTTLS or AUTH need it
                await smtp.ehlo()
        except BaseException:
            self.failed_opens += 1
            smtp.close()
            raise
        self.failed_opens = 0
        self._smtp = smtp

    async def send(self, sender: str, recipient: str, message: bytes,
                   before_end: Callable[[], Awaitable[None]] | None = None) -> str:
        """One transaction (MAIL, RCPT, DATA); the server's final reply.

        ``before_end`` is awaited after the message's content is written and before the
        final dot that commits the smarthost to it (see the module docstring).

        Not aiosmtplib's ``sendmail()``: its DATA step rewrites every line ending with two
        regular-expression passes over the message, a third of the event loop's work in a
        fan-out, and its MAIL and RCPT parse each address again. Composed messages have
        CRLF line endings by construction and addresses come validated from the database,
        so only dot-stuffing is left, which ``bytes.replace`` does in microseconds.
        """
        smtp = self._smtp
        assert smtp is not None
        if not (sender.isascii() and recipient.isascii()):
            raise Unsendable(f"{recipient} is not an ASCII address: sending to it needs SMTPUTF8, "
                             "which listbridge does not use")
        size = [f"SIZE={len(message)}".encode()] if smtp.supports_extension("size") else []
        try:
            reply = await smtp.execute_command(b"MAIL", f"FROM:<{sender}>".encode("ascii"), *size)
            if reply.code != SMTPStatus.completed:
                raise aiosmtplib.SMTPSenderRefused(reply.code, reply.message, sender)
            reply = await smtp.execute_command(b"RCPT", f"TO:<{recipient}>".encode("ascii"))
            if reply.code not in (SMTPStatus.completed, SMTPStatus.will_forward):
                raise aiosmtplib.SMTPRecipientRefused(reply.code, reply.message, recipient)
            reply = await smtp.execute_command(b"DATA")
            if reply.code != SMTPStatus.start_input:
                raise aiosmtplib.SMTPDataError(reply.code, reply.message)
            if smtp.protocol is None:
                raise aiosmtplib.SMTPServerDisconnected("connection lost before the message was sent")
            smtp.protocol.write(_dot_stuffed(message))
            if before_end is not None:
                await before_end()
            if smtp.protocol is None:
                raise aiosmtplib.SMTPServerDisconnected("connection lost before the message was ended")
            smtp.protocol.write(b".\r\n")
            reply = await smtp.protocol.read_response(timeout=smtp.timeout)
            if reply.code != SMTPStatus.completed:
                raise aiosmtplib.SMTPDataError(reply.code, reply.message)
        except aiosmtplib.SMTPResponseException:
            with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                await smtp.rset()  # a clean slate for the connection's next message
            raise
        return f"{reply.code} {reply.message}"

    def abort(self) -> None:
        if self._smtp is not None:
            self._smtp.close()
            self._smtp = None

    async def close(self) -> None:
        if self.is_open:
            assert self._smtp is not None
            try:
                await self._smtp.quit()
            except (aiosmtplib.SMTPException, OSError):
                pass
        self.abort()

    def pause_seconds(self) -> float:
        return min(RECONNECT_MAX_SECONDS, 0.25 * 2 ** self.failed_opens) if self.failed_opens else 0.0


class DeliveryWorker:
    """Sends the outbox's mail until told to stop; see the module docstring."""

    def __init__(self, site: Site, sessions: sessionmaker[Session], poll_seconds: float = POLL_SECONDS) -> None:
        self.site = site
        self.sessions = sessions
        self.poll_seconds = poll_seconds
        self.settings: DeliverySettings = site.settings.delivery
        self.composer = Composer(site)
        self.connections = [Connection(site.settings.smtp_out, site.mail_domain)
                            for _ in range(site.settings.smtp_out.connections)]
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
        self._outcomes = make_engine(bind.url.render_as_string(hide_password=False), flush_commits=False,
                                     pool_size=1, pool_pre_ping=False)
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
        senders = [asyncio.create_task(self._send_loop(conn, stop), name=f"smtp-out-{i}")
                   for i, conn in enumerate(self.connections)]
        recorder = asyncio.create_task(self._record_loop(closing), name="delivery-recorder")
        log.info("delivery started connections=%d smarthost=%s:%d", len(self.connections),
                 self.site.settings.smtp_out.host, self.site.settings.smtp_out.port)
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
            jobs, refused, breakages = await asyncio.to_thread(self.composer.compose, items[start:start + size],
                                                               sources)
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
            queued = sum(operators.tell(session, self.site.settings, key=b.key, subject=b.subject, text=b.text)
                         for b in breakages)
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
                delay = outbox.backoff(item.attempts, self.settings.retry_base_seconds,
                                       self.settings.retry_max_seconds)
                self._ledger.retry.append((item.id, result.reply, delay))
                log.info("deferred " + FIELDS + " attempt=%d retry_in=%.1fs", item.id, item.post_id, item.address,
                         result.reply, item.attempts, delay.total_seconds())
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


def _dot_stuffed(message: bytes) -> bytes:
    """RFC 5321 4.5.2: a line that starts with a period gets another, so none ends DATA early."""
    stuffed = message.replace(b"\r\n.", b"\r\n..")
    stuffed = b"." + stuffed if stuffed.startswith(b".") else stuffed
    return stuffed if stuffed.endswith(b"\r\n") else stuffed + b"\r\n"


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
