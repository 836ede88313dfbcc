"""Fixtures shared by every test.

The database fixtures run on SQLite (a file per test) unless
``LISTBRIDGE_TEST_DATABASE_URL`` names a PostgreSQL database, in which case each test gets
an empty ``public`` schema in it (``engine`` and served sites copy the newest schema in:
tests/head_schema.py). Every test that uses ``db_url`` (directly or through
``settings``, ``engine``, ``sessionmaker`` …) is marked ``db`` automatically, so
``scripts/test`` can re-run exactly those on PostgreSQL with ``-m db``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker as SessionMaker
from sqlalchemy.pool import NullPool

from bridges.platforms import ChatBridge
from forum import chat_platforms, config, db
from forum.site import Site
from listbridge import platforms
from tests import loopback_platform
from tests.dnsstub import empty_dns
from tests.head_schema import copy_head_schema, reset_postgres
from tests.support import SmtpSink, unavailable

# As every entry point does before it reads settings: they may have the chat platforms' sections.
platforms.register()

SECRET_KEY = "test-secret-key-0123456789abcdef"
MAIL_DOMAIN = "lists.example.org"


E2E = Path(__file__).parent / "e2e"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "db: uses a database (re-run on PostgreSQL by scripts/test -m db)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "db_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.db)
    # The browser tests run last: Playwright's sync API keeps an event loop running on the
    # main thread until the session ends, and other tests call asyncio.run() there.
    items.sort(key=lambda item: item.path.is_relative_to(E2E))


MEASUREMENTS = pytest.StashKey[list[str]]()


@pytest.fixture
def record_measurement(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Report a figure (an agreement rate, a duration) in the run's summary, even with -q.

    Lines are labelled with the database, since the same test runs on SQLite and PostgreSQL.
    """
    lines = request.config.stash.setdefault(MEASUREMENTS, [])
    database = "PostgreSQL" if os.environ.get("LISTBRIDGE_TEST_DATABASE_URL") else "SQLite"
    return lambda line: lines.append(f"[{database}] {line}")


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    lines = config.stash.get(MEASUREMENTS, [])
    if lines:
        terminalreporter.section("measurements")
        for line in lines:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str | None]:
    """A PostgreSQL database of this run's own; None when testing on SQLite.

    ``LISTBRIDGE_TEST_DATABASE_URL`` names the server and a database to connect to; the
    run creates a scratch database beside it and drops it at the end, so two test runs
    against one server (two developers, two terminals) never reset each other's tables.
    When the server cannot be reached, every database test is skipped (failed with
    CI=true) with the driver's reason.
    """
    url = os.environ.get("LISTBRIDGE_TEST_DATABASE_URL") or None
    if url is None:
        yield None
        return
    admin = create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    scratch = f"{admin.url.database}_run{os.getpid()}"
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{scratch}"')
            conn.exec_driver_sql(f'CREATE DATABASE "{scratch}"')
    except OperationalError as exc:
        admin.dispose()
        shown = admin.url.render_as_string(hide_password=True)
        why = " ".join(str(exc.orig).split())
        unavailable(f"PostgreSQL at {shown} (LISTBRIDGE_TEST_DATABASE_URL) is not usable: {why}")
    try:
        yield admin.url.set(database=scratch).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture
def db_url(tmp_path: Path, postgres_url: str | None) -> str:
    """URL of an empty database for this test: SQLite in tmp_path, or a reset PostgreSQL."""
    if postgres_url is None:
        return f"sqlite:///{tmp_path / 'listbridge.db'}"
    reset_postgres(postgres_url)
    return postgres_url


@pytest.fixture
def make_settings(db_url: str, tmp_path: Path) -> Callable[..., config.Settings]:
    """Build test settings, overriding whole sections' keys: ``make_settings(smtp_out={"port": 2525})``."""

    def make(**overrides: dict[str, Any]) -> config.Settings:
        raw: dict[str, dict[str, Any]] = {
            "site": {"mail_domain": MAIL_DOMAIN, "secret_key": SECRET_KEY, "base_url": "http://127.0.0.1:8080"},
            "database": {"url": db_url},
            "storage": {"path": str(tmp_path / "storage")},
            # Delivery tests exercise retries; production delays would make them wait minutes.
            "delivery": {"retry_base_seconds": 0.05, "retry_max_seconds": 0.5},
            # No test asks the real DNS: a loopback stub that knows no names, unless a test
            # points this at a tests.dnsstub.DnsStub of its own.
            "smtp_in": {"dns_servers": [empty_dns()]},
        }
        for section, values in overrides.items():
            raw.setdefault(section, {}).update(values)
        return config.from_dict(raw, base=tmp_path)

    return make


@pytest.fixture
def settings(make_settings: Callable[..., config.Settings]) -> config.Settings:
    return make_settings()


@pytest.fixture
def site(settings: config.Settings) -> Site:
    return Site.from_settings(settings)


@pytest.fixture
def engine(settings: config.Settings) -> Iterator[Engine]:
    """An engine on a database with the newest schema, disposed after the test."""
    copy_head_schema(settings.database.url)
    engine = db.make_engine(settings.database.url)
    yield engine
    engine.dispose()


@pytest.fixture
def sessionmaker(engine: Engine) -> SessionMaker[Session]:
    return db.make_sessionmaker(engine)


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    """A real SMTP server on a free loopback port that records what it is sent."""
    with SmtpSink() as sink:
        yield sink


@pytest.fixture
def loopback(monkeypatch: pytest.MonkeyPatch) -> Iterator[ChatBridge[Any]]:
    """The test-only chat platform (:mod:`tests.loopback_platform`), registered for this test
    as the runtime registers the real ones; request it before the settings, whose
    ``[loopback]`` section it declares."""
    monkeypatch.setattr(chat_platforms, "_registry", dict(chat_platforms._registry))
    chat_platforms.register(loopback_platform.PLATFORM)
    yield loopback_platform.PLATFORM
    loopback_platform.CHANNELS.clear()
