"""``listbridge serve``: every part of the site in one process, or the roles it is given.

Each part is a service (:mod:`listbridge.services`): the SMTP/LMTP gateway, the spool
processor, which turns accepted mail into posts in a process of its own
(:mod:`mailgateway.incoming.spool_processor`), the IMAP poller, the web archive (gunicorn's
workers), mail delivery, the chat workers, the digest scheduler, and on PostgreSQL the
outbox notifications. Gateway, delivery and the chat workers share one event loop; the
synchronous core runs in worker threads. Whatever commits outbox work (a processed
message, a chat message, a web post, a digest run) is announced by its commit
(:mod:`forum.outbox_signal`); the runtime subscribes this process's consumers to that
announcement, so nothing waits for a polling period.

``--only`` runs some roles: ``gateway`` (SMTP/LMTP listener, spool processor, IMAP
poller), ``worker`` (mail delivery, chat bridges), ``web`` and ``scheduler`` (digests), so
several gateways and workers can share one PostgreSQL. There, a process that commits outbox
work also sends a ``NOTIFY`` and worker processes ``LISTEN``, so a worker elsewhere starts
within milliseconds too; the outbox's ``FOR UPDATE SKIP LOCKED`` claims keep workers apart.
On SQLite a worker that does not run every committing role polls every 0.2 s instead.

Services start in order and stop in the reverse order, which loses nothing: stop taking
new work (web, scheduler, IMAP, the SMTP listener), let SMTP conversations that are
mid-DATA finish, process everything spooled, then let the bridges and delivery flush what
they sent and hand back what they had claimed but not sent, and last stop the
notifications.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Collection
from dataclasses import dataclass, field

from sqlalchemy import Engine

from bridges import running as bridges_running
from digest.scheduler import DigestScheduler
from forum import chat_platforms, outbox_signal, schema
from forum.config import Settings
from forum.db import make_engine, make_sessionmaker
from forum.errors import ConfigError
from forum.health import Health
from forum.site import Site
from listbridge import logs
from listbridge.outbox_signals import OutboxListener, OutboxNotifier
from listbridge.services import (
    GatewayService,
    Service,
    SpoolService,
    TaskService,
    ThreadService,
    cannot_listen,
    start_all,
    stop_all,
)
from listbridge.webserver import WebServer
from mailgateway.incoming import spooling
from mailgateway.incoming.imap import ImapPoller
from mailgateway.incoming.server import GatewayHandler
from mailgateway.incoming.spool_processor import SpoolProcessor
from mailgateway.outgoing.delivery import POLL_SECONDS, DeliveryWorker
from web.app import csrf

log = logging.getLogger("listbridge.serve")
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
    composed = compose(settings, engine, roles)
    unsubscribe = outbox_signal.subscribe(composed.new_work)
    try:
        try:
            await start_all(composed.services)
        except BaseException:
            if composed.web is not None:  # never started, but its workers were forked at once
                await asyncio.to_thread(composed.web.stop)
            raise
        try:
            log.info("running %s", ", ".join(role for role in ROLES if role in roles))
            await stop.wait()
        finally:
            log.info("stopping: no new work; finishing what was accepted")
            await stop_all(composed.services)
    finally:
        unsubscribe()
        engine.dispose()
    log.info("stopped")


@dataclass
class Composed:
    """This process's services in the order they start, who hears of new outbox work, and
    the web server (its workers are forked before any service starts)."""

    services: list[Service] = field(default_factory=list)
    consumers: list[TaskService] = field(default_factory=list)
    notifier: OutboxNotifier | None = None
    web: WebServer | None = None

    def health(self) -> dict[str, Health]:
        return {service.name: service.health() for service in self.services}

    def wake_here(self) -> None:
        """Wake this process's consumers (safe from any thread)."""
        for consumer in self.consumers:
            consumer.wake()

    def new_work(self) -> None:
        """Outbox work was committed here: wake the consumers here and, on PostgreSQL,
        elsewhere (safe from any thread)."""
        self.wake_here()
        if self.notifier is not None:
            self.notifier.notify()


def compose(settings: Settings, engine: Engine, roles: Collection[str]) -> Composed:
    """This process's services for ``roles``, none started yet (the web's workers
    excepted: they are forked first, see below)."""
    site = Site.from_settings(settings)
    sessions = make_sessionmaker(engine)
    shared = engine.dialect.name == "postgresql"
    committers = {"gateway", "web", "scheduler"} & set(roles)
    composed = Composed()
    services = composed.services

    if "web" in roles:
        # Before anything else runs: its workers are forked, which is safe only while
        # this process has no other thread (see listbridge.webserver). The chat platforms'
        # endpoints (Slack's events) go with the web role; they sign their requests instead
        # of CSRF tokens.
        try:
            composed.web = WebServer(settings, composed.health)
        except OSError as exc:
            raise cannot_listen("the web archive", settings.web.host, settings.web.port, exc) from exc
        for endpoint in bridges_running.build(
            site, sessions, chat_platforms.registered(), web=True, worker=False
        ).endpoints:
            composed.web.app.register_blueprint(endpoint)
            csrf.exempt(endpoint)
        composed.web.fork_servers()

    # On PostgreSQL other processes may run workers too (they may run on other machines): tell them.
    if shared and committers:
        composed.notifier = OutboxNotifier(engine)
        services.append(ThreadService("outbox notifier", composed.notifier))
    if "worker" in roles:
        if shared:
            services.append(ThreadService("outbox listener", OutboxListener(settings.database.url, composed.wake_here)))
        # Without PostgreSQL's notifications, work committed by other processes is found by polling.
        poll = POLL_SECONDS if shared or committers == {"gateway", "web", "scheduler"} else SHARED_POLL_SECONDS
        delivery = DeliveryWorker(site, sessions, poll_seconds=poll)
        composed.consumers.append(TaskService("delivery", delivery.run, delivery.wake))
        log.info("delivering via %s:%d", settings.smtp_out.host, settings.smtp_out.port)
        # The chat workers and their connections (Socket Mode starts threads).
        bridges = bridges_running.build(site, sessions, chat_platforms.registered(), web=False, worker=True)
        if bridges.workers:
            composed.consumers.append(TaskService("chat", bridges.run, bridges.wake))
        services += composed.consumers
    if "gateway" in roles:
        with sessions() as session:
            backlog = spooling.pending(session)
        if backlog:
            log.info("processing %d message(s) spooled before the last stop", len(backlog))
        processor = SpoolProcessor(settings, logs.configure)
        # Without a liveness query before each use: a connection the database dropped fails
        # one message with a 451, which its sender retries, instead of costing every message
        # a round trip.
        smtp_engine = make_engine(settings.database.url, pool_pre_ping=False)
        handler = GatewayHandler(
            site,
            make_sessionmaker(smtp_engine),
            make_sessionmaker(smtp_engine, readonly=True),
            processor.submit,
            settings.smtp_in.protocol,
        )
        services += [SpoolService(processor), GatewayService(handler, settings.smtp_in, smtp_engine)]
        if settings.imap.host:
            services.append(ThreadService("imap", ImapPoller(site, sessions, processor.submit)))
    if "scheduler" in roles and settings.digest.schedule:
        services.append(ThreadService("digests", DigestScheduler(site, engine)))
    if composed.web is not None:
        services.append(ThreadService("web", composed.web))
    return composed


def serve(settings: Settings, roles: Collection[str] = ROLES) -> None:
    logs.configure(settings.logging.level)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run(settings, stop, roles)

    asyncio.run(main())
