"""The web archive served by gunicorn workers, forked processes sharing one listening socket."""

from __future__ import annotations

import http.client
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from sqlalchemy import Engine

from forum import config, outbox_signal
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


def _workers(arbiter: int, count: int) -> set[int]:
    """The arbiter's workers once there are ``count`` (it forks them one after another)."""
    deadline = time.monotonic() + 15
    while len(workers := _children(arbiter)) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return workers


def test_workers_answer_are_replaced_and_stop(make_settings: Callable[..., config.Settings], engine: Engine) -> None:
    port = free_port()
    woken = threading.Event()
    unsubscribe = outbox_signal.subscribe(woken.set)
    server = WebServer(make_settings(web={"port": port, "processes": 2}))
    server.start()
    now: set[int] = set()
    try:
        assert all(_get(port, "/") == 200 for _ in range(6))
        workers = _workers(server.arbiter, 2)
        assert len(workers) == 2
        server._tell_home()  # what a worker says after a commit that queued outbox work
        assert woken.wait(5), "the announcement was not relayed to this process"
        os.kill(min(workers), signal.SIGKILL)
        deadline = time.monotonic() + 10
        while len(_children(server.arbiter) - workers) < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        now = _children(server.arbiter)
        assert len(now) == 2 and min(workers) not in now
        assert all(_get(port, "/") == 200 for _ in range(4))
    finally:
        server.stop()
        unsubscribe()
    assert not any(Path(f"/proc/{pid}").exists() for pid in {server.arbiter, *now}), "a worker outlived stop()"


def test_pages_are_computed_one_at_a_time_and_neither_streams_nor_forms_hold_them_up() -> None:
    """Threads computing pages at once only take turns at Python's lock, so a process
    computes one at a time; a streamed body (an mbox download) is produced outside that
    turn, and a form posted (which may wait for SQLite's write lock) takes no turn, so
    neither holds up the pages after it."""
    running = 0
    most = 0
    counting = threading.Lock()
    release = {"/stream": threading.Event(), "/post": threading.Event()}

    def app(environ: dict[str, object], start_response: Callable[..., object]) -> Iterator[bytes] | list[bytes]:
        nonlocal running, most
        if environ["PATH_INFO"] == "/post":
            release["/post"].wait(10)  # waiting for the write lock
            start_response("303 See Other", [])
            return [b""]
        with counting:
            running += 1
            most = max(most, running)
        time.sleep(0.02)  # a view computing
        with counting:
            running -= 1
        start_response("200 OK", [])
        return body() if environ["PATH_INFO"] == "/stream" else [b"page"]

    def body() -> Iterator[bytes]:
        release["/stream"].wait(10)
        yield b"mbox"

    serial = SerialViews(app)

    def request(path: str, method: str = "GET") -> threading.Thread:
        thread = threading.Thread(target=serial, args=({"PATH_INFO": path, "REQUEST_METHOD": method}, lambda *_: None))
        thread.start()
        return thread

    pages = [request("/") for _ in range(4)]
    for page in pages:
        page.join(10)
    assert most == 1, "two pages were computed at once"

    downloaded: list[bytes] = []

    def download() -> None:  # as a server sends a response: call the app, then iterate
        downloaded.extend(serial({"PATH_INFO": "/stream", "REQUEST_METHOD": "GET"}, lambda *_: None))

    downloading = threading.Thread(target=download)
    downloading.start()
    posting = request("/post", "POST")
    time.sleep(0.1)  # the download's view has run and its body waits; the form waits too
    page = request("/")
    page.join(5)
    assert not page.is_alive(), "a page waited for a download or a form"
    assert downloading.is_alive() and posting.is_alive()
    for event in release.values():
        event.set()
    downloading.join(5)
    posting.join(5)
    assert downloaded == [b"mbox"] and most == 1
