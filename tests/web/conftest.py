"""Fixtures for testing the web app with Flask's test client, on the migrated test database.

This directory has no ``__init__.py`` on purpose: as a package it would be imported as
``web`` (pytest puts ``tests/`` on the path), hiding the application package of that name.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator

import pytest
from flask import Flask, session
from flask.testing import FlaskClient
from flask_wtf.csrf import generate_csrf
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker as SessionMaker

from forum.access import user_by_email
from forum.config import Settings
from tests.support import browser_session
from web.app import create_app
from web.auth import SESSION_KEY

CSRF_FIELD = "csrf_token"  # Flask-WTF's key for the raw token in the session (WTF_CSRF_FIELD_NAME)


@pytest.fixture
def app(settings: Settings, engine: Engine) -> Iterator[Flask]:
    """The application as ``web.create_app`` builds it (``engine`` has run the migrations).

    Its own engine is disposed afterwards: a connection left open would block the next
    test's reset of the PostgreSQL schema.
    """
    application = create_app(settings)
    application.config.update(TESTING=True)  # exceptions reach the test instead of a 500 page
    yield application
    application.extensions["listbridge"].sessions.kw["bind"].dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def sign_in(client: FlaskClient, sessionmaker: SessionMaker[Session]) -> Callable[[int | None], None]:
    """Sign the client in as a user id (a session started as ``web.auth.sign_in_as`` starts
    one), or out with None."""

    def sign_in(user_id: int | None) -> None:
        key = browser_session(sessionmaker, user_id) if user_id is not None else None
        with client.session_transaction() as cookie:
            cookie.clear()
            if key is not None:
                cookie[SESSION_KEY] = key

    return sign_in


@pytest.fixture
def csrf_token(client: FlaskClient) -> Callable[[], str]:
    """A valid CSRF token for the client's current session (call again after signing in or out).

    The raw token lives in the session cookie; the form field carries it signed. Signing a
    token for the client's raw token needs no page that happens to contain a form.
    """

    def token() -> str:
        with client.session_transaction() as cookie:
            raw = cookie.setdefault(CSRF_FIELD, secrets.token_hex(20))
        with client.application.test_request_context():
            session[CSRF_FIELD] = raw
            return generate_csrf()

    return token


@pytest.fixture
def as_user(sign_in: Callable[[int | None], None], sessionmaker: SessionMaker[Session]) -> Callable[[str], None]:
    """Sign the client in as the person with this (proven) email address."""

    def as_user(address: str) -> None:
        with sessionmaker() as db:
            user = user_by_email(db, address)
        assert user is not None, f"nobody has the address {address}"
        sign_in(user.id)

    return as_user
