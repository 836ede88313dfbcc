"""How a process that queued outbox work wakes delivery workers in other processes.

Within a process, commits are announced by :mod:`forum.outbox_signal`; this carries the
announcement across processes.

On PostgreSQL a committing process sends ``NOTIFY listbridge_outbox`` and worker processes
``LISTEN`` for it, so a worker on another machine starts within milliseconds; a lost
notification costs a worker one polling period. SQLite has no such thing: workers in
other processes poll.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy import Engine, make_url, text

log = logging.getLogger("listbridge.serve")
NOTIFY_CHANNEL = "listbridge_outbox"
LISTEN_RETRY_SECONDS = 5.0
_NOTIFY = text(f"SELECT pg_notify('{NOTIFY_CHANNEL}', '')")


class OutboxNotifier:
    """On PostgreSQL, tells delivery workers in *other* processes that the outbox has rows.

    ``notify()`` is safe from any thread and never blocks: a thread of its own sends one
    ``NOTIFY`` per burst of commits. A lost notification costs a worker one polling period.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._pending = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="outbox-notify", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def notify(self) -> None:
        self._pending.set()

    def _run(self) -> None:
        while True:
            self._pending.wait()
            self._pending.clear()
            if self._stopping.is_set():
                return
            try:
                with self.engine.connect() as conn:
                    conn.execute(_NOTIFY)
                    conn.commit()
            except Exception:
                log.exception("notifying delivery workers failed; they will find the rows by polling")

    def stop(self) -> None:
        self._stopping.set()
        self._pending.set()
        self._thread.join(5)


class OutboxListener:
    """On PostgreSQL, wakes this process's workers when another process notifies."""

    def __init__(self, url: str, wake: Callable[[], None]) -> None:
        self.url = url
        self.wake = wake
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="outbox-listen", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        import psycopg  # only PostgreSQL deployments listen

        dsn = make_url(self.url).set(drivername="postgresql").render_as_string(hide_password=False)
        while not self._stopping.is_set():
            try:
                with psycopg.connect(dsn, autocommit=True) as conn:
                    conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    self.wake()  # whatever was queued while not listening
                    while not self._stopping.is_set():
                        if any(True for _ in conn.notifies(timeout=0.5)):
                            self.wake()
            except Exception as exc:  # noqa: BLE001 - any failure: poll, and listen again later
                log.warning("listening for outbox notifications failed (%s); polling meanwhile", exc)
                self._stopping.wait(LISTEN_RETRY_SECONDS)

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(5)
