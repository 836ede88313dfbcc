"""``listbridge serve``: every part of the site in one process.

The inbound gateway, the spool processor, mail delivery and the chat bridges share one
event loop; the synchronous core runs in worker threads, the web archive in waitress's
threads, the digest scheduler and the IMAP poller in threads of their own. Whatever
commits outbox work (a processed message, a chat message, a web post, a digest run)
wakes every outbox consumer, so nothing waits for a polling period.

Stopping (SIGINT/SIGTERM) happens in the order that loses nothing: stop taking new work
(SMTP listener, web, scheduler, IMAP), let SMTP conversations that are mid-DATA finish,
process everything spooled, then let delivery and the bridges flush what they sent and
hand back what they had claimed but not sent.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from bridges import running as bridges_running
from digest.scheduler import DigestScheduler
from forum import schema
from forum.config import Settings
from forum.db import make_engine, make_sessionmaker
from forum.errors import ConfigError
from forum.models import InboundMessage, InboundStatus
from forum.site import Site
from listbridge import logs
from listbridge.webserver import WebServer
from mailgateway import inbound
from mailgateway.delivery import DeliveryWorker
from mailgateway.imap import ImapPoller
from mailgateway.server import GatewayHandler, start_server
from web.app import csrf

log = logging.getLogger("listbridge.serve")
GRACE_SECONDS = 10.0


@dataclass
class SpoolProcessor:
    """Processes spooled messages one at a time, in arrival order.

    One at a time keeps threading deterministic (a reply spooled just after its parent is
    placed after it) and SQLite has a single writer anyway.
    """

    site: Site
    sessions: sessionmaker[Session]
    on_committed: Callable[[], None]

    def __post_init__(self) -> None:
        self.queue: asyncio.Queue[int | None] = asyncio.Queue()

    def submit(self, inbound_id: int) -> None:
        self.queue.put_nowait(inbound_id)

    def _process(self, inbound_id: int) -> None:
        try:
            with self.sessions.begin() as session:
                inbound.process(session, self.site, inbound_id)
        except Exception as exc:  # a bug must not lose the message: keep it, marked failed
            log.exception("processing inbound message %s failed", inbound_id)
            with self.sessions.begin() as session:
                row = session.get(InboundMessage, inbound_id)
                if row is not None and row.status is InboundStatus.pending:
                    row.status = InboundStatus.failed
                    row.outcome = f"internal error: {exc!r}"

    async def run(self) -> None:
        while (inbound_id := await self.queue.get()) is not None:
            await asyncio.to_thread(self._process, inbound_id)
            self.on_committed()

    def stop(self) -> None:
        """Finish everything queued, then end :meth:`run`."""
        self.queue.put_nowait(None)


async def run(settings: Settings, stop: asyncio.Event) -> None:
    engine = make_engine(settings.database.url)
    if not schema.is_current(engine):
        raise ConfigError("the database is not initialised or is out of date: run 'listbridge init' first")
    site = Site.from_settings(settings)
    sessions = make_sessionmaker(engine)
    loop = asyncio.get_running_loop()

    delivery = DeliveryWorker(site, sessions)
    bridges = bridges_running.build(site, sessions, on_committed=delivery.wake)

    def wake_consumers() -> None:  # safe from any thread
        delivery.wake()
        bridges.wake()

    processor = SpoolProcessor(site, sessions, wake_consumers)
    with sessions() as session:
        backlog = inbound.pending(session)
    for inbound_id in backlog:
        processor.submit(inbound_id)
    if backlog:
        log.info("processing %d message(s) spooled before the last stop", len(backlog))

    consumers_stop = asyncio.Event()
    spool_task = asyncio.create_task(processor.run(), name="spool")
    consumer_tasks = [asyncio.create_task(delivery.run(consumers_stop), name="delivery"),
                      asyncio.create_task(bridges.run(consumers_stop), name="bridges")]
    handler = GatewayHandler(site, sessions, make_sessionmaker(engine, readonly=True), processor.submit,
                             settings.smtp_in.protocol)
    server = await start_server(handler, settings.smtp_in.host, settings.smtp_in.port,
                                settings.smtp_in.max_message_bytes)
    web = WebServer(settings, on_committed=wake_consumers)
    if bridges.blueprint is not None:  # Slack's events endpoint: Slack signs its requests instead of CSRF tokens
        web.app.register_blueprint(bridges.blueprint)
        csrf.exempt(bridges.blueprint)
    web.start()
    digests = DigestScheduler(site, engine, on_queued=wake_consumers) if settings.digest.schedule else None
    imap = ImapPoller(site, sessions, lambda i: loop.call_soon_threadsafe(processor.submit, i)) \
        if settings.imap.host else None
    for service in (digests, imap):
        if service is not None:
            service.start()
    log.info("listening for %s on %s:%d; delivering via %s:%d", settings.smtp_in.protocol.upper(),
             settings.smtp_in.host, settings.smtp_in.port, settings.smtp_out.host, settings.smtp_out.port)
    try:
        await stop.wait()
    finally:
        log.info("stopping: no new work; finishing what was accepted")
        server.close()
        for service in (web, digests, imap):
            if service is not None:
                await asyncio.to_thread(service.stop)
        await _drain_sessions(handler)
        processor.stop()
        await spool_task
        consumers_stop.set()
        await asyncio.gather(*consumer_tasks)
        engine.dispose()
        log.info("stopped")


async def _drain_sessions(handler: GatewayHandler) -> None:
    """Give SMTP conversations in the middle of DATA time to be stored and answered."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + GRACE_SECONDS
    while handler.in_flight and loop.time() < deadline:
        await asyncio.sleep(0.05)


def serve(settings: Settings) -> None:
    logs.configure(settings.logging.level)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run(settings, stop)

    asyncio.run(main())
