"""The application factory: settings in, a configured Flask app out.

Security is set here once for every page: CSRF protection on every form (Flask-WTF),
session cookies that are HttpOnly, SameSite=Lax and Secure when the site is served over
https, and response headers that forbid inline script, framing and MIME sniffing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from flask import Flask, Response
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from forum import browser_sessions
from forum.config import Settings
from forum.db import make_engine, make_sessionmaker
from forum.health import Health
from forum.site import Site
from web import i18n, labels
from web.accounts.spaces import bp as spaces_bp
from web.accounts.views import bp as accounts_bp
from web.admin.requests import bp as community_requests_bp
from web.admin.views import bp as admin_bp
from web.archive.views import bp as archive_bp
from web.auth import current_user
from web.health import bp as health_bp
from web.manage.views import bp as manage_bp
from web.pages import bp as pages_bp
from web.people.views import bp as people_bp
from web.query import IdConverter
from web.state import WebState
from web.takedown.views import bp as takedown_bp

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)

csrf = CSRFProtect()


def create_app(settings: Settings, services: Callable[[], Mapping[str, Health]] | None = None) -> Flask:
    """The WSGI app; ``services`` says how the services serving it are (see ``web.state``)."""
    app = Flask(__name__)
    https = settings.site.base_url.startswith("https://")
    app.config.update(
        SECRET_KEY=settings.site.secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=https,
        SESSION_COOKIE_NAME="listbridge_session",
        PERMANENT_SESSION_LIFETIME=browser_sessions.LIFETIME,  # as long as the session's row
        PREFERRED_URL_SCHEME="https" if https else "http",
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
        # A post's files may total what a mailed post may (web.accounts.uploads); a request
        # may carry twice that, so files somewhat over it get the form back, text kept, with
        # the reason, and only a far larger request the "too large" page (web.pages).
        MAX_CONTENT_LENGTH=2 * settings.smtp_in.max_message_bytes,
    )
    engine = make_engine(settings.database.url)
    app.extensions["listbridge"] = WebState(
        site=Site.from_settings(settings),
        sessions=make_sessionmaker(engine),
        readers=make_sessionmaker(engine, readonly=True),
        **({"services": services} if services else {}),
    )
    if settings.web.trusted_proxies:
        hops = settings.web.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]
    csrf.init_app(app)
    i18n.init_app(app)
    app.jinja_env.globals.update(labels.TEMPLATE_GLOBALS)
    app.after_request(_security_headers)
    app.context_processor(lambda: {"site_name": settings.site.name, "current_user": current_user()})
    app.url_map.converters["int"] = IdConverter  # before the routes are added: they use it
    for blueprint in (
        archive_bp,
        accounts_bp,
        spaces_bp,
        manage_bp,
        takedown_bp,
        people_bp,
        community_requests_bp,
        admin_bp,
        pages_bp,
        health_bp,
    ):
        app.register_blueprint(blueprint)
    return app


def _security_headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response
