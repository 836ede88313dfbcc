"""``listbridge serve``: every part of the site in one process, or the roles it is given.

The inbound gateway, mail delivery and the chat bridges share one event loop; the
synchronous core runs in worker threads, the web archive in waitress's threads (or
processes), the digest scheduler and the IMAP poller in threads of their own, and the spool
processor, which turns accepted mail into posts, in a process of its own
(:mod:`listbridge.spool_process`). Whatever
commits outbox work (a processed message, a chat message, a web post, a digest run)
wakes every outbox consumer, so nothing waits for a polling period.

``--only`` runs some roles: ``gateway`` (SMTP/LMTP listener, spool processor, IMAP
poller), ``worker`` (mail delivery, chat bridges), ``web`` and ``scheduler`` (digests), so
several gateways and workers can share one PostgreSQL. There, a process that commits outbox
work also sends a ``NOTIFY`` and worker processes ``LISTEN``, so a worker elsewhere starts
within milliseconds too; the outbox's ``FOR UPDATE SKIP LOCKED`` claims keep workers apart.
On SQLite a worker that does not run every committing role polls every 0.2 s instead.

Stopping (SIGINT/SIGTERM) happens in the order that loses nothing: stop taking new work
(SMTP listener, web, scheduler, IMAP), let SMTP conversations that are mid-DATA finish,
process everything spooled, then let delivery and the bridges flush what they sent and
hand back what they had claimed but not sent.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Collection

from bridges import running as bridges_running
from digest.scheduler import DigestScheduler
from forum import schema
from forum.config import Settings
from forum.db import make_engine, make_sessionmaker
from forum.errors import ConfigError
from forum.site import Site
from listbridge import logs
from listbridge.outbox_signals import OutboxListener, OutboxNotifier
from listbridge.spool_process import SpoolProcessor
from listbridge.webserver import WebServer
from mailgateway import inbound
from mailgateway.delivery import POLL_SECONDS, DeliveryWorker
from mailgateway.imap import ImapPoller
from mailgateway.server import GatewayHandler, start_server
from web.app import csrf

log = logging.getLogger("listbridge.serve")
GRACE_SECONDS = 10.0
ROLES = ("gateway", "web", "worker", "scheduler")
SHARED_POLL_SECONDS = 0.2  # a worker no committer can wake (SQLite, other processes) polls this often


async def run(settings: Settings, stop: asyncio.Event, roles: Collection[str] = ROLES) -> None:
    """Run ``roles`` of the site until ``stop``: ``gateway`` (SMTP/LMTP listener, spool
    processor, IMAP poller), ``worker`` (mail delivery, chat bridges), ``web`` and
    ``scheduler`` (digests). A role not named is not started."""
    unknown = set(roles) - set(ROLES)
    if unknown or not roles:
        raise ConfigError(f"unknown role(s) {sorted(unknown)}: choose from {', '.join(ROLES)}")
    engine = make_engine(settings.database.url)
    if not schema.is_current(engine):
        raise ConfigError("the database is not initialised or is out of date: run 'listbridge init' first")
    site = Site.from_settings(settings)
    sessions = make_sessionmaker(engine)
    shared = engine.dialect.name == "postgresql"
    committers = {"gateway", "web", "scheduler"} & set(roles)

    delivery = None
    if "worker" in roles:
        # Without PostgreSQL's notifications, work committed by other processes is found by polling.
        poll = POLL_SECONDS if shared or committers == {"gateway", "web", "scheduler"} else SHARED_POLL_SECONDS
        delivery = DeliveryWorker(site, sessions, poll_seconds=poll)
    # On PostgreSQL other processes may run workers too (they may run on other machines): tell them.
    notifier = OutboxNotifier(engine) if shared and committers else None

    def wake_local() -> None:  # safe from any thread
        if delivery is not None and bridges is not None:
            delivery.wake()
            bridges.wake()

    def wake_consumers() -> None:  # safe from any thread
        wake_local()
        if notifier is not None:
            notifier.notify()

    bridges: bridges_running.Bridges | None = None
    listener = OutboxListener(settings.database.url, wake_local) if shared and "worker" in roles else None

    web = None
    if "web" in roles:
        # Before anything else runs: its servers may be forked, which is safe only while
        # this process has no other thread (see listbridge.webserver). Slack's events
        # endpoint goes with the web role; Slack signs its requests instead of CSRF tokens.
        try:
            web = WebServer(settings, on_committed=wake_consumers)
        except OSError as exc:
            raise _cannot_listen("the web archive", settings.web.host, settings.web.port, exc) from exc
        endpoint = bridges_running.build(site, sessions, wake_consumers, web=True, worker=False).blueprint
        if endpoint is not None:
            web.app.register_blueprint(endpoint)
            csrf.exempt(endpoint)
        web.start()
    if "worker" in roles:  # the chat workers and their connections (Socket Mode starts threads)
        bridges = bridges_running.build(site, sessions, wake_consumers, web=False, worker=True)

    processor = handler = server = smtp_engine = None
    if "gateway" in roles:
        with sessions() as session:
            backlog = inbound.pending(session)
        if backlog:
            log.info("processing %d message(s) spooled before the last stop", len(backlog))
        # On PostgreSQL the processor's own commits notify workers elsewhere (see spool_process).
        processor = SpoolProcessor(settings, wake_local)
        # Without a liveness query before each use: a connection the database dropped fails
        # one message with a 451, which its sender retries, instead of costing every message
        # a round trip.
        smtp_engine = make_engine(settings.database.url, pool_pre_ping=False)
        handler = GatewayHandler(site, make_sessionmaker(smtp_engine), make_sessionmaker(smtp_engine, readonly=True),
                                 processor.submit, settings.smtp_in.protocol)
        # Listening before the processor and the notification threads start: a port that is
        # taken ends serve with nothing more to stop. What is accepted before the processor
        # runs is pending, and processed when it starts.
        try:
            server = await start_server(handler, settings.smtp_in.host, settings.smtp_in.port,
                                        settings.smtp_in.max_message_bytes)
        except OSError as exc:
            raise _cannot_listen(settings.smtp_in.protocol.upper(), settings.smtp_in.host, settings.smtp_in.port,
                                 exc) from exc
        processor.start()

    for service in (notifier, listener):
        if service is not None:
            service.start()
    consumers_stop = asyncio.Event()
    consumer_tasks = []
    if delivery is not None and bridges is not None:
        consumer_tasks = [asyncio.create_task(delivery.run(consumers_stop), name="delivery"),
                          asyncio.create_task(bridges.run(consumers_stop), name="bridges")]
    digests = DigestScheduler(site, engine, on_queued=wake_consumers) \
        if "scheduler" in roles and settings.digest.schedule else None
    imap = ImapPoller(site, sessions, processor.submit) \
        if processor is not None and settings.imap.host else None
    for service in (digests, imap):
        if service is not None:
            service.start()
    log.info("running %s", ", ".join(role for role in ROLES if role in roles))
    if server is not None:
        log.info("listening for %s on %s:%d", settings.smtp_in.protocol.upper(), settings.smtp_in.host,
                 settings.smtp_in.port)
    if delivery is not None:
        log.info("delivering via %s:%d", settings.smtp_out.host, settings.smtp_out.port)
    try:
        await stop.wait()
    finally:
        log.info("stopping: no new work; finishing what was accepted")
        if server is not None:
            server.close()
        for service in (web, digests, imap):
            if service is not None:
                await asyncio.to_thread(service.stop)
        if handler is not None:
            await _drain_sessions(handler)
            await handler.db.close()
        if processor is not None:
            await processor.stop()
        consumers_stop.set()
        await asyncio.gather(*consumer_tasks)
        for service in (listener, notifier):
            if service is not None:
                await asyncio.to_thread(service.stop)
        for pool in (engine, smtp_engine):
            if pool is not None:
                pool.dispose()
        log.info("stopped")


def _cannot_listen(what: str, host: str, port: int, exc: OSError) -> ConfigError:
    """One line for a port that is taken or not ours to open (``serve`` then exits with 1)."""
    reason = os.strerror(exc.errno) if exc.errno else str(exc)
    return ConfigError(f"cannot listen for {what} on {host}:{port}: {reason}")


async def _drain_sessions(handler: GatewayHandler) -> None:
    """Give SMTP conversations in the middle of DATA time to be stored and answered."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + GRACE_SECONDS
    while handler.in_flight and loop.time() < deadline:
        await asyncio.sleep(0.05)


def serve(settings: Settings, roles: Collection[str] = ROLES) -> None:
    logs.configure(settings.logging.level)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run(settings, stop, roles)

    asyncio.run(main())
