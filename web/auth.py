"""Who is signed in: the browser session the signed session cookie names, loaded once per request.

The cookie holds a session key, not a user id: the key's row in the database
(``forum.browser_sessions``) says whose it is, so signing out, here or everywhere, ends
the session for every copy of the cookie. Signing in itself (one-time links sent by email)
lives in ``web.accounts``; every other blueprint only asks :func:`current_user` or
decorates a view with :func:`login_required`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import g, redirect, request, session, url_for
from sqlalchemy.orm import Session

from forum import browser_sessions
from forum.models import User
from web.state import state, writing

F = TypeVar("F", bound=Callable[..., Any])
SESSION_KEY = "sid"


def current_user() -> User | None:
    if "current_user" not in g:
        key = session.get(SESSION_KEY)
        user = None
        if isinstance(key, str):
            with state().readers() as db:
                user = browser_sessions.user_of(db, key)
        g.current_user = user
    return g.current_user


def sign_in_as(db: Session, user_id: int) -> None:
    """Start a fresh session for ``user_id``, recorded in ``db`` (the caller's transaction),
    under a new cookie: no session fixation."""
    session.clear()
    session[SESSION_KEY] = browser_sessions.start(db, user_id)
    session.permanent = True
    g.pop("current_user", None)


def sign_out(*, everywhere: bool = False) -> None:
    """End this browser's session, or (``everywhere``) every session of the signed-in person."""
    key, user = session.get(SESSION_KEY), current_user()
    if isinstance(key, str):  # signed in (or was: an ended session needs no ending)
        with writing() as db:
            if everywhere and user is not None:
                browser_sessions.end_all(db, user.id)
            else:
                browser_sessions.end(db, key)
    session.clear()
    g.pop("current_user", None)


def login_required(view: F) -> F:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if current_user() is None:
            return redirect(url_for("accounts.sign_in", next=request.full_path))
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
