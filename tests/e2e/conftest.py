"""Fixtures for the end-to-end tests: a real ``listbridge serve``, a real SMTP smarthost and
Debian's Chromium driven by Playwright.

One site serves the whole ``tests/e2e`` package (starting a process and a browser per test
would cost most of the time budget), so the tests here only ever add to it: a test finds
its own posts by words nobody else writes, and never counts what others may have added.
Chromium is the system one (``/usr/bin/chromium``, Debian package ``chromium``):
Playwright must never download a browser of its own, so ``playwright install`` is never
run. Without Playwright or Chromium the tests are skipped with the reason (failed in CI).

The site runs on SQLite in a temporary directory, not on ``db_url``: the conftest marks
every test using ``db_url`` as ``db``, and ``scripts/test`` re-runs those on PostgreSQL.
These tests check what a browser sees, not the database, whose behaviour the
integration and unit tests already cover on both engines; one run is enough.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.world import World, browser_context, post_seed_mail, seed, wait_for_web
from tests.head_schema import copy_head_schema
from tests.integration.served import ServedSite
from tests.support import SmtpSink, unavailable

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: drives a real Chromium against a real listbridge serve")


@pytest.fixture(scope="package")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    workdir = tmp_path_factory.mktemp("e2e-site")
    # SQLite in tmp, not db_url: see the module docstring.
    db_url = f"sqlite:///{workdir / 'listbridge.db'}"
    with SmtpSink() as sink:
        site = ServedSite(workdir, db_url, sink.port)
        copy_head_schema(db_url)
        seed(db_url)
        site.start()
        try:
            wait_for_web(site)
            w = World(site=site, sink=sink, base=f"http://127.0.0.1:{site.web_port}")
            post_seed_mail(w)
            yield w
        finally:
            site.stop()


# The browser ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, for the whole session."""
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        unavailable("Playwright is not installed (pip install -e '.[test]')")
    if not CHROMIUM.exists():
        unavailable(f"Chromium is not installed at {CHROMIUM} (Debian package: chromium)")
    with sync_playwright() as playwright:
        try:
            chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        except Error as exc:
            unavailable(f"Chromium at {CHROMIUM} does not start under Playwright: {exc.message.splitlines()[0]}")
        yield chromium
        chromium.close()


@pytest.fixture
def new_context(browser: Any, world: World) -> Iterator[Callable[..., Any]]:
    """``new_context(as_=ADDRESS, **options)``: a fresh browser context (own cookies),
    signed in as ``as_`` when given (by the emailed link, once per person per run), closed
    after the test."""
    opened: list[Any] = []

    def open_context(as_: str | None = None, **options: Any) -> Any:
        opened.append(context := browser_context(browser, world, as_, **options))
        return context

    yield open_context
    for context in opened:
        context.close()
