"""The web archive of a real ``listbridge serve``: gunicorn's workers, forked by its arbiter,
which ``serve`` forks. A worker that dies is replaced while the others serve; SIGTERM to
``serve`` alone ends the arbiter and every worker."""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.integration.served import ServedSite
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
