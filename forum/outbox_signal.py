"""One announcement that outbox work was committed: "new work".

Whatever queues outbox rows (a post's copies, a notice, a digest) marks its session with
:func:`mark_queued`; when that session's transaction commits, every subscriber is called
once, in the committing thread. Nothing is announced on a rollback, so a consumer is
never woken for rows that do not exist. Queueing code never knows who listens: the
runtime subscribes whatever wakes its consumers (threads here, other processes).

Subscribers belong to the process that subscribed them: a forked child starts with none
(what they would wake lives in its parent), and subscribes its own.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)
_QUEUED = "listbridge_outbox_queued"
_subscribers: list[Callable[[], None]] = []
_lock = threading.Lock()


def mark_queued(session: Session) -> None:
    """This transaction queues outbox rows: announce them when it commits."""
    session.info[_QUEUED] = True


def subscribe(callback: Callable[[], None]) -> Callable[[], None]:
    """Call ``callback`` after each commit that queued outbox rows (from the committing
    thread: it must be quick and thread-safe). Returns what unsubscribes it."""
    with _lock:
        _subscribers.append(callback)

    def unsubscribe() -> None:
        with _lock:
            if callback in _subscribers:
                _subscribers.remove(callback)

    return unsubscribe


def announce() -> None:
    """Tell every subscriber that outbox rows were committed (done for sessions by the
    commit hook; for a process that hears of another's commit, call it directly)."""
    with _lock:
        subscribers = list(_subscribers)
    for callback in subscribers:
        try:
            callback()
        except Exception:
            log.exception("an outbox subscriber failed; the consumers find the rows by polling")


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.info.pop(_QUEUED, False):
        announce()


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_QUEUED, None)


def _forget_parents_subscribers() -> None:
    _subscribers.clear()


os.register_at_fork(after_in_child=_forget_parents_subscribers)
