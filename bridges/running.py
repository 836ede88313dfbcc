"""The bridges a site's settings ask for, ready for ``listbridge serve`` to run.

Split along the serve roles: a ``web`` process receives Slack's Events API requests (the
runtime mounts :attr:`Bridges.blueprint` on the web app, because ``web`` must not import
``bridges``), a ``worker`` process runs :meth:`Bridges.run` beside mail delivery: the
outbound workers and the long-lived inbound connections (Socket Mode, the Matrix sync).
So a site whose web and workers run on different machines still hears from Slack. An
inbound chat message's copies are announced by its commit (:mod:`forum.outbox_signal`),
wherever it was stored, so mail delivery and the other bridges send them at once.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field

from flask import Blueprint
from sqlalchemy.orm import Session, sessionmaker

from bridges import matrix, slack
from bridges.matrix_puppets import Puppets
from bridges.worker import ChatWorker
from forum.site import Site


@dataclass
class Bridges:
    workers: list[ChatWorker] = field(default_factory=list)
    blueprint: Blueprint | None = None
    socket_mode: slack.SocketModeHandler | None = None
    matrix_sync: matrix.MatrixSync | None = None

    def wake(self) -> None:
        for worker in self.workers:
            worker.wake()

    async def run(self, stop: asyncio.Event) -> None:
        """Until ``stop``: the outbound workers, Socket Mode and the Matrix sync loop."""
        if self.socket_mode is not None:
            await asyncio.to_thread(self.socket_mode.connect)
        syncing = threading.Event()
        sync = asyncio.create_task(asyncio.to_thread(self.matrix_sync.run, syncing)) if self.matrix_sync else None
        try:
            await asyncio.gather(*(worker.run(stop) for worker in self.workers))
        finally:
            syncing.set()
            if sync is not None:
                await sync
            if self.socket_mode is not None:
                await asyncio.to_thread(self.socket_mode.close)


def build(site: Site, sessions: sessionmaker[Session], *, web: bool = True, worker: bool = True) -> Bridges:
    """What the ``web`` and ``worker`` roles of this process need of the configured bridges."""
    settings = site.settings
    bridges = Bridges()

    if settings.slack.bot_token:
        client = slack.web_client(settings.slack)
        app = slack.bolt_app(settings.slack, slack.SlackInbound(site, sessions, client))
        if worker:
            bridges.workers.append(ChatWorker(slack.SlackAdapter(client), site, sessions))
            if settings.slack.app_token:
                bridges.socket_mode = slack.socket_mode(app, settings.slack)
        if web and not settings.slack.app_token:
            bridges.blueprint = slack.events_blueprint(app)
    if settings.matrix.homeserver and worker:
        api = matrix.MatrixApi(settings.matrix)
        puppets = Puppets(api, settings.matrix) if settings.matrix.appservice_token else None
        bridges.workers.append(ChatWorker(matrix.MatrixAdapter(api, puppets), site, sessions))
        bridges.matrix_sync = matrix.MatrixSync(api, site, sessions, puppets)
    return bridges
