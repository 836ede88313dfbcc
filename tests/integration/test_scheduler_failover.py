"""The digest scheduler across processes: two ``listbridge serve --only scheduler``
processes on one database run one schedule between them, and when the one running it is
killed outright (SIGKILL: no handler runs, nothing is released by hand) the other takes
over. Real processes, on SQLite (a file lock beside the database) and on PostgreSQL (an
advisory lock held by a connection)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from digest.scheduler import STANDBY_SECONDS
from tests.head_schema import copy_head_schema
from tests.integration.served import ServedSite

pytestmark = pytest.mark.integration

STARTED = "digest scheduler started"
STANDING_BY = "digest scheduler on standby"


class Scheduler(ServedSite):
    """``listbridge serve --only scheduler``."""

    def launch(self) -> None:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "listbridge", "--config", str(self.config), "serve", "--only", "scheduler"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def wait_for(self, line: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while line not in self.log():
            assert self.proc is not None
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"no {line!r} in the log within {timeout:g} s:\n{self.log()}")
            time.sleep(0.1)


def test_one_process_runs_the_schedule_and_another_takes_over_when_it_is_killed(db_url: str, tmp_path: Path) -> None:
    pair = []
    for name in ("first", "second"):
        (tmp_path / name).mkdir()
        pair.append(Scheduler(tmp_path / name, db_url, smarthost_port=25))
    first, second = pair
    copy_head_schema(db_url)
    try:
        first.launch()
        first.wait_for(STARTED, 30)
        second.launch()
        second.wait_for(STANDING_BY, 30)
        assert STARTED not in second.log()

        assert first.proc is not None
        first.proc.kill()
        first.proc.wait(10)
        second.wait_for(STARTED, STANDBY_SECONDS + 10)
    finally:
        first.stop()
        code = second.stop()
    assert code == 0, second.log()
