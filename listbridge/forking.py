"""Child processes forked by ``listbridge serve`` (the web archive's gunicorn arbiter).

Forking is safe only while the parent runs no other thread: a lock another thread holds
at that moment (SQLite's own, inside a query) stays held forever in the child. The
runtime forks its children before it starts any thread.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable


def fork(run: Callable[[], None]) -> int:
    """A child process that runs ``run`` and exits, with the status ``sys.exit`` gave it
    if it called it (its own children, forked deeper in ``run``, exit so too); its pid."""
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            run()
            status = 0
        except SystemExit as exc:
            status = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
        finally:
            os._exit(status)  # never run the parent's cleanup (its loop, its connections) twice
    return pid


def quiet_signals() -> None:
    """In a forked process: interrupts are ``listbridge serve``'s to act on (a terminal's
    Ctrl-C reaches the whole process group), and the signal wake-up file descriptor is its
    event loop's."""
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
