"""The parts ``listbridge serve`` runs, each with one shape: a name, start, stop, health.

The runtime composes them from the roles it is given, starts them in order and stops them
in the reverse order, so the order of a list is the whole of the start-up and shutdown
logic. A service's state is what ``/healthz`` reports: a consumer whose task ended with
an error is "failed" even while the others run.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from sqlalchemy import Engine

from forum.config import SmtpInSettings
from forum.errors import ConfigError
from forum.health import RUNNING, Health
from mailgateway.incoming.server import GatewayHandler, start_server
from mailgateway.incoming.spool_processor import SpoolProcessor

log = logging.getLogger("listbridge.serve")
GRACE_SECONDS = 10.0  # for SMTP conversations in the middle of DATA at a stop


class Service:
    """Base of every service: keeps its state; subclasses say how to start and stop."""

    name = "service"

    def __init__(self) -> None:
        self.state = "created"

    async def start(self) -> None:
        self.state = "starting"
        try:
            await self._start()
        except BaseException:
            self.state = "failed"
            raise
        self.state = RUNNING

    async def stop(self) -> None:
        if self.state in ("created", "stopped"):
            return
        self.state = "stopping"
        try:
            await self._stop()
        finally:
            self.state = "stopped"

    def health(self) -> Health:
        return Health(self.state)

    async def _start(self) -> None:
        raise NotImplementedError

    async def _stop(self) -> None:
        raise NotImplementedError


class Threaded(Protocol):
    """What runs in threads of its own: the digest scheduler, the IMAP poller, the
    notification sender and listener."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


class ThreadService(Service):
    def __init__(self, name: str, part: Threaded) -> None:
        super().__init__()
        self.name = name
        self.part = part

    async def _start(self) -> None:
        self.part.start()

    async def _stop(self) -> None:
        await asyncio.to_thread(self.part.stop)


class TaskService(Service):
    """A consumer run as a task of the event loop until it is told to stop (mail delivery,
    the chat workers): stopping lets it flush what it sent and hand back what it claimed."""

    def __init__(
        self, name: str, run: Callable[[asyncio.Event], Coroutine[Any, Any, None]], wake: Callable[[], None]
    ) -> None:
        super().__init__()
        self.name = name
        self.wake = wake  # safe from any thread
        self._run = run
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def _start(self) -> None:
        self._task = asyncio.create_task(self._run(self._stopping), name=self.name)

    async def _stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            await self._task

    def health(self) -> Health:
        if self._task is not None and self._task.done() and not self._stopping.is_set():
            error = None if self._task.cancelled() else self._task.exception()
            return Health("failed", repr(error) if error else "ended")
        return super().health()


async def start_all(services: list[Service]) -> None:
    """Start ``services`` in order; if one fails, stop those started, in reverse, and raise."""
    for index, service in enumerate(services):
        try:
            await service.start()
        except BaseException:
            await stop_all(services[:index])
            raise


async def stop_all(services: list[Service]) -> None:
    """Stop ``services`` in the reverse order; one that fails to stop does not keep the
    others running."""
    for service in reversed(services):
        try:
            await service.stop()
        except Exception:
            log.exception("stopping %s failed", service.name)


class SpoolService(Service):
    """The spool processor's process: stopping lets it process everything spooled."""

    name = "spool processor"

    def __init__(self, processor: SpoolProcessor) -> None:
        super().__init__()
        self.processor = processor

    async def _start(self) -> None:
        self.processor.start()

    async def _stop(self) -> None:
        await self.processor.stop()


class GatewayService(Service):
    """The SMTP/LMTP listener: stopping closes it and lets conversations in the middle of
    DATA be stored and answered (up to ``GRACE_SECONDS``)."""

    def __init__(self, handler: GatewayHandler, settings: SmtpInSettings, engine: Engine) -> None:
        super().__init__()
        self.name = settings.protocol
        self.handler = handler
        self.settings = settings
        self.engine = engine
        self._server: asyncio.AbstractServer | None = None

    async def _start(self) -> None:
        where = self.settings
        try:
            self._server = await start_server(self.handler, where.host, where.port, where.max_message_bytes)
        except OSError as exc:
            await self._close()
            raise cannot_listen(where.protocol.upper(), where.host, where.port, exc) from exc
        log.info("listening for %s on %s:%d", where.protocol.upper(), where.host, where.port)

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + GRACE_SECONDS
        while self.handler.in_flight and loop.time() < deadline:
            await asyncio.sleep(0.05)
        await self._close()

    async def _close(self) -> None:
        await self.handler.db.close()
        self.engine.dispose()


def cannot_listen(what: str, host: str, port: int, exc: OSError) -> ConfigError:
    """One line for a port that is taken or not ours to open (``serve`` then exits with 1)."""
    reason = os.strerror(exc.errno) if exc.errno else str(exc)
    return ConfigError(f"cannot listen for {what} on {host}:{port}: {reason}")
