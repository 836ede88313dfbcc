"""The web archive inside ``listbridge serve``: waitress, in this process or in several.

waitress is a production-quality pure-Python WSGI server, so the embedded default needs
no other process; a large site can run the same app under gunicorn (``web.wsgi``).

Python runs one thread at a time, so one process serves pages on one core at most. With
``[web] processes`` above one (the default is one per core), this process opens the
listening socket, builds the app (the runtime mounts what it needs on it first) and forks
a *launcher*, which forks that many servers, each running waitress on the shared socket,
as gunicorn's pre-fork workers do; the kernel hands each connection to one of them. A
server's commits that queue outbox work (a web post's copies) are announced to this
process over a pipe and announced again here, as a page served here announces its own.

Forking is safe only before other threads run: a lock some thread holds at that moment
(SQLite's own, inside a query) stays held forever in the child, and its first query
hangs. So :meth:`WebServer.fork_servers` must come before ``listbridge serve`` starts any thread,
and the launcher, which never starts one, is what replaces a server that dies.
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
from waitress import wasyncore
from waitress.server import create_server

from forum import outbox_signal
from forum.config import Settings
from forum.health import Health
from listbridge.forking import fork, quiet_signals
from listbridge.health_board import HealthBoard
from web import create_app

log = logging.getLogger(__name__)
# Request threads per process. On SQLite only one of them runs a view at a time
# (SerialViews); the others wait in line, or stream a long download (an mbox) meanwhile.
THREADS = 4
SUPERVISE_SECONDS = 0.5  # how often the launcher checks on its servers and its parent
STOP_SECONDS = 10.0


class SerialViews:
    """WSGI middleware: the app reads one page at a time in this process, in turn.

    On SQLite a page is all CPU work in this process, and Python runs one thread at a time:
    threads computing pages at once only take turns at the interpreter lock, which SQLite
    gives up at every row it reads, so each turn is a handover between threads. With 16
    clients on two cores that overhead was a third of a search's CPU (bench/archive.py:
    13.6 ms a search with four threads computing, 9.8 ms with one), and every page waited
    on every other. In turn, each page is computed at full speed and the others wait in
    line for it, which is shorter. The lock covers building the response, not sending it:
    a body streamed from a generator (an mbox download) or a file is produced outside it,
    beside the next page. Only reading requests (GET, HEAD) take turns: a form posted may
    wait for SQLite's write lock (another process writing a post and its copies), and the
    pages behind it must not wait with it. (On PostgreSQL a page spends part of its time
    waiting for the database server, which another thread's page can use, so threads run
    pages at once: 25 % more searches a second than in turn.)
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
    def __init__(self, settings: Settings,
                 services: Callable[[], Mapping[str, Health]] | None = None) -> None:
        self.settings = settings
        self.processes = server_processes(settings)
        self.launcher = 0
        self.app: Flask = create_app(settings, services)
        self._services = services
        if self.processes == 1:
            self.server: Any = self._waitress(host=settings.web.host, port=settings.web.port)
            self.thread = threading.Thread(target=self.server.run, name="web", daemon=True)
            return
        family = socket.AF_INET6 if ":" in settings.web.host else socket.AF_INET
        self.socket = socket.create_server((settings.web.host, settings.web.port), family=family, backlog=1024)
        self.socket.setblocking(False)
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_write, False)
        self._board = HealthBoard()
        self._stopping = threading.Event()
        self.thread = threading.Thread(target=self._relay_wakes, name="web-wakes", daemon=True)

    def _waitress(self, **where: Any) -> Any:
        # Forwarded headers are the app's business (ProxyFix, [web] trusted_proxies): waitress
        # drops them only when no proxy is trusted, so a client cannot forge its address.
        app = SerialViews(self.app) if self.settings.database.url.startswith("sqlite") else self.app
        return create_server(app, threads=THREADS, ident="listbridge",
                             clear_untrusted_proxy_headers=not self.settings.web.trusted_proxies, **where)

    @property
    def address(self) -> tuple[str, int]:
        if self.processes == 1:
            return self.server.effective_host, self.server.effective_port
        host, port = self.socket.getsockname()[:2]
        return host, port

    def _tell_home(self) -> None:
        """In a forked server, after a commit that queued outbox work: tell this process."""
        with contextlib.suppress(BlockingIOError):  # the pipe is full of announcements already
            os.write(self._wake_write, b"!")

    def fork_servers(self) -> None:
        """With several processes, fork them (they serve at once): call it before any
        other thread is started. With one, nothing to do."""
        if self.processes == 1 or self.launcher:
            return
        # What exists now is shared with the servers until written to; kept out of the
        # garbage collector's sight, its pages are not copied into each of them.
        gc.freeze()
        if threading.active_count() > 1:
            log.warning("forking web servers while %d other thread(s) run: a server may hang",
                        threading.active_count() - 1)
        self.launcher = fork(self._launch)

    def start(self) -> None:
        """Serve (forking the servers first if :meth:`fork_servers` has not)."""
        self.fork_servers()
        self.thread.start()
        host, port = self.address
        log.info("web archive on http://%s:%s/ (%d process%s)", host, port, self.processes,
                 "" if self.processes == 1 else "es")

    def stop(self, timeout: float = STOP_SECONDS) -> None:
        """Stop accepting, let the requests being served finish, and end the server(s)."""
        if self.processes == 1:
            self.server.close()
            self.server.task_dispatcher.shutdown(timeout=timeout)
            wasyncore.close_all(self.server._map)
            self.thread.join(timeout)
            return
        self._stopping.set()
        self.thread.join(timeout)
        os.kill(self.launcher, signal.SIGTERM)  # not reaped yet, so the id is still the launcher's
        # It waits for its servers, each finishing within its own STOP_SECONDS; a launcher
        # that does not end by then is killed, and its servers end as orphans.
        deadline = time.monotonic() + 2 * STOP_SECONDS
        while not os.waitpid(self.launcher, os.WNOHANG)[0]:
            if time.monotonic() > deadline:
                log.error("the web servers' launcher did not stop; killing it")
                os.kill(self.launcher, signal.SIGKILL)
                os.waitpid(self.launcher, 0)
                break
            time.sleep(0.05)
        self.socket.close()
        os.close(self._wake_read)
        os.close(self._wake_write)

    # Pre-forked servers ---------------------------------------------------------------------

    def _relay_wakes(self) -> None:
        """Here: announce the outbox work a server says it committed, as if committed here;
        and keep the servers' view of this process's services current."""
        while not self._stopping.is_set():
            if self._services is not None:
                self._board.post(self._services())
            ready, _, _ = select.select([self._wake_read], [], [], SUPERVISE_SECONDS)
            if ready:
                os.read(self._wake_read, 4096)
                outbox_signal.announce()

    def _launch(self) -> None:
        """The launcher: fork the servers, replace one that dies, and on SIGTERM stop them
        all. Single-threaded, so forking here is always safe; it ends with its parent."""
        # A plain flag: a handler that takes a lock (Event.set) can deadlock on the lock the
        # interrupted code holds (Event.wait).
        stopping: list[bool] = []
        signal.signal(signal.SIGTERM, lambda _signum, _frame: stopping.append(True))
        quiet_signals()
        parent = os.getppid()
        servers = {fork(self._serve) for _ in range(self.processes)}
        while not stopping and os.getppid() == parent:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid in servers:
                servers.discard(pid)
                log.error("web server process %d ended (exit status %d); starting another", pid,
                          os.waitstatus_to_exitcode(status))
                servers.add(fork(self._serve))
            elif not pid:
                time.sleep(SUPERVISE_SECONDS)
        for pid in servers:
            os.kill(pid, signal.SIGTERM)
        for pid in servers:
            os.waitpid(pid, 0)

    def _serve(self) -> None:
        """A forked server: waitress on the shared socket until SIGTERM, then finish what it
        is serving."""

        def end(_signum: int, _frame: object) -> None:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once: the rest is finishing up
            raise _Stopped

        # First of all: until then the launcher's handler is inherited. Stopped before it
        # serves, the exception ends the process (see forking.fork); while serving, it finishes.
        signal.signal(signal.SIGTERM, end)
        quiet_signals()
        # The services are its parent's: it tells the parent of new work, and reports the
        # parent's services as the parent last posted them.
        outbox_signal.subscribe(self._tell_home)
        if self._services is not None:
            self.app.extensions["listbridge"] = replace(self.app.extensions["listbridge"], services=self._board.read)
        server = self._waitress(sockets=[self.socket])
        threading.Thread(target=_exit_when_orphaned, args=(os.getppid(),), daemon=True).start()
        with contextlib.suppress(_Stopped):
            server.run()
        server.close()
        server.task_dispatcher.shutdown(timeout=STOP_SECONDS)


class _Stopped(Exception):
    """SIGTERM in a forked server."""


def _exit_when_orphaned(parent: int) -> None:
    """A server outliving its launcher (killed outright) ends too."""
    while os.getppid() == parent:
        threading.Event().wait(1.0)
    os._exit(0)
