"""What every request needs from the core: the site's services and database sessions."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from flask import current_app
from sqlalchemy.orm import Session, sessionmaker

from forum.health import RUNNING, Health
from forum.site import Site


def _only_the_web() -> Mapping[str, Health]:
    return {"web": Health(RUNNING)}


@dataclass(frozen=True)
class WebState:
    site: Site
    sessions: sessionmaker[Session]  # for requests that write (posting, settings)
    readers: sessionmaker[Session]  # for pages that only read: never wait on a writer
    # The services of the process serving the request, for ``/healthz``: ``listbridge
    # serve`` hands over its own; an app served by itself (gunicorn) knows only itself.
    services: Callable[[], Mapping[str, Health]] = _only_the_web


def state() -> WebState:
    return current_app.extensions["listbridge"]


@contextmanager
def writing() -> Iterator[Session]:
    """A session in a transaction: committed when the block ends well, rolled back otherwise."""
    with state().sessions.begin() as session:
        yield session
