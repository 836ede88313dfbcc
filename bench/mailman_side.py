"""GNU Mailman 3 on the same counts, for the side-by-side figure of ``email_loop.py``.

The harness directory holds ``mailman_fanout.sh``: it installs GNU Mailman 3 from PyPI
into a virtualenv of its own, runs its real runner processes against an aiosmtpd sink of
the same kind as ours (accepts and discards), measures that sink's raw rate first, and
writes its results as JSON. Mailman is run in its personalized mode (a copy per member
with a VERP envelope sender), the one comparable to listbridge's personal copies.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class MailmanRun:
    copies_per_s: float
    first_copy: float  # seconds from the last post's 250 to the sink's first copy
    sink_rate: float  # the harness's sink, plain one-recipient messages, same run


def run(harness: Path, members: int, posts: int) -> MailmanRun:
    script = harness / "mailman_fanout.sh"
    if not script.exists():
        raise SystemExit(f"no mailman_fanout.sh in {harness}")
    print(
        f"\nGNU Mailman 3: {members:,} members x {posts} post(s), personalized; this takes a while (about 30 copies/s)",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="mm-bench-") as out:
        subprocess.run(
            [
                "bash",
                str(script),
                "--modes",
                "personalized",
                "--scenarios",
                f"{members}x{posts}",
                "--repeat",
                "1",
                "--personalized-repeat",
                "1",
                "--sink-msgs",
                str(members),
                "--latency-samples",
                "3",
                "--digest",
                "",
            ],
            check=True,
            env={**os.environ, "OUT": out},
        )
        results = json.loads(next(Path(out).glob("results-*.json")).read_text())
    scenario = results["fanout"][f"personalized M={members} P={posts}"]
    run_ = scenario["runs"][0]
    if not run_["complete"]:
        raise SystemExit("Mailman did not deliver every copy in time")
    sink = next(s for s in results["sink"] if s["rcpts_per_msg"] == 1)
    return MailmanRun(scenario["rcpts_per_s"], run_["first_delivery_s"] - run_["inject_s"], sink["msgs_per_s"])
