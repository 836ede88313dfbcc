"""The spool processor: spooled messages become posts, in a process of its own.

Turning a message into a post (the full parse, reply trimming, HTML sanitising, threading,
a copy queued per member) costs many times what accepting it at SMTP time does. Python
runs one thread at a time in a process, so processing beside the SMTP listener took the
CPU from the conversations it had to answer: a burst of mail was accepted only as fast as
it was processed. In a process of its own, at a lower priority
(``nice``), processing uses the other core and whatever the listener leaves, and mail is
accepted at the listener's own pace and processed right behind it.

The gateway starts it, wakes it over a pipe each time it has spooled a message, and is
told over another pipe when a message was processed, and when processing committed outbox
work: the gateway announces that as its own (:mod:`forum.outbox_signal`), so delivery
starts at once. It processes every pending message in spool order, one at a time (a
reply spooled just after its parent is placed after it), including what a previous run
left pending. Each message is read and drafted first (:func:`.processing.prepare`), and
then stored in a short transaction: on SQLite the gateway's own writes wait while another
process writes. On PostgreSQL several gateways may each run one; a message is processed
under a row lock, by one of them.

It is spawned, not forked, so that it can be replaced at any time: one that dies is
started again (its message is still pending). That is also how one message is kept from
holding every other: the process says which message it starts on, and one still on it
after ``[smtp_in] shunt_after_seconds`` is killed; its successor sets that message aside
(shunted, for ``listbridge shunt retry``) and goes on with the next. Killing the process
bounds any work, however it is stuck (a parser's loop, a regular expression).

The runtime (``listbridge serve``) only wires it: it hands over how its logs are set up,
starts it with the gateway's other services and feeds it from the listener and the IMAP
poller.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection

from sqlalchemy.orm import Session, sessionmaker

from forum import outbox_signal
from forum.config import Settings
from forum.db import make_engine, make_sessionmaker
from forum.models import InboundMessage, InboundStatus
from forum.site import Site
from mailgateway.incoming import processing, spooling

log = logging.getLogger("listbridge.spool")
NICENESS = 10  # SMTP conversations first: processing waits for the CPU they leave
ORPHAN_CHECK_SECONDS = 1.0
STOP_SECONDS = 60.0  # to finish what is pending at a stop; the rest is processed at the next start
STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}
QUEUED = b"+"  # said over ``done`` after a commit that queued outbox work


class SpoolProcessor:
    """The gateway's handle on its processor process."""

    def __init__(self, settings: Settings, configure_logs: Callable[[str], None]) -> None:
        """``configure_logs``: sets up the process's logging for a level name; a module-level
        function, as the process is spawned."""
        self.settings = settings
        self.configure_logs = configure_logs
        self._lock = threading.Lock()  # submit() is called from the event loop and the IMAP thread
        self._wake: Connection | None = None
        self._process: multiprocessing.process.BaseProcess | None = None
        self._working: int | None = None  # the message the process is on
        self._overdue: asyncio.TimerHandle | None = None
        self._shunting: int | None = None  # the message it was killed for

    def start(self, shunt: int | None = None) -> None:
        """Start the process; call it from the running event loop. ``shunt``: a message
        to set aside first (the one its predecessor was killed for)."""
        context = multiprocessing.get_context("spawn")
        wake_read, wake_write = context.Pipe(duplex=False)
        done_read, done_write = context.Pipe(duplex=False)
        process = context.Process(
            target=_serve,
            args=(self.settings, self.configure_logs, wake_read, done_write, os.getpid(), shunt),
            name="listbridge-spool",
            daemon=True,
        )
        process.start()
        wake_read.close()
        done_write.close()
        with self._lock:
            self._process, self._wake = process, wake_write
        asyncio.get_running_loop().add_reader(done_read.fileno(), self._told, done_read)

    def _told(self, done: Connection) -> None:
        """The process started or finished a message, or ended."""
        queued = False
        try:
            while done.poll():
                said = done.recv_bytes()
                if said == QUEUED:
                    queued = True
                else:
                    self._watch(int(said) if said else None)
        except (EOFError, OSError):
            asyncio.get_running_loop().remove_reader(done.fileno())
            done.close()
            self._watch(None)
            shunt, self._shunting = self._shunting, None
            if self._wake is not None:  # not stopping: it died, or was killed for a message
                if shunt is None:
                    log.error(
                        "the spool processor ended unexpectedly (exit status %s); starting another",
                        self._process.exitcode if self._process else None,
                    )
                self._wake.close()
                self.start(shunt)
            return
        if queued:
            outbox_signal.announce()

    def _watch(self, inbound_id: int | None) -> None:
        """The process is now on ``inbound_id`` (None: on nothing)."""
        if self._overdue is not None:
            self._overdue.cancel()
            self._overdue = None
        self._working = inbound_id
        if inbound_id is not None:
            self._overdue = asyncio.get_running_loop().call_later(
                self.settings.smtp_in.shunt_after_seconds, self._kill_for, inbound_id
            )

    def _kill_for(self, inbound_id: int) -> None:
        """The process is still on one message: end it; its successor sets the message aside."""
        if self._working != inbound_id or self._process is None:
            return
        log.warning(
            "processing inbound message %s took longer than %.0f s; setting it aside (listbridge shunt list)",
            inbound_id,
            self.settings.smtp_in.shunt_after_seconds,
        )
        self._shunting = inbound_id
        self._process.kill()

    def submit(self, _inbound_id: int) -> None:
        """A message was spooled: process it, after any before it (safe from any thread)."""
        with self._lock:
            if self._wake is not None:
                self._wake.send_bytes(b"")

    async def stop(self) -> None:
        """Let the process finish what is pending (up to STOP_SECONDS), then end it."""
        with self._lock:
            wake, self._wake = self._wake, None
        if wake is None or self._process is None:
            return
        wake.close()  # end of input: process what is pending, then exit
        await asyncio.to_thread(self._process.join, STOP_SECONDS)
        if self._process.is_alive():
            log.warning(
                "the spool processor did not finish within %.0f s; what it left is processed at the next start",
                STOP_SECONDS,
            )
            self._process.kill()
            await asyncio.to_thread(self._process.join)


def _serve(
    settings: Settings,
    configure_logs: Callable[[str], None],
    wake: Connection,
    done: Connection,
    parent: int,
    shunt: int | None,
) -> None:
    """The process: set ``shunt`` aside, process whatever is pending, then wait to be
    woken; at the end of its input, process what is left and exit. It says over ``done``
    which message it starts on, and when one is finished. A gateway that died without a
    word (SIGKILL) is noticed within a second, and its processor exits too."""
    # Stopping is the gateway's to decide (a terminal's Ctrl-C, or a service manager's
    # SIGTERM, reaches every process of the group at once): it closes the pipe once no
    # more mail can arrive, and this process finishes what is pending first. (Signalled
    # while still starting, before this line, it dies, and the gateway starts another.)
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
    configure_logs(settings.logging.level)
    os.nice(NICENESS)
    engine = make_engine(settings.database.url)
    site = Site.from_settings(settings)
    sessions, readers = make_sessionmaker(engine), make_sessionmaker(engine, readonly=True)
    outbox_signal.subscribe(lambda: done.send_bytes(QUEUED))
    if shunt is not None:
        with sessions.begin() as session:
            spooling.shunt(
                session, shunt, f"set aside: processing took longer than {settings.smtp_in.shunt_after_seconds:g} s"
            )
    reading = True
    while os.getppid() == parent:
        with readers() as session:
            backlog = spooling.pending(session)
        for inbound_id in backlog:
            done.send_bytes(str(inbound_id).encode())
            process_one(site, sessions, readers, inbound_id)
            done.send_bytes(b"")
        if not reading:
            break
        if wake.poll(ORPHAN_CHECK_SECONDS):
            try:
                while wake.poll():
                    wake.recv_bytes()
            except EOFError:
                reading = False  # one last round for what was spooled before the stop
    engine.dispose()


def process_one(site: Site, sessions: sessionmaker[Session], readers: sessionmaker[Session], inbound_id: int) -> None:
    """Read and draft a spooled message, then store what it makes in one transaction. A
    message whose processing fails (a bug) is kept, marked failed, never lost."""
    try:
        with readers() as session:
            prepared = processing.prepare(session, site, inbound_id)
        if prepared is None:
            return
        with sessions.begin() as session:
            processing.process(session, site, inbound_id, prepared)
    except Exception as exc:
        log.exception("processing inbound message %s failed", inbound_id)
        with sessions.begin() as session:
            row = session.get(InboundMessage, inbound_id)
            if row is not None and row.status is InboundStatus.pending:
                row.status = InboundStatus.failed
                row.outcome = f"internal error: {exc!r}"
