"""The web archive served by several forked processes sharing one listening socket."""

from __future__ import annotations

import http.client
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from sqlalchemy import Engine

from forum import config
from listbridge.webserver import SerialViews, WebServer
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


def test_pages_are_computed_one_at_a_time_and_streams_flow_beside_them() -> None:
    """Threads computing pages at once only take turns at Python's lock, so a process
    computes one at a time; a streamed body (an mbox download) is produced outside that
    turn, so a long download does not hold up the pages after it."""
    running = 0
    most = 0
    counting = threading.Lock()
    release_stream = threading.Event()

    def app(environ: dict[str, object], start_response: Callable[..., object]) -> Iterator[bytes] | list[bytes]:
        nonlocal running, most
        with counting:
            running += 1
            most = max(most, running)
        time.sleep(0.02)  # a view computing
        with counting:
            running -= 1
        start_response("200 OK", [])
        return body() if environ["PATH_INFO"] == "/stream" else [b"page"]

    def body() -> Iterator[bytes]:
        release_stream.wait(10)
        yield b"mbox"

    serial = SerialViews(app)
    threads = [threading.Thread(target=serial, args=({"PATH_INFO": "/"}, lambda *_: None)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert most == 1, "two pages were computed at once"

    downloaded: list[bytes] = []

    def download() -> None:  # as waitress sends a response: call the app, then iterate
        downloaded.extend(serial({"PATH_INFO": "/stream"}, lambda *_: None))

    downloading = threading.Thread(target=download)
    downloading.start()
    time.sleep(0.1)  # its view has run; its body waits
    page = threading.Thread(target=serial, args=({"PATH_INFO": "/"}, lambda *_: None))
    page.start()
    page.join(5)
    assert not page.is_alive() and downloading.is_alive(), "a page waited for a download to finish"
    release_stream.set()
    downloading.join(5)
    assert downloaded == [b"mbox"] and most == 1
