"""``listbridge serve``: every part of the site in one asyncio process.

The inbound gateway, the spool processor and the delivery worker share one event loop;
the synchronous core runs in worker threads. Stopping (SIGINT/SIGTERM) happens in the
order that loses nothing: stop listening, let SMTP conversations that are mid-DATA finish,
process everything spooled, then let delivery flush what it has sent and hand back what
it had claimed but not sent.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from forum import schema
from forum.config import Settings
from forum.db import make_engine, make_sessionmaker
from forum.errors import ConfigError
from forum.models import InboundMessage, InboundStatus
from forum.site import Site
from listbridge import logs
from mailgateway import inbound
from mailgateway.delivery import DeliveryWorker
from mailgateway.server import GatewayHandler, start_server

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
    delivery: DeliveryWorker

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
            self.delivery.wake()

    async def stop(self) -> None:
        """Finish everything queued, then return."""
        self.queue.put_nowait(None)


async def run(settings: Settings, stop: asyncio.Event) -> None:
    engine = make_engine(settings.database.url)
    if not schema.is_current(engine):
        raise ConfigError("the database is not initialised or is out of date: run 'listbridge init' first")
    site = Site.from_settings(settings)
    sessions = make_sessionmaker(engine)
    delivery = DeliveryWorker(site, sessions)
    processor = SpoolProcessor(site, sessions, delivery)
    with sessions() as session:
        backlog = inbound.pending(session)
    for inbound_id in backlog:
        processor.submit(inbound_id)
    if backlog:
        log.info("processing %d message(s) spooled before the last stop", len(backlog))
    handler = GatewayHandler(site, sessions, make_sessionmaker(engine, readonly=True), processor.submit,
                             settings.smtp_in.protocol)
    delivery_stop = asyncio.Event()
    tasks = [asyncio.create_task(processor.run(), name="spool"),
             asyncio.create_task(delivery.run(delivery_stop), name="delivery")]
    server = await start_server(handler, settings.smtp_in.host, settings.smtp_in.port,
                                settings.smtp_in.max_message_bytes)
    log.info("listening for %s on %s:%d; delivering via %s:%d", settings.smtp_in.protocol.upper(),
             settings.smtp_in.host, settings.smtp_in.port, settings.smtp_out.host, settings.smtp_out.port)
    try:
        await stop.wait()
    finally:
        log.info("stopping: no new connections; finishing what was accepted")
        server.close()
        await _drain_sessions(handler)
        await processor.stop()
        await tasks[0]
        delivery_stop.set()
        await tasks[1]
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
