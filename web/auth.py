"""Who is signed in: the user id in the signed session cookie, loaded once per request.

Signing in itself (one-time links sent by email) lives in ``web.accounts``; every other
blueprint only asks :func:`current_user` or decorates a view with :func:`login_required`.
"""

from __future__ import annotations

from functools import wraps
from typing import Any, Callable, TypeVar

from flask import g, redirect, request, session, url_for

from forum.models import User
from web.state import state

F = TypeVar("F", bound=Callable[..., Any])


def current_user() -> User | None:
    if "current_user" not in g:
        user_id = session.get("uid")
        user = None
        if isinstance(user_id, int):
            with state().readers() as db:
                user = db.get(User, user_id)
        g.current_user = user
    return g.current_user  # type: ignore[no-any-return]


def sign_in_as(user_id: int) -> None:
    """Start a fresh session for ``user_id`` (a new cookie: no session fixation)."""
    session.clear()
    session["uid"] = user_id
    session.permanent = True
    g.pop("current_user", None)


def sign_out() -> None:
    session.clear()
    g.pop("current_user", None)


def login_required(view: F) -> F:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if current_user() is None:
            return redirect(url_for("accounts.sign_in", next=request.full_path))
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
