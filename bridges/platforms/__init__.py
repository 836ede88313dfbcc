"""What a chat platform's module declares: one :class:`ChatBridge`, named ``PLATFORM``.

It is the core's description of the platform (:class:`forum.chat_platforms.ChatPlatform`:
name, label, settings section, channel-id rule) and how ``listbridge serve`` runs it: a
``start`` that gives, for the roles of this process, the adapter its outbox rows are sent
with, the web endpoints it mounts and its long-lived inbound connections. The runtime
registers it (``listbridge.platforms``) and runs whatever registered bridge the settings
set up, so nothing outside the platform's module names it.

These modules are read by every command of the command line (the settings have their
sections), so a platform's SDK is imported in its ``start``, not at the top.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, TypeVar

from forum.chat_platforms import ChatPlatform

if TYPE_CHECKING:
    from flask import Blueprint
    from sqlalchemy.orm import Session, sessionmaker

    from bridges.base import Adapter
    from forum.site import Site

S = TypeVar("S")
S_contra = TypeVar("S_contra", contravariant=True)


@dataclass(frozen=True)
class Listener:
    """A long-lived inbound connection (Slack's Socket Mode, the Matrix sync loop):
    ``open`` starts it, running in threads of its own; ``close`` ends it."""

    open: Callable[[], None]
    close: Callable[[], None]

    @classmethod
    def thread(cls, name: str, loop: Callable[[threading.Event], None]) -> Listener:
        """``loop(stop)`` in a thread of its own, until it is closed."""
        stop = threading.Event()
        thread = threading.Thread(target=loop, args=(stop,), name=name, daemon=True)

        def close() -> None:
            stop.set()
            thread.join()

        return cls(open=thread.start, close=close)


@dataclass(frozen=True)
class Running:
    """What a platform runs in one process, for the roles it was started with."""

    adapter: Adapter | None = None  # worker: its outbox rows are sent through it
    endpoints: list[Blueprint] = field(default_factory=list)  # web: mounted, exempt from CSRF (requests are signed)
    listeners: list[Listener] = field(default_factory=list)  # worker: what brings chat messages in


class Start(Protocol[S_contra]):
    def __call__(
        self, site: Site, sessions: sessionmaker[Session], options: S_contra, *, web: bool, worker: bool
    ) -> Running: ...


@dataclass(frozen=True, kw_only=True)
class ChatBridge(ChatPlatform[S]):
    """A chat platform and how it runs; ``start`` is called only when its settings set it up."""

    start: Start[S]
