"""What every request needs from the core: the site's services and database sessions."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from flask import current_app
from sqlalchemy.orm import Session, sessionmaker

from forum.site import Site


def _nothing() -> None:
    return None


@dataclass(frozen=True)
class WebState:
    site: Site
    sessions: sessionmaker[Session]  # for requests that write (posting, settings)
    readers: sessionmaker[Session]  # for pages that only read: never wait on a writer
    # Told after every committed write, so work a web post queued (its mail and chat
    # copies) goes out at once; ``listbridge serve`` wakes its outbox consumers with it.
    on_committed: Callable[[], None] = _nothing


def state() -> WebState:
    return current_app.extensions["listbridge"]  # type: ignore[no-any-return]


@contextmanager
def writing() -> Iterator[Session]:
    """A session in a transaction: committed when the block ends well (then the outbox
    consumers are woken), rolled back otherwise."""
    web = state()
    with web.sessions.begin() as session:
        yield session
    web.on_committed()
