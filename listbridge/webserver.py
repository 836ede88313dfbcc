"""The web archive inside ``listbridge serve``: waitress on a thread of its own.

waitress is a production-quality pure-Python WSGI server, so the embedded default needs
no other process; a large site can run the same app under gunicorn (``web.wsgi``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from waitress import wasyncore
from waitress.server import create_server

from forum.config import Settings
from web import create_app

log = logging.getLogger(__name__)


class WebServer:
    # Request threads: Python runs one at a time (the GIL) and SQLite releases it only while
    # it reads, so a few threads keep two cores busy; more only share the CPU out and
    # stretch every request's latency (bench/archive.py: same throughput, lower p95 at 4).
    def __init__(self, settings: Settings, on_committed: Callable[[], None], threads: int = 4) -> None:
        self.app = create_app(settings, on_committed)
        # Forwarded headers are the app's business (ProxyFix, [web] trusted_proxies): waitress
        # drops them only when no proxy is trusted, so a client cannot forge its address.
        self.server: Any = create_server(self.app, host=settings.web.host, port=settings.web.port, threads=threads,
                                         ident="listbridge",
                                         clear_untrusted_proxy_headers=not settings.web.trusted_proxies)
        self.thread = threading.Thread(target=self.server.run, name="web", daemon=True)

    def start(self) -> None:
        self.thread.start()
        log.info("web archive on http://%s:%s/", self.server.effective_host, self.server.effective_port)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop accepting, let the request threads finish, and end the server loop."""
        self.server.close()
        self.server.task_dispatcher.shutdown(timeout=timeout)
        wasyncore.close_all(self.server._map)
        self.thread.join(timeout)
