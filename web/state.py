"""What every request needs from the core: the site's services and database sessions."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from sqlalchemy.orm import Session, sessionmaker

from forum.site import Site


@dataclass(frozen=True)
class WebState:
    site: Site
    sessions: sessionmaker[Session]  # for requests that write (posting, settings)
    readers: sessionmaker[Session]  # for pages that only read: never wait on a writer


def state() -> WebState:
    return current_app.extensions["listbridge"]  # type: ignore[no-any-return]
