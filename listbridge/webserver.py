"""The web archive inside ``listbridge serve``: gunicorn's pre-fork workers.

Python runs one thread at a time, so one process serves pages on one core at most. The
pages are served by ``[web] processes`` gunicorn workers (``gthread``, ``[web] threads``
request threads each; the default is one process per core) sharing one listening socket;
the kernel hands each connection to one of them. This process opens the socket, builds
the app (the runtime mounts what it needs on it first) and forks gunicorn's arbiter,
which forks the workers, replaces one that dies and stops them all on SIGTERM. A
worker's commits that queue outbox work (a web post's copies) are announced to this
process over a pipe and announced again here, as a commit here is; ``/healthz`` in a
worker reads this process's services from a shared board (:mod:`listbridge.health_board`).

Forking is safe only before other threads run: a lock some thread holds at that moment
(SQLite's own, inside a query) stays held forever in the child, and its first query
hangs. So :meth:`WebServer.fork_servers` must come before ``listbridge serve`` starts any
thread, and the arbiter, which forks a worker again whenever one dies, runs none: its
control socket, a thread, is off.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import select
import signal
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from flask import Flask
from gunicorn import glogging
from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter
from gunicorn.config import Config
from gunicorn.workers.base import Worker

from forum import outbox_signal
from forum.config import Settings
from forum.health import Health
from listbridge.forking import fork, quiet_signals
from listbridge.health_board import HealthBoard
from web import create_app

log = logging.getLogger(__name__)
SUPERVISE_SECONDS = 0.5  # how often this process posts its services' health for the workers
STOP_SECONDS = 10  # for the requests being served at a stop


class SerialViews:
    """WSGI middleware: the app reads one page at a time in this process, in turn.

    On SQLite a page is all CPU work in this process, and Python runs one thread at a time:
    threads computing pages at once only take turns at the interpreter lock, which SQLite
    gives up at every row it reads, so each turn is a handover between threads. With 16
    clients on two cores that overhead was a third of a search's CPU (bench/README.md,
    "Search, fourth round"), and every page waited on every other. In turn, each page is
    computed at full speed and the others wait in line for it, which is shorter. The lock
    covers building the response, not sending it: a body streamed from a generator (an
    mbox download) or a file is produced outside it, beside the next page. Only reading
    requests (GET, HEAD) take turns: a form posted may wait for SQLite's write lock
    (another process writing a post and its copies), and the pages behind it must not
    wait with it. (On PostgreSQL a page spends part of its time waiting for the database
    server, which another thread's page can use, so threads run pages at once.)
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self._turn = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return self.app(environ, start_response)
        with self._turn:
            return self.app(environ, start_response)


def server_processes(settings: Settings) -> int:
    """How many processes serve the web archive: ``[web] processes``, 0 meaning one per core."""
    if settings.web.processes:
        return settings.web.processes
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class WebServer:
    def __init__(self, settings: Settings, services: Callable[[], Mapping[str, Health]] | None = None) -> None:
        self.settings = settings
        self.processes = server_processes(settings)
        self.arbiter = 0
        self.app: Flask = create_app(settings, services)
        self._services = services
        family = socket.AF_INET6 if ":" in settings.web.host else socket.AF_INET
        self.socket = socket.create_server((settings.web.host, settings.web.port), family=family, backlog=1024)
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_write, False)
        self._board = HealthBoard()
        self._stopping = threading.Event()
        self.thread = threading.Thread(target=self._relay_wakes, name="web-wakes", daemon=True)

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.socket.getsockname()[:2]
        return host, port

    def wsgi(self) -> Any:
        """What the workers serve."""
        return SerialViews(self.app) if self.settings.database.url.startswith("sqlite") else self.app

    def fork_servers(self) -> None:
        """Fork gunicorn's arbiter, which forks the workers: call it before any other
        thread is started."""
        if self.arbiter:
            return
        # What exists now is shared with the workers until written to; kept out of the
        # garbage collector's sight, its pages are not copied into each of them.
        gc.freeze()
        if threading.active_count() > 1:
            log.warning(
                "forking the web workers while %d other thread(s) run: a worker may hang", threading.active_count() - 1
            )
        self.arbiter = fork(self._arbitrate)

    def start(self) -> None:
        """Serve (forking the workers first if :meth:`fork_servers` has not)."""
        self.fork_servers()
        self.thread.start()
        host, port = self.address
        log.info(
            "web archive on http://%s:%s/ (%d process%s, gunicorn)",
            host,
            port,
            self.processes,
            "" if self.processes == 1 else "es",
        )

    def stop(self, timeout: float = STOP_SECONDS) -> None:
        """Stop accepting, let the requests being served finish, and end the workers
        (forked, whether or not :meth:`start` ran)."""
        self._stopping.set()
        if self.thread.is_alive():
            self.thread.join(timeout)
        os.kill(self.arbiter, signal.SIGTERM)  # not reaped yet, so the id is still the arbiter's
        # It waits for its workers up to its graceful timeout, then kills them; an arbiter
        # that does not end by then is killed, and its workers end as orphans.
        deadline = time.monotonic() + 2 * STOP_SECONDS
        while not os.waitpid(self.arbiter, os.WNOHANG)[0]:
            if time.monotonic() > deadline:
                log.error("the web workers' arbiter did not stop; killing it")
                os.kill(self.arbiter, signal.SIGKILL)
                os.waitpid(self.arbiter, 0)
                break
            time.sleep(0.05)
        self.socket.close()
        os.close(self._wake_read)
        os.close(self._wake_write)

    def _relay_wakes(self) -> None:
        """Here: announce the outbox work a worker says it committed, as if committed here;
        and keep the workers' view of this process's services current."""
        while not self._stopping.is_set():
            if self._services is not None:
                self._board.post(self._services())
            ready, _, _ = select.select([self._wake_read], [], [], SUPERVISE_SECONDS)
            if ready:
                os.read(self._wake_read, 4096)
                outbox_signal.announce()

    # In the arbiter and the workers ----------------------------------------------------------

    def _arbitrate(self) -> None:
        """The forked arbiter: gunicorn's, until SIGTERM or this process's end."""
        quiet_signals()
        _Arbiter(_Gunicorn(self), parent=os.getppid()).run()

    def in_worker(self) -> None:
        """In a freshly forked worker: its services are this process's, so it tells this
        process of new work, and reports its services as this process last posted them."""
        outbox_signal.subscribe(self._tell_home)
        if self._services is not None:
            self.app.extensions["listbridge"] = replace(self.app.extensions["listbridge"], services=self._board.read)

    def _tell_home(self) -> None:
        """In a worker, after a commit that queued outbox work: tell this process."""
        with contextlib.suppress(BlockingIOError):  # the pipe is full of announcements already
            os.write(self._wake_write, b"!")


class _Gunicorn(BaseApplication):
    """gunicorn configured from ``[web]``, serving the app built before the fork."""

    def __init__(self, server: WebServer) -> None:
        self.server = server
        # A copy of the socket for gunicorn to take over (it closes the number it is given).
        self.listening = os.dup(server.socket.fileno())
        super().__init__()

    def load_config(self) -> None:
        settings = self.server.settings
        options = {
            "bind": [f"fd://{self.listening}"],
            "workers": self.server.processes,
            "worker_class": "gthread",
            "threads": settings.web.threads,
            "graceful_timeout": STOP_SECONDS,
            # Forwarded headers are the app's business (ProxyFix, [web] trusted_proxies).
            "forwarded_allow_ips": "",
            "control_socket_disable": True,  # a thread in the arbiter, which forks
            "logger_class": _Log,
            "loglevel": settings.logging.level,
            "post_fork": lambda _arbiter, _worker: self.server.in_worker(),
            "post_worker_init": _quiet_worker,
        }
        for name, value in options.items():
            self.cfg.set(name, value)

    def load(self) -> Any:
        return self.server.wsgi()


class _Arbiter(Arbiter):
    """gunicorn's arbiter as a child of ``listbridge serve``, which alone stops it."""

    def __init__(self, app: _Gunicorn, parent: int) -> None:
        super().__init__(app)
        self.parent = parent

    def init_signals(self) -> None:
        super().init_signals()
        # A terminal's Ctrl-C reaches the whole process group: ``serve`` acts on it and
        # stops this arbiter gracefully. Re-executing (USR2) would start another ``serve``.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGUSR2, signal.SIG_IGN)

    def maybe_promote_master(self) -> None:
        """Checked at every turn of the arbiter's loop: outliving ``serve`` (killed
        outright), it stops, and its workers with it."""
        if os.getppid() != self.parent:
            raise StopIteration


def _quiet_worker(_worker: Worker) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # as the arbiter's


class _Log(glogging.Logger):
    """gunicorn's messages through ``serve``'s own log handler (one format, one stream)."""

    def setup(self, cfg: Config) -> None:
        super().setup(cfg)
        self.error_log.handlers.clear()
        self.error_log.propagate = True
