"""The web archive under load: thread pages and searches on a large archive, 16 clients.

    python bench/archive.py --data DIR [--posts 1000000] [--clients 16] [--requests 40] [--profile]
    python bench/archive.py --database URL [--posts …]      # PostgreSQL, or SQLite elsewhere

Generates the archive once (bench/generate_archive.py; kept in DIR or in the database at
URL, so reruns start at once), runs a real ``listbridge serve`` on it (web role as
configured by default: ``[web] processes``, unless ``--processes`` says otherwise; loopback)
and sends it, from 16 client processes with keep-alive ``http.client`` connections, in turn:

1. the baseline: ``/static/style.css``, the cheapest thing the server answers — the floor
   that the web server, the network stack and the clients themselves set on this machine;
2. thread pages of randomly chosen threads (1–30 posts) of public communities, every
   request a full page (no conditional GET: each thread is asked for at random, as
   readers arriving from links and search engines do);
3. searches for one or two words, common, middling and rare, site-wide and within a
   community, by an anonymous visitor (so private communities are filtered out).

Each phase is bounded in requests per client and in time. It prints median and p95
latency and throughput, each as a ratio to the baseline, and the server's memory, all its
processes together: resident (RSS, which counts pages forked servers share once per
process) and proportional (PSS, shared pages divided among the processes sharing them),
now and at peak. ``--profile`` samples the server with py-spy during the thread and
search phases (``pip install py-spy``) and prints the hottest functions.
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing as mp
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVarTuple
from urllib.parse import quote_plus

from generate_archive import generate_from, scale_arguments
from served import wait_listening
from smtpsink import children, cpu_seconds, free_port
from sqlalchemy import Engine, Row, Select, func, select, text
from sqlalchemy.orm import InstrumentedAttribute

from forum.db import make_engine
from forum.models import Community, Post, Thread, Visibility

Ts = TypeVarTuple("Ts")
PHASE_SECONDS = 60.0  # no phase runs longer, however slow the server


@dataclass(frozen=True)
class Phase:
    name: str
    paths: list[str]


@dataclass(frozen=True)
class Result:
    name: str
    latencies: list[float]  # seconds
    errors: int
    wall: float
    server_cpu: float  # seconds of CPU the server's processes used during the phase

    @property
    def cpu_ms(self) -> float:
        """Server CPU per answered request."""
        return self.server_cpu / max(len(self.latencies), 1) * 1000

    @property
    def median_ms(self) -> float:
        return statistics.median(self.latencies) * 1000

    @property
    def p95_ms(self) -> float:
        return statistics.quantiles(self.latencies, n=20)[-1] * 1000

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.wall


def write_config(workdir: Path, database_url: str, web_port: int, processes: int | None) -> Path:
    config = workdir / "listbridge.toml"
    chosen = f"processes = {processes}" if processes is not None else ""
    config.write_text(f"""
[site]
base_url = "http://127.0.0.1:{web_port}"
mail_domain = "lists.bench.example"
secret_key = "bench-secret-key-0123456789abcdef"
[database]
url = "{database_url}"
[storage]
path = "{workdir / "storage"}"
[smtp_in]
port = {free_port()}
[smtp_out]
port = {free_port()}
[web]
port = {web_port}
{chosen}
[logging]
level = "WARNING"
""")
    return config


# Clients ----------------------------------------------------------------------------------


def client(port: int, paths: list[str], deadline: float, out: mp.Queue) -> None:
    """One client: its share of the paths over one keep-alive connection, until the deadline."""
    latencies, errors = [], 0
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for path in paths:
        if time.time() > deadline:
            break
        start = time.perf_counter()
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            ok = response.status == 200
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            ok = False
        if ok:
            latencies.append(time.perf_counter() - start)
        else:
            errors += 1
    conn.close()
    out.put((latencies, errors))


def run_phase(port: int, server: int, phase: Phase, clients: int) -> Result:
    ctx = mp.get_context("fork")
    cpu = server_cpu_seconds(server)
    out: mp.Queue = ctx.Queue()
    deadline = time.time() + PHASE_SECONDS
    shares = [phase.paths[i::clients] for i in range(clients)]
    procs = [ctx.Process(target=client, args=(port, share, deadline, out)) for share in shares]
    start = time.perf_counter()
    for proc in procs:
        proc.start()
    gathered = [out.get(timeout=PHASE_SECONDS + 60) for _ in procs]
    wall = time.perf_counter() - start
    for proc in procs:
        proc.join()
    latencies = [x for part, _ in gathered for x in part]
    return Result(phase.name, latencies, sum(errors for _, errors in gathered), wall, server_cpu_seconds(server) - cpu)


# What to ask for --------------------------------------------------------------------------


def _random_rows(
    engine: Engine, query: Select[*Ts], key: InstrumentedAttribute[int], count: int, rng: random.Random
) -> list[Row[*Ts]]:
    """``count`` rows of ``query``, each the first at or after a random value of ``key`` (an id)."""
    with engine.connect() as conn:
        top = conn.scalar(select(func.max(key))) or 1
        return [
            conn.execute(query.where(key >= rng.randint(1, top)).order_by(key).limit(1)).one() for _ in range(count)
        ]


def thread_paths(engine: Engine, count: int, rng: random.Random) -> list[str]:
    query = (
        select(Thread.id, Community.slug)
        .join(Community, Community.id == Thread.community_id)
        .where(Community.visibility == Visibility.public)
    )
    return [f"/c/{slug}/t/{thread_id}" for thread_id, slug in _random_rows(engine, query, Thread.id, count, rng)]


def search_paths(engine: Engine, count: int, rng: random.Random) -> list[str]:
    """Queries of one or two words from across the frequency range, a third of them within
    the community the first word came from."""
    query = (
        select(Post.body, Community.slug)
        .join(Community, Community.id == Post.community_id)
        .where(Community.visibility == Visibility.public)
    )
    paths = []
    for body, slug in _random_rows(engine, query, Post.id, count, rng):
        words = [w.strip(".").lower() for w in body.split()]
        query_text = " ".join(rng.sample(words, rng.choice((1, 1, 2))))
        scope = f"&community={slug}" if rng.random() < 1 / 3 else ""
        paths.append(f"/search?q={quote_plus(query_text)}{scope}")
    return paths


def archive_size(engine: Engine) -> str:
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            size = conn.scalar(text("SELECT pg_database_size(current_database())"))
        else:
            pages = conn.exec_driver_sql("PRAGMA page_count").scalar() or 0
            size = pages * (conn.exec_driver_sql("PRAGMA page_size").scalar() or 0)
    return f"{size / 2**20:,.0f} MiB"


# The server -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Memory:
    """Of a process and its children, in KiB: resident now and at peak, proportional now."""

    rss: int
    peak: int
    pss: int

    @classmethod
    def of(cls, pid: int) -> Memory:
        pids = [pid, *_descendants(pid)]
        status = [_fields(Path(f"/proc/{p}/status")) for p in pids]
        pss = sum(int(_fields(Path(f"/proc/{p}/smaps_rollup"))["Pss"].split()[0]) for p in pids)
        return cls(
            sum(int(s["VmRSS"].split()[0]) for s in status), sum(int(s["VmHWM"].split()[0]) for s in status), pss
        )

    def __str__(self) -> str:
        return f"RSS {self.rss / 1024:.0f} MiB (peak {self.peak / 1024:.0f}), PSS {self.pss / 1024:.0f} MiB"


def server_cpu_seconds(pid: int) -> float:
    """User and system CPU time of the server and its forked web workers so far."""
    return sum(cpu_seconds(p) for p in [pid, *_descendants(pid)])


def _descendants(pid: int) -> list[int]:
    """Children and their children: the web workers are forked by gunicorn's arbiter, which the server forked."""
    return [grand for child in children(pid) for grand in (child, *_descendants(child))]


def _fields(path: Path) -> dict[str, str]:
    return dict(line.split(":", 1) for line in path.read_text().splitlines() if ":" in line)


def start_profiler(pid: int, output: Path) -> subprocess.Popen[bytes] | None:
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        print("--profile needs py-spy (pip install py-spy); running without it")
        return None
    return subprocess.Popen(
        [
            spy,
            "record",
            "--pid",
            str(pid),
            "--subprocesses",
            "--format",
            "raw",
            "--output",
            str(output),
            "--nonblocking",
            "--rate",
            "200",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def print_profile(output: Path, top: int = 25) -> None:
    """The functions most often on the stack while handling requests (py-spy raw stacks)."""
    inclusive: Counter[str] = Counter()
    samples = 0
    for line in output.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if "wsgi_app" not in stack and "handle_request" not in stack:
            continue  # idle threads waiting for work, the server's own loop
        samples += int(count)
        for frame in set(stack.split(";")):
            inclusive[frame] += int(count)
    print(f"\nprofile: {samples} busy samples; share of them each function was on the stack:")
    for frame, hits in inclusive.most_common(top):
        print(f"  {hits / max(samples, 1):6.1%}  {frame}")


# Main -------------------------------------------------------------------------------------


def report(baseline: Result, result: Result, target_ms: float | None) -> None:
    goal = (
        f"  (target p95 < {target_ms:.0f} ms: {'met' if result.p95_ms < target_ms else 'MISSED'})" if target_ms else ""
    )
    print(
        f"{result.name:<12} {len(result.latencies):>6} ok {result.errors:>3} errors  "
        f"median {result.median_ms:7.1f} ms ({result.median_ms / baseline.median_ms:5.1f}×)  "
        f"p95 {result.p95_ms:7.1f} ms ({result.p95_ms / baseline.p95_ms:5.1f}×)  "
        f"{result.rate:7.1f} req/s ({result.rate / baseline.rate:.2f}×)  "
        f"server CPU {result.cpu_ms:5.1f} ms/req{goal}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    scale_arguments(parser)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=40, help="Requests per client and phase.")
    parser.add_argument("--processes", type=int, help="[web] processes for the server (default: its default).")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()

    generated = generate_from(args)
    engine = make_engine(generated.url)
    made = f"generated in {generated.seconds:.0f} s" if generated.seconds else "generated earlier, reused"
    print(
        f"archive: {args.posts:,} posts, {args.communities:,} communities, {args.users:,} people "
        f"on {engine.dialect.name} ({archive_size(engine)}, {made})"
    )

    rng = random.Random(7)
    total = args.clients * args.requests
    phases = [
        Phase("static file", ["/static/style.css"] * total),
        Phase("thread page", thread_paths(engine, total, rng)),
        Phase("search", search_paths(engine, total, rng)),
    ]
    engine.dispose()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        port = free_port()
        config = write_config(workdir, generated.url, port, args.processes)
        log = (workdir / "serve.log").open("wb")
        server = subprocess.Popen(
            [sys.executable, "-m", "listbridge", "--config", str(config), "serve"], stdout=log, stderr=subprocess.STDOUT
        )
        try:
            wait_listening(port, server)
            run_phase(port, server.pid, Phase("warm-up", phases[1].paths[:64] + phases[2].paths[:64]), args.clients)
            started = Memory.of(server.pid)
            profiler = start_profiler(server.pid, workdir / "profile.txt") if args.profile else None
            results = [run_phase(port, server.pid, phase, args.clients) for phase in phases]
            if profiler:
                profiler.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
                profiler.wait(timeout=60)
            after = Memory.of(server.pid)
            processes = 1 + len(_descendants(server.pid))
        finally:
            server.terminate()
            server.wait(timeout=30)
        baseline, threads, searches = results
        print(
            f"{args.clients} concurrent clients, up to {args.requests} requests each per phase; "
            "ratios are to the static file (same run)"
        )
        report(baseline, baseline, None)
        report(baseline, threads, 50)
        report(baseline, searches, 150)
        # Forked servers share most of their pages: summed RSS counts each shared page once
        # per process, PSS once in all, as the machine spends them (and the cgroup of a
        # service counts them). The target is judged by PSS, the larger of the two samples.
        used = max(started.pss, after.pss) * 1024
        print(
            f"server memory ({processes} process{'es' if processes > 1 else ''}): after warm-up {started}; "
            f"after the run {after} (target < 300 MB: {'met' if used < 300e6 else 'MISSED'} "
            f"by PSS, {used / 1e6:.0f} MB)"
        )
        if args.profile and (workdir / "profile.txt").exists():
            print_profile(workdir / "profile.txt")


if __name__ == "__main__":
    main()
