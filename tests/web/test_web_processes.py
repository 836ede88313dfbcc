"""The web archive served by several forked processes sharing one listening socket."""

from __future__ import annotations

import http.client
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine

from forum import config
from listbridge.webserver import WebServer
from tests.support import free_port


def _get(port: int, path: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    finally:
        conn.close()


def _children(pid: int) -> set[int]:
    return {int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}


def test_forked_servers_answer_are_replaced_and_stop(make_settings: Callable[..., config.Settings],
                                                      engine: Engine) -> None:
    port = free_port()
    woken = threading.Event()
    server = WebServer(make_settings(web={"port": port, "processes": 2}), on_committed=woken.set)
    server.start()
    try:
        assert all(_get(port, "/") == 200 for _ in range(6))
        servers = _children(server.launcher)
        assert len(servers) == 2
        server._committed()  # here, in the parent: wakes at once
        assert woken.is_set()
        os.kill(min(servers), signal.SIGKILL)
        deadline = time.monotonic() + 10
        while len(_children(server.launcher) - servers) < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        now = _children(server.launcher)
        assert len(now) == 2 and min(servers) not in now
        assert all(_get(port, "/") == 200 for _ in range(4))
    finally:
        server.stop()
    assert not any(Path(f"/proc/{pid}").exists() for pid in {server.launcher, *now}), "a server outlived stop()"
