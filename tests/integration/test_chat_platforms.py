"""A chat platform registered by its own module is run by ``listbridge serve`` like the real ones.

The test-only platform (:mod:`tests.loopback_platform`) is registered as the runtime
registers Slack and Matrix; the serve runtime (web and worker roles, in this process, on
loopback ports) mounts its endpoint, takes a message in at it, and hands the post's
outbox rows for the platform to its adapter, without any product module naming it.
"""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker as SessionMaker

from bridges.platforms import ChatBridge
from forum import chat
from forum.config import Settings
from forum.models import OutboxItem, Post, PostingPolicy
from forum.posting import community_by_slug
from listbridge import runtime
from tests.integration.chat_site import wait_until
from tests.loopback_platform import CHANNELS
from tests.support import SmtpSink, free_ports, make_community, make_member

pytestmark = pytest.mark.integration
ALICE = "alice@council.example"


@pytest.fixture
def settings(loopback: ChatBridge[Any], make_settings: Callable[..., Settings], smtp_sink: SmtpSink) -> Settings:
    web_port, smtp_port = free_ports(2)
    return make_settings(
        loopback={"enabled": True},
        web={"port": web_port, "processes": 1},
        smtp_in={"port": smtp_port},
        smtp_out={"port": smtp_sink.port},
    )


@contextmanager
def serving(settings: Settings, roles: tuple[str, ...]) -> Iterator[None]:
    """``listbridge serve --only …`` in a thread of this process (so it knows the registered
    test platform), stopped as SIGTERM stops it."""
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    thread = threading.Thread(target=loop.run_until_complete, args=(runtime.run(settings, stop, roles),), name="serve")
    thread.start()
    try:
        yield
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(30)
        loop.close()


def channel(settings: Settings, channel_id: str, **message: str) -> Any:
    """Read the loopback channel through its endpoint, or (with ``message``) write in it."""
    url = f"http://127.0.0.1:{settings.web.port}/loopback/{channel_id}"
    data = urllib.parse.urlencode(message).encode() if message else None
    with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=10) as response:
        return json.load(response)


def answers(settings: Settings) -> bool:
    try:
        return channel(settings, "loop-0") == []
    except OSError:
        return False


def test_serve_mounts_its_endpoint_and_sends_its_outbox_rows_through_its_adapter(
    settings: Settings, sessionmaker: SessionMaker[Session]
) -> None:
    with sessionmaker.begin() as session:
        housing = make_community(session, "housing", policy=PostingPolicy.members.value)
        make_member(session, housing, ALICE)
        for name in ("loop-1", "loop-2"):
            chat.link(session, housing, "loopback", name, settings=settings)

    with serving(settings, ("web", "worker")):
        wait_until(lambda: answers(settings))
        # In at its endpoint (not behind the web's CSRF check: a platform signs its own requests).
        said = channel(
            settings,
            "loop-1",
            email=ALICE,
            name="Alice Adviser",
            text="Damp in the Elm Street flats\n\nWho has a good contractor?",
        )
        assert said["notice"] == ""
        # Out through its adapter, in the other linked channel; none back where it came from.
        # The adapter runs in this process (worker role); the endpoint in a forked web worker.
        sent = wait_until(lambda: [m for m in CHANNELS["loop-2"] if m.by_bridge])
        assert "Damp in the Elm Street flats" in sent[0].text and sent[0].root_ref is None
        assert [m for m in CHANNELS["loop-1"] if m.by_bridge] == []

    with sessionmaker() as session:
        post = session.scalars(select(Post)).one()
        assert (post.source, post.author_email) == ("loopback", ALICE)
        assert post.community_id == community_by_slug(session, "housing").id
        rows = session.execute(
            select(OutboxItem.kind, OutboxItem.address, OutboxItem.status)
            .where(OutboxItem.kind.like("loopback%"))
            .order_by(OutboxItem.address)
        ).all()
        assert [(kind, address, status.value) for kind, address, status in rows] == [
            ("loopback_post", "loop-1", "done"),
            ("loopback_post", "loop-2", "done"),
        ]
