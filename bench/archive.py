"""The web archive under load: thread pages and searches on a large archive, 16 clients.

    python bench/archive.py --data DIR [--posts 1000000] [--clients 16] [--requests 40] [--profile]

Generates the archive once (bench/generate_archive.py; kept in DIR, so reruns start at
once), runs a real ``listbridge serve`` on it (waitress, SQLite, loopback) and sends it,
from 16 client processes with keep-alive ``http.client`` connections, in turn:

1. the baseline: ``/static/style.css``, the cheapest thing the server answers — the floor
   that waitress, the network stack and the clients themselves set on this machine;
2. thread pages of randomly chosen threads (1–30 posts);
3. searches for one or two words, common, middling and rare, site-wide and within a
   community.

Each phase is bounded in requests per client and in time. It prints median and p95
latency and throughput, each as a ratio to the baseline, and the server's resident
memory (now and peak). ``--profile`` samples the server with py-spy during the thread
and search phases (``pip install py-spy``) and prints the hottest functions.
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing as mp
import random
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote_plus

from email_loop import free_port, wait_listening
from generate_archive import Scale, generate, scale_arguments

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

    @property
    def median_ms(self) -> float:
        return statistics.median(self.latencies) * 1000

    @property
    def p95_ms(self) -> float:
        return statistics.quantiles(self.latencies, n=20)[-1] * 1000

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.wall


def write_config(workdir: Path, database: Path, web_port: int) -> Path:
    config = workdir / "listbridge.toml"
    config.write_text(f"""
[site]
base_url = "http://127.0.0.1:{web_port}"
mail_domain = "lists.bench.example"
secret_key = "bench-secret-key-0123456789abcdef"
[database]
url = "sqlite:///{database}"
[storage]
path = "{workdir / 'storage'}"
[smtp_in]
port = {free_port()}
[smtp_out]
port = {free_port()}
[web]
port = {web_port}
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


def run_phase(port: int, phase: Phase, clients: int) -> Result:
    ctx = mp.get_context("fork")
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
    return Result(phase.name, latencies, sum(errors for _, errors in gathered), wall)


# What to ask for --------------------------------------------------------------------------


def thread_paths(database: Path, count: int, rng: random.Random) -> list[str]:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        top = db.execute("SELECT max(id) FROM threads").fetchone()[0]
        rows = [db.execute("SELECT t.id, c.slug FROM threads t JOIN communities c ON c.id = t.community_id "
                           "WHERE t.id >= ? ORDER BY t.id LIMIT 1", (rng.randint(1, top),)).fetchone()
                for _ in range(count)]
    return [f"/c/{slug}/t/{thread_id}" for thread_id, slug in rows]


def search_paths(database: Path, count: int, rng: random.Random) -> list[str]:
    """Queries of one or two words from across the frequency range, a third of them within
    the community the first word came from."""
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        top = db.execute("SELECT max(id) FROM posts").fetchone()[0]
        samples = [db.execute("SELECT p.body, c.slug FROM posts p JOIN communities c ON c.id = p.community_id "
                              "WHERE p.id >= ? LIMIT 1", (rng.randint(1, top),)).fetchone() for _ in range(count)]
    paths = []
    for body, slug in samples:
        words = [w.strip(".").lower() for w in body.split()]
        query = " ".join(rng.sample(words, rng.choice((1, 1, 2))))
        scope = f"&community={slug}" if rng.random() < 1 / 3 else ""
        paths.append(f"/search?q={quote_plus(query)}{scope}")
    return paths


# The server -------------------------------------------------------------------------------


def rss_kib(pid: int) -> tuple[int, int]:
    """(resident, peak resident) memory of a process, in KiB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def start_profiler(pid: int, output: Path) -> subprocess.Popen[bytes] | None:
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        print("--profile needs py-spy (pip install py-spy); running without it")
        return None
    return subprocess.Popen([spy, "record", "--pid", str(pid), "--format", "raw", "--output", str(output),
                             "--nonblocking", "--rate", "200"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def print_profile(output: Path, top: int = 25) -> None:
    """The functions most often on the stack while handling requests (py-spy raw stacks)."""
    inclusive: Counter[str] = Counter()
    samples = 0
    for line in output.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if "wsgi_app" not in stack and "WSGITask.execute" not in stack:
            continue  # idle threads waiting for work, the server's own loop
        samples += int(count)
        for frame in set(stack.split(";")):
            inclusive[frame] += int(count)
    print(f"\nprofile: {samples} busy samples; share of them each function was on the stack:")
    for frame, count in inclusive.most_common(top):
        print(f"  {count / max(samples, 1):6.1%}  {frame}")


# Main -------------------------------------------------------------------------------------


def report(baseline: Result, result: Result, target_ms: float | None) -> None:
    goal = f"  (target p95 < {target_ms:.0f} ms: {'met' if result.p95_ms < target_ms else 'MISSED'})" if target_ms else ""
    print(f"{result.name:<12} {len(result.latencies):>6} ok {result.errors:>3} errors  "
          f"median {result.median_ms:7.1f} ms ({result.median_ms / baseline.median_ms:5.1f}×)  "
          f"p95 {result.p95_ms:7.1f} ms ({result.p95_ms / baseline.p95_ms:5.1f}×)  "
          f"{result.rate:7.1f} req/s ({result.rate / baseline.rate:.2f}×){goal}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    scale_arguments(parser)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=40, help="Requests per client and phase.")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()

    scale = Scale(args.posts, args.communities, args.users)
    generated = generate(args.data, scale)
    made = f"generated in {generated.seconds:.0f} s" if generated.seconds else "generated earlier, reused"
    print(f"archive: {scale.posts:,} posts, {scale.communities:,} communities, {scale.users:,} people "
          f"({generated.path.stat().st_size / 2**20:,.0f} MiB, {made})")

    rng = random.Random(7)
    total = args.clients * args.requests
    phases = [Phase("static file", ["/static/style.css"] * total),
              Phase("thread page", thread_paths(generated.path, total, rng)),
              Phase("search", search_paths(generated.path, total, rng))]
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        port = free_port()
        config = write_config(workdir, generated.path, port)
        log = (workdir / "serve.log").open("wb")
        server = subprocess.Popen([sys.executable, "-m", "listbridge", "--config", str(config), "serve"],
                                  stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_listening(port, server)
            started_rss = rss_kib(server.pid)[0]
            run_phase(port, Phase("warm-up", phases[1].paths[:64] + phases[2].paths[:64]), args.clients)
            profiler = start_profiler(server.pid, workdir / "profile.txt") if args.profile else None
            results = [run_phase(port, phase, args.clients) for phase in phases]
            if profiler:
                profiler.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
                profiler.wait(timeout=60)
            rss, peak = rss_kib(server.pid)
        finally:
            server.terminate()
            server.wait(timeout=30)
        baseline, threads, searches = results
        print(f"{args.clients} concurrent clients, up to {args.requests} requests each per phase; "
              "ratios are to the static file (same run)")
        report(baseline, baseline, None)
        report(baseline, threads, 50)
        report(baseline, searches, 150)
        print(f"server memory: {started_rss / 1024:.0f} MiB at start, {rss / 1024:.0f} MiB after the run, "
              f"peak {peak / 1024:.0f} MiB (target < 300 MB: {'met' if peak * 1024 < 300e6 else 'MISSED'})")
        if args.profile and (workdir / "profile.txt").exists():
            print_profile(workdir / "profile.txt")


if __name__ == "__main__":
    main()
