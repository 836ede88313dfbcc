"""``/healthz`` and ``listbridge status`` against a real ``listbridge serve``: the queues
they report grow while the smarthost is down and drain when it is back."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.head_schema import copy_head_schema
from tests.integration.served import DOMAIN, ServedSite, mail
from tests.support import SmtpSink, free_port

pytestmark = pytest.mark.integration

LIST = f"housing@{DOMAIN}"


def healthz(site: ServedSite) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{site.web_port}/healthz", timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def settled(site: ServedSite) -> tuple[int, dict[str, Any]]:
    """``/healthz`` once every service has started (the web, started last, says "starting"
    until the forked servers hear it runs)."""
    deadline = time.monotonic() + 10
    status, body = healthz(site)
    while not body["ok"] and time.monotonic() < deadline:
        time.sleep(0.1)
        status, body = healthz(site)
    return status, body


def outbox_pending(site: ServedSite) -> int:
    return int(healthz(site)[1]["queues"]["outbox"]["pending"])


def post(site: ServedSite, n: int) -> None:
    code, _text = site.send(
        "alice@council.example",
        [LIST],
        mail(
            "alice@council.example", LIST, f"Question {n}", "Which damp meter do you use?", f"health{n}@council.example"
        ),
    )
    assert code == 250
    site.wait_until_processed()


@pytest.fixture
def site(tmp_path: Path, db_url: str) -> ServedSite:
    smarthost = free_port()  # nothing listens there yet: the smarthost is down
    site = ServedSite(tmp_path, db_url, smarthost)
    copy_head_schema(db_url)
    site.cli("community", "create", "housing", "--name", "Housing Advice", "--policy", "members")
    for who in ("alice", "bob", "carol"):
        site.cli("member", "add", "housing", f"{who}@council.example")
    return site


def test_the_outbox_grows_while_the_smarthost_is_down_and_drains_after(site: ServedSite) -> None:
    site.start()
    try:
        status, body = settled(site)
        assert status == 200 and body["ok"], json.dumps(body)
        assert {"delivery", "smtp", "spool processor", "web", "digests"} <= set(body["services"])
        assert all(service["state"] == "running" for service in body["services"].values())
        assert body["queues"]["outbox"] == {"pending": 0, "oldest_seconds": None, "ok": True}

        post(site, 1)
        assert outbox_pending(site) == 2  # bob's and carol's copies, waiting for the smarthost
        post(site, 2)
        status, body = healthz(site)
        assert status == 200 and body["queues"]["outbox"]["pending"] == 4
        assert body["queues"]["outbox"]["oldest_seconds"] >= 0
        assert body["queues"]["inbound"]["pending"] == 0

        with SmtpSink(port=site.smarthost_port) as sink:
            sink.wait_for(4)
            deadline = time.monotonic() + 20
            while outbox_pending(site) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert outbox_pending(site) == 0
    finally:
        site.stop()


def test_status_lists_queues_and_ports_and_fails_on_a_stale_queue(site: ServedSite) -> None:
    quiet = site.cli("status")
    assert "outbox: 0 waiting" in quiet.stdout
    assert f"smtp 127.0.0.1:{site.smtp_port}: not answering" in quiet.stdout  # not running: reported, not failed
    site.start()
    try:
        post(site, 1)
        running = site.cli("status")
        lines = running.stdout.splitlines()
        assert lines[0].startswith("outbox: 2 waiting, oldest ")
        assert "inbound: 0 waiting" in lines
        assert f"smtp 127.0.0.1:{site.smtp_port}: answers" in lines
        assert f"web http://127.0.0.1:{site.web_port}/healthz: answers" in lines
        assert "service delivery: running" in lines

        time.sleep(1.1)
        stale = site.cli("status", "--stale", "1", check=False)
        assert stale.returncode == 1
        assert [line for line in stale.stdout.splitlines() if line.endswith("(unhealthy)")] == [
            next(line for line in stale.stdout.splitlines() if line.startswith("outbox: 2 waiting"))
        ]
    finally:
        site.stop()
