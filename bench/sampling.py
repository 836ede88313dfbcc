"""Where a server process spends its time, by sampling it from outside with py-spy.

A server under load is another process (``listbridge serve``), so cProfile inside this
one sees nothing of it; py-spy reads its stacks without slowing it much. Install it into
the virtualenv (``.venv/bin/pip install py-spy``) to use ``--profile``.
"""

from __future__ import annotations

import collections
import contextlib
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

IDLE = ("select (selectors.py", "_worker (concurrent/futures/thread.py", "wait (threading.py")  # waiting for work


@contextlib.contextmanager
def sampled(pid: int, output: Path) -> Iterator[None]:
    """Sample every thread of ``pid`` (100 Hz, idle threads left out) while inside."""
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if spy is None:
        raise SystemExit("--profile needs py-spy: .venv/bin/pip install py-spy")
    proc = subprocess.Popen(
        [
            spy,
            "record",
            "--pid",
            str(pid),
            "--format",
            "raw",
            "--rate",
            "100",
            "--output",
            str(output),
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(60)


def summary(collapsed: Path, top: int = 12) -> str:
    """Shares of the busy samples: the functions with most own time, and with most time
    inclusive of what they call (project code only, the rest is how it gets there)."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    busy = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if not count.isdigit() or any(idle in frames[-1] for idle in IDLE):
            continue
        n = int(count)
        busy += n
        own[_name(frames[-1])] += n
        for name in {_name(f) for f in frames if _ours(f)}:
            inclusive[name] += n
    if not busy:
        return "  (no busy samples)"
    lines = [f"  {busy} busy samples; most own time:"]
    lines += [f"    {100 * n / busy:5.1f}%  {name}" for name, n in own.most_common(top)]
    lines.append("  most time in project code, inclusive:")
    lines += [f"    {100 * n / busy:5.1f}%  {name}" for name, n in inclusive.most_common(top)]
    return "\n".join(lines)


def _name(frame: str) -> str:
    """``func (path/to/file.py:12)`` -> ``file.py:func``."""
    func, _, where = frame.partition(" (")
    return f"{Path(where.split(':')[0]).name}:{func}"


def _ours(frame: str) -> bool:
    return (
        any(f"{package}/" in frame for package in ("forum", "mailgateway", "digest", "listbridge", "bridges"))
        and "site-packages" not in frame
    )
