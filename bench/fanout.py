"""Fan-out benchmark: personal copies per second, against what the same sink accepts raw.

    python bench/fanout.py --members 1000 [--connections 8] [--dkim rsa|ed25519] [--profile]

Starts a counting aiosmtpd sink in a separate process on a loopback port, then, in the
same run on the same machine:

1. baseline: N one-recipient ~4 KB messages from 4 plain ``smtplib`` sender processes,
   timed from their release to the sink's last acceptance;
2. fan-out: a fresh site (SQLite in a temporary directory) with a community of N members,
   one ~4 KB post committed with ``submit_post`` and the :class:`DeliveryWorker` running
   as ``listbridge serve`` runs it, timed from the post's commit to the sink's acceptance
   of the last of the N-1 personal copies.

With ``--dkim``, every copy is DKIM-signed with a fresh key of that kind (2048-bit RSA, or
Ed25519), as ``[dkim] key_file`` makes ``listbridge serve`` do. The ratio of the two rates is the figure that matters: absolute rates vary between
machines and runs, the ratio much less. ``--profile`` runs cProfile in every thread of this
process during the fan-out and prints where the time went.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import multiprocessing as mp
import os
import pstats
import smtplib
import socket
import tempfile
import threading
import time
from dataclasses import dataclass
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import Any

SENDERS = 4
LOREM = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore. "
BODY = "\n".join(LOREM[: 76] for _ in range(4096 // 77))  # ~4 KB of short lines, like a typical post


# The sink: a separate process, so its CPU is not ours ----------------------------------


@dataclass
class SinkCounters:
    """Shared with the sink process: accepted messages and when the first and last came."""

    messages: Synchronized[int]
    first: Synchronized[float]
    last: Synchronized[float]

    @classmethod
    def create(cls, ctx: Any) -> SinkCounters:
        return cls(ctx.Value("q", 0, lock=False), ctx.Value("d", 0.0, lock=False), ctx.Value("d", 0.0, lock=False))

    def reset(self) -> int:
        self.first.value = self.last.value = 0.0
        return self.messages.value

    def wait_for(self, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.messages.value < count:
            if time.monotonic() > deadline:
                raise SystemExit(f"the sink accepted {self.messages.value} of {count} messages in {timeout:.0f} s")
            time.sleep(0.005)


def run_sink(port: int, counters: SinkCounters, ready: Any) -> None:
    from aiosmtpd.smtp import SMTP

    class Counting:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            now = time.time()
            counters.messages.value += 1
            if not counters.first.value:
                counters.first.value = now
            counters.last.value = now
            return "250 2.0.0 OK"

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        # An explicit hostname spares aiosmtpd a getfqdn() per connection.
        await loop.create_server(lambda: SMTP(Counting(), hostname="sink.bench", decode_data=False),
                                 host="127.0.0.1", port=port)
        ready.set()
        await asyncio.Event().wait()

    asyncio.run(serve())


# The baseline: plain one-recipient messages from several processes ----------------------


def send_plain(port: int, start: int, count: int, barrier: Any) -> None:
    client = smtplib.SMTP("127.0.0.1", port, local_hostname="sender.bench", timeout=60)
    barrier.wait()
    for i in range(start, start + count):
        client.sendmail("bench@sender.example", [f"r{i}@members.example"], (
            f"From: bench@sender.example\r\nTo: r{i}@members.example\r\nSubject: raw {i}\r\n"
            f"Message-ID: <raw{i}@sender.example>\r\nDate: Thu, 01 Jan 2026 00:00:00 +0000\r\n\r\n"
            + BODY.replace("\n", "\r\n") + "\r\n").encode())
    client.quit()


@dataclass(frozen=True)
class Baseline:
    rate: float
    sink_cpu: float  # seconds per message


def baseline(ctx: Any, port: int, sink: SinkCounters, sink_pid: int, n: int) -> Baseline:
    """Messages per second the sink accepts from plain senders (sink-bound, as intended)."""
    per_sender = max(1, n // SENDERS)
    barrier = ctx.Barrier(SENDERS + 1)
    base = sink.reset()
    senders = [ctx.Process(target=send_plain, args=(port, k * per_sender, per_sender, barrier)) for k in range(SENDERS)]
    for p in senders:
        p.start()
    cpu = cpu_seconds(sink_pid)
    barrier.wait()
    released = time.time()
    sink.wait_for(base + per_sender * SENDERS, timeout=600)
    sent = per_sender * SENDERS
    for p in senders:
        p.join(30)
    return Baseline(sent / (sink.last.value - released), (cpu_seconds(sink_pid) - cpu) / sent)


# The fan-out ----------------------------------------------------------------------------


@dataclass(frozen=True)
class FanOut:
    copies: int
    seconds: float
    first_copy: float
    message_bytes: int
    worker_cpu: float  # seconds per copy, this whole process
    sink_cpu: float  # seconds per copy


def write_dkim_key(path: Path, kind: str) -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048) if kind == "rsa" \
        else ed25519.Ed25519PrivateKey.generate()
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return str(path)


def build_site(workdir: Path, port: int, members: int, connections: int, dkim: str) -> tuple[Any, Any, Any]:
    """(engine, sessionmaker, site): a new site whose smarthost is the sink, with one community."""
    from forum import config, schema
    from forum.db import make_engine, make_sessionmaker
    from forum.directory import create_community, member_row, upsert_members
    from forum.site import Site

    settings = config.from_dict({
        "site": {"mail_domain": "lists.bench.example", "secret_key": "benchmark-secret-0123456789",
                 "base_url": "https://forum.bench.example"},
        "database": {"url": f"sqlite:///{workdir / 'bench.db'}"},
        "storage": {"path": str(workdir / "storage")},
        "smtp_out": {"host": "127.0.0.1", "port": port, "connections": connections},
        "dkim": {"key_file": write_dkim_key(workdir / "dkim.pem", dkim) if dkim else ""},
    })
    engine = make_engine(settings.database.url)
    schema.upgrade(engine)
    sessions = make_sessionmaker(engine)
    with sessions.begin() as session:
        community = create_community(session, "bench", "Bench")
        upsert_members(session, community, [member_row(f"m{i}@members.example", f"Member {i}") for i in range(members)])
    return engine, sessions, Site.from_settings(settings)


def fan_out(port: int, sink: SinkCounters, sink_pid: int, members: int, connections: int, workdir: Path,
            profiler: Profiler | None, dkim: str = "") -> FanOut:
    from forum.posting import Draft, submit_post
    from mailgateway.delivery import DeliveryWorker

    engine, sessions, site = build_site(workdir, port, members, connections, dkim)

    def commit_post() -> None:
        with sessions.begin() as session:
            submit_post(session, Draft(community="bench", author_email="m0@members.example", author_name="Member 0",
                                       subject="Fan-out", body=BODY, message_id="fan@members.example"), site)

    async def run() -> tuple[float, float]:
        worker, stop = DeliveryWorker(site, sessions), asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        await asyncio.sleep(0.5)  # idle, as a running site is when a post arrives
        base = sink.reset()
        await asyncio.to_thread(commit_post)
        committed = time.time()
        worker.wake()  # what the inbound processor does after its commit
        while sink.messages.value < base + members - 1:
            await asyncio.sleep(0.01)
        stop.set()
        await task
        return committed, sink.first.value

    cpu, sink_cpu = cpu_seconds(), cpu_seconds(sink_pid)
    with profiler or contextlib.nullcontext():
        committed, first = asyncio.run(run())
    cpu, sink_cpu = cpu_seconds() - cpu, cpu_seconds(sink_pid) - sink_cpu
    size = len(_sample_copy(sessions, site))
    engine.dispose()
    copies = members - 1
    return FanOut(copies, sink.last.value - committed, first - committed, size, cpu / copies, sink_cpu / copies)


def _sample_copy(sessions: Any, site: Any) -> bytes:
    from sqlalchemy import select

    from forum.models import Post
    from mailgateway.compose import build_template, load_post, personalize

    with sessions() as session:
        post_id = session.scalar(select(Post.id))
        template = build_template(load_post(session, post_id), site)
    return personalize(template, site, 1)


# Profiling: cProfile in every thread (the event loop and the worker threads) ------------


class Profiler:
    """cProfile for the event loop's thread and every thread started while it runs.

    A plain cProfile sees only its own thread, but the worker composes and talks to the
    database in ``asyncio.to_thread`` workers: each new thread enables its own profiler
    on its first profiled event, and the results are merged.
    """

    def __init__(self) -> None:
        self.profiles = [cProfile.Profile()]

    def _adopt_thread(self, *_: object) -> None:
        profile = cProfile.Profile()
        self.profiles.append(profile)
        profile.enable()  # replaces this hook for the rest of the thread's life

    def __enter__(self) -> Profiler:
        threading.setprofile(self._adopt_thread)
        self.profiles[0].enable()
        return self

    def __exit__(self, *exc: object) -> None:
        self.profiles[0].disable()
        threading.setprofile(None)  # type: ignore[arg-type]

    def hint(self, top: int = 6) -> str:
        """The functions with the most own time, as shares of all busy (not waiting) time."""
        busy = {key: row[2] for key, row in pstats.Stats(*self.profiles).stats.items()  # type: ignore[attr-defined]
                if key[2] not in WAITING}
        total = sum(busy.values()) or 1.0
        ranked = sorted(busy.items(), key=lambda kv: kv[1], reverse=True)[:top]
        return ", ".join(f"{Path(file).name}:{name} {100 * t / total:.0f}%" for (file, _, name), t in ranked)


WAITING = {  # idle threads and an idle event loop: where the time is not spent
    "<method 'get' of '_queue.SimpleQueue' objects>",
    "<method 'poll' of 'select.epoll' objects>",
    "<method 'acquire' of '_thread.lock' objects>",
}


# Main ------------------------------------------------------------------------------------


def cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU of a process (this one by default), from /proc."""
    if pid is None:
        t = os.times()
        return t.user + t.system
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=1000, help="community size (copies = members - 1)")
    parser.add_argument("--connections", type=int, default=8, help="smarthost connections of the worker")
    parser.add_argument("--profile", action="store_true", help="profile the fan-out (slower) and say where time went")
    parser.add_argument("--dkim", choices=["rsa", "ed25519"], default="", help="DKIM-sign every copy with a key of this kind")
    args = parser.parse_args()

    profiler = Profiler() if args.profile else None
    ctx = mp.get_context("spawn")
    port, counters, ready = free_port(), SinkCounters.create(ctx), ctx.Event()
    sink = ctx.Process(target=run_sink, args=(port, counters, ready), daemon=True)
    sink.start()
    try:
        if not ready.wait(30):
            raise SystemExit("the sink did not start")
        raw = baseline(ctx, port, counters, sink.pid, args.members)
        with tempfile.TemporaryDirectory(prefix="lb-fanout-") as tmp:
            result = fan_out(port, counters, sink.pid, args.members, args.connections, Path(tmp), profiler, args.dkim)
    finally:
        sink.terminate()
        sink.join(10)
    rate = result.copies / result.seconds
    print(f"members: {args.members}, connections: {args.connections}, copy size: {result.message_bytes} bytes, "
          f"DKIM: {args.dkim or 'off'}")
    print(f"fan-out: {result.copies} personal copies in {result.seconds:.2f} s = {rate:.0f} copies/s")
    print(f"baseline: {raw.rate:.0f} raw msgs/s (~4 KB, 1 rcpt, {SENDERS} smtplib processes, same sink)")
    print(f"ratio: {rate / raw.rate:.2f} (goal >= 0.5)")
    print(f"CPU per message: worker process {result.worker_cpu * 1000:.2f} ms, sink {result.sink_cpu * 1000:.2f} ms "
          f"(sink per raw message: {raw.sink_cpu * 1000:.2f} ms)")
    print(f"first copy: {result.first_copy * 1000:.0f} ms after the post's commit")
    if profiler is not None:
        print(f"profile (own time, all threads; rates above are slowed by profiling): {profiler.hint()}")


if __name__ == "__main__":
    main()
