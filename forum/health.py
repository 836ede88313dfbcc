"""How the site is doing: its services' states and its queues' depth and age.

One function for the web's ``/healthz`` and ``listbridge status``, so both say the same.
A queue is unhealthy when its oldest waiting row is older than ``stale``: a backlog that
drains is normal, one that has stopped moving (the smarthost is down, no gateway is
processing) is what an operator must hear of. Held posts and shunted messages wait for a
person, so they are reported, never unhealthy.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from forum.models import InboundMessage, InboundStatus, OutboxItem, OutboxStatus, Post, PostStatus, utcnow

STALE = timedelta(minutes=15)
RUNNING = "running"


@dataclass(frozen=True)
class Health:
    """A service's state ("starting", "running", "stopping", "stopped", "failed") and why."""

    state: str
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.state == RUNNING


@dataclass(frozen=True)
class Queue:
    name: str
    pending: int
    oldest_seconds: float | None  # the age of the oldest waiting row; None when empty
    ok: bool

    def describe(self) -> str:
        age = "" if self.oldest_seconds is None else f", oldest {self.oldest_seconds:.0f} s"
        return f"{self.pending} waiting{age}"


def queues(session: Session, *, stale: timedelta = STALE, now: datetime | None = None) -> list[Queue]:
    """The outbox (copies not yet sent), the inbound spool (mail not yet processed), held
    posts and shunted messages."""
    now = now or utcnow()

    def measure(name: str, column: Any, *where: Any, watched: bool) -> Queue:
        count, oldest = session.execute(select(func.count(), func.min(column)).where(*where)).one()
        age = (now - oldest).total_seconds() if oldest is not None else None
        ok = not watched or age is None or age <= stale.total_seconds()
        return Queue(name, count or 0, age, ok)

    return [
        measure(
            "outbox",
            OutboxItem.created_at,
            OutboxItem.status.in_([OutboxStatus.pending, OutboxStatus.sending]),
            watched=True,
        ),
        measure("inbound", InboundMessage.received_at, InboundMessage.status == InboundStatus.pending, watched=True),
        measure("held", Post.created_at, Post.status == PostStatus.held, watched=False),
        measure("shunted", InboundMessage.received_at, InboundMessage.status == InboundStatus.shunted, watched=False),
    ]


def report(services: dict[str, Health], queue_list: list[Queue]) -> dict[str, Any]:
    """The JSON of ``/healthz``: ``ok`` is false when a service or a queue is not."""
    return {
        "ok": all(h.ok for h in services.values()) and all(q.ok for q in queue_list),
        "services": {name: {"state": h.state, "detail": h.detail} for name, h in services.items()},
        "queues": {q.name: {"pending": q.pending, "oldest_seconds": q.oldest_seconds, "ok": q.ok} for q in queue_list},
    }
