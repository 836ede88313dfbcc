"""The web archive of a real ``listbridge serve``: gunicorn's workers, forked by its arbiter,
which ``serve`` forks. A worker that dies is replaced while the others serve; SIGTERM to
``serve`` alone ends the arbiter and every worker."""

from __future__ import annotations

import json
import os
import re
import signal
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.integration.served import DOMAIN, Browser, ServedSite, mail
from tests.support import SmtpSink

pytestmark = pytest.mark.integration


def children(pid: int) -> set[int]:
    return {int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}


def get(site: ServedSite, path: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(f"http://127.0.0.1:{site.web_port}{path}", timeout=10) as response:
        return response.status, response.read()


def healthz(site: ServedSite, within: float = 10.0) -> dict[str, object]:
    """``/healthz`` once all is well (services may still be starting), else as it last was."""
    deadline = time.monotonic() + within
    while True:
        try:
            return dict(json.loads(get(site, "/healthz")[1]))
        except urllib.error.HTTPError as refused:  # 503: something is not well yet
            if time.monotonic() > deadline:
                return dict(json.loads(refused.read()))
        time.sleep(0.1)


def workers_of(site: ServedSite, count: int) -> tuple[int, set[int]]:
    """The arbiter (the child of ``serve`` with children of its own) and its ``count`` workers."""
    assert site.proc is not None
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        for child in children(site.proc.pid):
            workers = children(child)
            if len(workers) == count:
                return child, workers
        time.sleep(0.1)
    raise AssertionError(f"no arbiter with {count} workers under listbridge serve:\n{site.log()}")


def test_a_dead_worker_is_replaced_and_a_stop_ends_them_all(tmp_path: Path, db_url: str, smtp_sink: SmtpSink) -> None:
    site = ServedSite(tmp_path, db_url, smtp_sink.port, extra="processes = 2")
    site.cli("init")
    site.start()
    try:
        arbiter, workers = workers_of(site, 2)
        assert all(get(site, "/")[0] == 200 for _ in range(4))
        dead = min(workers)
        os.kill(dead, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while (dead in children(arbiter) or len(children(arbiter)) < 2) and time.monotonic() < deadline:
            time.sleep(0.05)
        replaced = children(arbiter)
        assert len(replaced) == 2 and dead not in replaced, site.log()
        assert all(get(site, "/")[0] == 200 for _ in range(8))
        health = healthz(site)  # a new worker reports serve's services too
        assert health["ok"] and health["services"]["web"]["state"] == "running", health
    finally:
        exit_status = site.stop()  # SIGTERM to serve alone, not to its process group
    assert exit_status == 0, site.log()
    gone = {arbiter, *workers, *replaced}
    assert not any(Path(f"/proc/{pid}").exists() for pid in gone), "a web process outlived serve"
    assert "Traceback" not in site.log()


def test_a_visitor_joins_from_the_page_and_the_next_post_reaches_them(
    tmp_path: Path, db_url: str, smtp_sink: SmtpSink
) -> None:
    """The front door end to end: the page's form, the mailed link over real SMTP, its button,
    then a member's post by mail that reaches the newcomer."""
    site = ServedSite(tmp_path, db_url, smtp_sink.port)
    site.cli("init")
    site.cli("community", "create", "housing", "--name", "Housing Advice", "--description", "Advice on disrepair.")
    site.cli("member", "add", "housing", "alice@council.example", "--name", "Alice", "--role", "facilitator")
    site.start()
    base = f"http://127.0.0.1:{site.web_port}"
    try:
        browser = Browser()
        status, page = browser.get(f"{base}/c/housing/")
        assert status == 200 and "Advice on disrepair." in page
        assert f'href="mailto:housing@{DOMAIN}"' in page and 'action="/c/housing/join"' in page
        status, page = browser.press_button(f"{base}/c/housing/join", email="newbie@council.example", delivery="each")
        assert status == 200 and "Check your email" in page
        [asked] = smtp_sink.wait_for(1, timeout=30)
        assert (
            asked.rcpt_tos == ["newbie@council.example"] and asked.message["Subject"] == "Confirm: join Housing Advice"
        )
        body = asked.message.get_body(("plain",)).get_content()
        link = re.search(r"http://\S+/confirm/\S+", body)
        assert link, body
        for _ in range(2):  # a mail scanner's GET joins nobody
            status, page = browser.get(link.group(0))
            assert status == 200 and "Join Housing Advice?" in page
        assert "newbie@council.example" not in site.cli("member", "list", "housing").stdout
        status, page = browser.press_button(link.group(0), name="Nia Newbie")
        assert status == 200 and "Welcome to Housing Advice: you are a member." in page and "Nia Newbie" in page
        assert "newbie@council.example" in site.cli("member", "list", "housing").stdout
        status, page = browser.get(f"{base}/c/housing/")  # still signed in
        assert "You are a member. Email: every message, as it is posted." in page

        code, _text = site.send(
            "alice@council.example",
            [f"housing@{DOMAIN}"],
            mail("Alice <alice@council.example>", f"housing@{DOMAIN}", "Welcome, all", "Hello.", "w1@council.example"),
        )
        assert code == 250
        site.wait_until_processed()
        deadline = time.monotonic() + 30
        while not any(m.rcpt_tos == ["newbie@council.example"] for m in smtp_sink.messages[1:]):
            assert time.monotonic() < deadline, [(m.rcpt_tos, m.message["Subject"]) for m in smtp_sink.messages]
            time.sleep(0.2)
    finally:
        site.stop()
    assert "Traceback" not in site.log()
