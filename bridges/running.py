"""The bridges a site's settings set up, ready for ``listbridge serve`` to run.

Split along the serve roles: a ``web`` process serves the endpoints platforms receive
requests at (Slack's Events API; the runtime mounts :attr:`Bridges.endpoints` on the web
app, because ``web`` must not import ``bridges``), a ``worker`` process runs
:meth:`Bridges.run` beside mail delivery: a worker per platform sending its outbox rows,
and the long-lived inbound connections (Socket Mode, the Matrix sync). So a site whose web
and workers run on different machines still hears from Slack. An inbound chat message's
copies are announced by its commit (:mod:`forum.outbox_signal`), wherever it was stored,
so mail delivery and the other bridges send them at once.

Which platforms there are is not known here: each is a registered
:class:`bridges.platforms.ChatBridge`, started when its settings set it up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint
from sqlalchemy.orm import Session, sessionmaker

from bridges.platforms import ChatBridge, Listener
from bridges.worker import ChatWorker
from forum.chat_platforms import ChatPlatform
from forum.site import Site


@dataclass
class Bridges:
    workers: list[ChatWorker] = field(default_factory=list)
    endpoints: list[Blueprint] = field(default_factory=list)
    listeners: list[Listener] = field(default_factory=list)

    def wake(self) -> None:
        for worker in self.workers:
            worker.wake()

    async def run(self, stop: asyncio.Event) -> None:
        """Until ``stop``: the inbound connections, opened first, and the outbound workers."""
        opened: list[Listener] = []
        try:
            for listener in self.listeners:
                await asyncio.to_thread(listener.open)
                opened.append(listener)
            await asyncio.gather(*(worker.run(stop) for worker in self.workers))
        finally:
            for listener in reversed(opened):
                await asyncio.to_thread(listener.close)


def build(
    site: Site,
    sessions: sessionmaker[Session],
    platforms: Iterable[ChatPlatform[Any]],
    *,
    web: bool = True,
    worker: bool = True,
) -> Bridges:
    """What the ``web`` and ``worker`` roles of this process need of the ``platforms`` set up."""
    bridges = Bridges()
    for platform in platforms:
        if not isinstance(platform, ChatBridge):
            raise TypeError(f"chat platform {platform.name!r} is registered without a bridge to run it")
        options = platform.options(site.settings)
        if platform.unconfigured(options):
            continue
        running = platform.start(site, sessions, options, web=web, worker=worker)
        if running.adapter is not None:
            bridges.workers.append(ChatWorker(running.adapter, site, sessions))
        bridges.endpoints += running.endpoints
        bridges.listeners += running.listeners
    return bridges
