"""End to end through real ``listbridge serve`` processes: from the gateway's 250 to the copies.

    python bench/email_loop.py --members 1000 --posts 5
    python bench/email_loop.py --members 10000 --posts 2 --workers 4 --database-url URL
    python bench/email_loop.py --members 1000 --posts 1 --mailman-harness DIR

What a member feels: a post is sent by SMTP to a running site (SQLite by default, or a
fresh PostgreSQL database with ``--database-url``), and the clock runs from the moment the
gateway answers 250 to the sink's acceptance of the first and of the last personal copy.
The site is one whole ``listbridge serve``, or with ``--workers N`` one ``serve --only
gateway`` and N ``serve --only worker`` processes sharing the database. A PostgreSQL URL
(``postgresql+psycopg://USER:PASSWORD@HOST/DATABASE``) names a database of its own: it is
dropped and created anew. The sink's raw acceptance rate for as many plain one-recipient
messages is measured first, in the same run, and the fan-out rate is reported as a ratio
to it (machines differ; ratios travel).

``--mailman-harness DIR`` then runs GNU Mailman 3 (from PyPI, in a virtualenv of its own)
on the same member and post counts through the harness in DIR (see bench/README.md), and
prints the two side by side.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import smtplib
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import mailman_side
from served import DOMAIN, Serving, cli, fresh_database, import_members, wait_listening, write_config
from smtpsink import BODY, SENDERS, Sink, baseline, cpu_seconds, free_port, running_sink


def post(port: int, n: int) -> float:
    """Send post ``n`` as member 0; return the wall-clock time of the 250."""
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
        client.sendmail(
            "m0@members.example",
            [f"bench@{DOMAIN}"],
            (
                f"From: Member 0 <m0@members.example>\r\nTo: bench@{DOMAIN}\r\nSubject: Post {n}\r\n"
                f"Message-ID: <post{n}.{time.time()}@members.example>\r\n\r\n" + BODY.replace("\n", "\r\n") + "\r\n"
            ).encode(),
        )
        return time.time()


@dataclass(frozen=True)
class Loop:
    copies: int  # per post
    firsts: list[float]  # seconds from the 250 to the first copy, per post
    totals: list[float]  # seconds from the 250 to the last copy, per post
    cpu: float  # CPU seconds of the serve processes over all posts

    @property
    def rate(self) -> float:
        return self.copies / statistics.median(self.totals)


def run_loop(sink: Sink, workdir: Path, args: argparse.Namespace) -> Loop:
    smtp_port = free_port()
    config = write_config(
        workdir, smtp_port, free_port(), sink.port, database_url=fresh_database(args.database_url, workdir)
    )
    cli(config, "init")
    cli(config, "community", "create", "bench", "--name", "Bench")
    import_members(config, workdir, "bench", [f"m{i}@members.example" for i in range(args.members)])
    role_sets = [("gateway",)] + [("worker",)] * args.workers if args.workers else [()]
    copies = args.members - 1
    firsts, totals = [], []
    with Serving(config, role_sets) as serving:
        wait_listening(smtp_port, serving.procs[0])
        time.sleep(1 + args.workers)  # workers listening for the gateway's notifications
        cpu = sum(cpu_seconds(pid) for pid in serving.pids)
        for n in range(args.posts):
            base = sink.counters.reset()
            t250 = post(smtp_port, n)
            sink.counters.wait_for(base + copies, timeout=900, progress=f"post {n + 1}")
            firsts.append(sink.counters.first.value - t250)
            totals.append(sink.counters.last.value - t250)
            print(
                f"post {n + 1}/{args.posts}: first copy {firsts[-1] * 1000:.0f} ms after the 250, "
                f"all {copies:,} in {totals[-1]:.2f} s",
                flush=True,
            )
        cpu = sum(cpu_seconds(pid) for pid in serving.pids) - cpu
    return Loop(copies, firsts, totals, cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--posts", type=int, default=5)
    parser.add_argument("--database-url", help="a PostgreSQL database to create afresh (default: SQLite)")
    parser.add_argument(
        "--workers", type=int, default=0, help="run a gateway and this many worker processes (default: one whole serve)"
    )
    parser.add_argument(
        "--mailman-harness",
        type=Path,
        metavar="DIR",
        help="then run GNU Mailman 3 on the same counts with the harness in DIR",
    )
    args = parser.parse_args()
    ctx = mp.get_context("spawn")
    with running_sink(ctx) as sink, tempfile.TemporaryDirectory(prefix="lb-bench-") as tmp:
        raw = baseline(ctx, sink, args.members)
        loop = run_loop(sink, Path(tmp), args)
    shape = f"1 gateway + {args.workers} worker processes" if args.workers else "one serve process"
    database = "PostgreSQL" if args.database_url else "SQLite"
    first = statistics.median(loop.firsts)
    print(f"\nmembers: {args.members:,}, posts: {args.posts}, {database}, {shape}")
    print(f"250 -> first copy: median {first * 1000:.0f} ms, max {max(loop.firsts) * 1000:.0f} ms (goal < 100 ms)")
    print(
        f"250 -> last copy: median {statistics.median(loop.totals):.2f} s = {loop.rate:.0f} copies/s; "
        f"listbridge CPU {loop.cpu / (loop.copies * args.posts) * 1000:.2f} ms per copy"
    )
    print(f"baseline: {raw.rate:.0f} raw msgs/s from {SENDERS} smtplib processes, same sink")
    print(f"ratio: {loop.rate / raw.rate:.2f} (goal >= 0.5)")
    if args.mailman_harness:
        mailman = mailman_side.run(args.mailman_harness, args.members, args.posts)
        print(
            f"\nGNU Mailman 3 (personalized, VERP), {args.members:,} members x {args.posts} post(s): "
            f"{mailman.copies_per_s:.1f} copies/s, first copy {mailman.first_copy:.2f} s after the 250"
        )
        print(
            f"  its sink's raw rate: {mailman.sink_rate:.0f} msgs/s -> "
            f"ratio {mailman.copies_per_s / mailman.sink_rate:.3f}"
        )
        print(
            f"listbridge / Mailman: {loop.rate / mailman.copies_per_s:.0f}x the copies/s, "
            f"first copy {mailman.first_copy / first:.0f}x sooner"
        )


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
