"""Signed-in browsers, one row each: what makes signing out real.

The web's session cookie is signed, so nobody can forge one, but a signed cookie alone
stays good for as long as it says, wherever it has been copied. So the cookie carries a
random key instead of the user id, and the key's row here says whose it is: the web reads
it on every request (one read by primary key, joined to the user it loads anyway), and
ending a session deletes its row. Only a hash of the key is stored, so reading this table
signs nobody in.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from forum import db
from forum.models import BrowserSession, User, utcnow

LIFETIME = timedelta(days=31)  # the session cookie's lifetime too (web.app)


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def start(session: Session, user_id: int) -> str:
    """A new session for ``user_id``: the key for its cookie. Expired sessions are swept out."""
    session.execute(delete(BrowserSession).where(BrowserSession.created_at < utcnow() - LIFETIME))
    key = secrets.token_urlsafe(32)
    session.add(BrowserSession(key_hash=_hash(key), user_id=user_id))
    session.flush()
    return key


def user_of(session: Session, key: str) -> User | None:
    """Whose session ``key`` is, if it has neither ended nor expired."""
    return session.scalar(
        select(User)
        .join(BrowserSession, BrowserSession.user_id == User.id)
        .where(BrowserSession.key_hash == _hash(key), BrowserSession.created_at >= utcnow() - LIFETIME)
    )


def end(session: Session, key: str) -> None:
    """Sign one browser out: its cookie, wherever copied, signs nobody in any more."""
    session.execute(delete(BrowserSession).where(BrowserSession.key_hash == _hash(key)))


def end_all(session: Session, user_id: int) -> int:
    """Sign ``user_id`` out of every browser; how many sessions that ended."""
    return db.rowcount(session.execute(delete(BrowserSession).where(BrowserSession.user_id == user_id))) or 0
