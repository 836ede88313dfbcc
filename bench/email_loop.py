"""End to end through a real ``listbridge serve``: from the gateway's 250 to the copies.

    python bench/email_loop.py --members 1000 --posts 5

What a member feels: a post is sent by SMTP to a running server (SQLite, loopback), and
the clock runs from the moment the gateway answers 250 to the sink's acceptance of the
first and of the last personal copy. The sink's raw acceptance rate for plain
one-recipient messages is measured first, in the same run, and the fan-out rate is
reported as a ratio to it (machines differ; ratios travel).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import smtplib
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from fanout import BODY, SinkCounters, baseline, free_port, run_sink

DOMAIN = "lists.bench.example"


def write_config(workdir: Path, smtp_port: int, web_port: int, sink_port: int, extra: str = "") -> Path:
    """A site on SQLite in ``workdir`` with loopback ports; ``extra`` adds TOML sections."""
    config = workdir / "listbridge.toml"
    config.write_text(f"""
[site]
base_url = "http://127.0.0.1:{web_port}"
mail_domain = "{DOMAIN}"
secret_key = "bench-secret-key-0123456789abcdef"
[database]
url = "sqlite:///{workdir / 'lb.db'}"
[storage]
path = "{workdir / 'storage'}"
[smtp_in]
port = {smtp_port}
[smtp_out]
port = {sink_port}
[web]
port = {web_port}
[logging]
level = "WARNING"
{extra}""")
    return config


def cli(config: Path, *args: str) -> None:
    subprocess.run([sys.executable, "-m", "listbridge", "--config", str(config), *args], check=True,
                   capture_output=True)


def wait_listening(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("listbridge serve exited at start")
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("listbridge serve did not listen within 30 s")


def post(port: int, n: int) -> float:
    """Send post ``n`` as member 0; return the wall-clock time of the 250."""
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
        client.sendmail("m0@members.example", [f"bench@{DOMAIN}"], (
            f"From: Member 0 <m0@members.example>\r\nTo: bench@{DOMAIN}\r\nSubject: Post {n}\r\n"
            f"Message-ID: <post{n}.{time.time()}@members.example>\r\n\r\n" + BODY.replace("\n", "\r\n") + "\r\n"
        ).encode())
        return time.time()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--posts", type=int, default=5)
    args = parser.parse_args()
    ctx = mp.get_context("spawn")
    sink = SinkCounters.create(ctx)
    sink_port, ready = free_port(), ctx.Event()
    sink_proc = ctx.Process(target=run_sink, args=(sink_port, sink, ready), daemon=True)
    sink_proc.start()
    ready.wait(30)
    raw = baseline(ctx, sink_port, sink, sink_proc.pid, args.members)

    workdir = Path(tempfile.mkdtemp(prefix="lb-bench-"))
    smtp_port = free_port()
    config = write_config(workdir, smtp_port, free_port(), sink_port)
    cli(config, "init")
    cli(config, "community", "create", "bench", "--name", "Bench")
    members = workdir / "members.csv"
    members.write_text("email\n" + "".join(f"m{i}@members.example\n" for i in range(args.members)))
    cli(config, "member", "import", "bench", str(members))
    serve = subprocess.Popen([sys.executable, "-m", "listbridge", "--config", str(config), "serve"])
    try:
        wait_listening(smtp_port, serve)
        copies = args.members - 1
        firsts, totals = [], []
        for n in range(args.posts):
            base = sink.reset()
            t250 = post(smtp_port, n)
            sink.wait_for(base + copies, timeout=600)
            firsts.append(sink.first.value - t250)
            totals.append(sink.last.value - t250)
            print(f"post {n + 1}/{args.posts}: first copy {firsts[-1] * 1000:.0f} ms after the 250, "
                  f"all {copies} in {totals[-1]:.2f} s", flush=True)
    finally:
        serve.terminate()
        serve.wait(30)
        sink_proc.terminate()
    rate = copies / statistics.median(totals)
    print(f"\nmembers: {args.members}, posts: {args.posts}")
    print(f"250 -> first copy: median {statistics.median(firsts) * 1000:.0f} ms, max {max(firsts) * 1000:.0f} ms "
          f"(goal < 100 ms; GNU Mailman 3 here: 1.3-2.1 s)")
    print(f"250 -> last copy: median {statistics.median(totals):.2f} s = {rate:.0f} copies/s")
    print(f"baseline: {raw.rate:.0f} raw msgs/s from 4 smtplib processes, same sink")
    print(f"ratio: {rate / raw.rate:.2f} (goal >= 0.5; GNU Mailman 3 personalized here: ~0.03)")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
