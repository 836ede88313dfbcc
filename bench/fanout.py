"""Fan-out benchmark: personal copies per second, against what the same sink accepts raw.

    python bench/fanout.py --members 1000 [--connections 8] [--dkim rsa|ed25519] [--profile]
                           [--database-url postgresql+psycopg://USER:PASSWORD@HOST/DATABASE]

Starts a counting aiosmtpd sink in a separate process on a loopback port, then, in the
same run on the same machine:

1. baseline: N one-recipient ~4 KB messages from 4 plain ``smtplib`` sender processes,
   timed from their release to the sink's last acceptance;
2. fan-out: a fresh site (SQLite in a temporary directory, or the PostgreSQL database
   named by ``--database-url``, dropped and created anew) with a community of N members,
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
import pstats
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from served import fresh_database
from smtpsink import BODY, SENDERS, Sink, baseline, cpu_seconds, running_sink

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

    key = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if kind == "rsa"
        else ed25519.Ed25519PrivateKey.generate()
    )
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(path)


def build_site(
    workdir: Path, database_url: str, port: int, members: int, connections: int, dkim: str
) -> tuple[Any, Any, Any]:
    """(engine, sessionmaker, site): a new site whose smarthost is the sink, with one community."""
    from forum import config, schema
    from forum.db import make_engine, make_sessionmaker
    from forum.directory import create_community, member_row, upsert_members
    from forum.site import Site

    settings = config.from_dict(
        {
            "site": {
                "mail_domain": "lists.bench.example",
                "secret_key": "benchmark-secret-0123456789",
                "base_url": "https://forum.bench.example",
            },
            "database": {"url": database_url},
            "storage": {"path": str(workdir / "storage")},
            "smtp_out": {"host": "127.0.0.1", "port": port, "connections": connections},
            "dkim": {"key_file": write_dkim_key(workdir / "dkim.pem", dkim) if dkim else ""},
        }
    )
    engine = make_engine(settings.database.url)
    schema.upgrade(engine)
    sessions = make_sessionmaker(engine)
    with sessions.begin() as session:
        community = create_community(session, "bench", "Bench")
        upsert_members(session, community, [member_row(f"m{i}@members.example", f"Member {i}") for i in range(members)])
    return engine, sessions, Site.from_settings(settings)


def fan_out(
    sink: Sink,
    members: int,
    connections: int,
    workdir: Path,
    database_url: str,
    profiler: Profiler | None,
    dkim: str = "",
) -> FanOut:
    from forum.posting import Draft, submit_post
    from mailgateway.outgoing.delivery import DeliveryWorker

    engine, sessions, site = build_site(workdir, database_url, sink.port, members, connections, dkim)
    counters = sink.counters

    def commit_post() -> None:
        with sessions.begin() as session:
            submit_post(
                session,
                Draft(
                    community="bench",
                    author_email="m0@members.example",
                    author_name="Member 0",
                    subject="Fan-out",
                    body=BODY,
                    message_id="fan@members.example",
                ),
                site,
            )

    async def run() -> tuple[float, float]:
        worker, stop = DeliveryWorker(site, sessions), asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        await asyncio.sleep(0.5)  # idle, as a running site is when a post arrives
        base = counters.reset()
        await asyncio.to_thread(commit_post)
        committed = time.time()
        worker.wake()  # what the inbound processor does after its commit
        while counters.messages.value < base + members - 1:
            await asyncio.sleep(0.01)
        stop.set()
        await task
        return committed, counters.first.value

    cpu, sink_cpu = cpu_seconds(), cpu_seconds(sink.pid)
    with profiler or contextlib.nullcontext():
        committed, first = asyncio.run(run())
    cpu, sink_cpu = cpu_seconds() - cpu, cpu_seconds(sink.pid) - sink_cpu
    size = len(_sample_copy(sessions, site))
    engine.dispose()
    copies = members - 1
    return FanOut(copies, counters.last.value - committed, first - committed, size, cpu / copies, sink_cpu / copies)


def _sample_copy(sessions: Any, site: Any) -> bytes:
    from sqlalchemy import select

    from forum.models import Post
    from mailgateway.outgoing.compose import build_template, personalize
    from mailgateway.outgoing.post_views import load_post

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
        threading.setprofile(None)

    def hint(self, top: int = 6) -> str:
        """The functions with the most own time, as shares of all busy (not waiting) time."""
        # typeshed does not declare Stats.stats
        busy = {
            key: row[2]
            for key, row in pstats.Stats(*self.profiles).stats.items()  # type: ignore[attr-defined]
            if key[2] not in WAITING
        }
        total = sum(busy.values()) or 1.0
        ranked = sorted(busy.items(), key=lambda kv: kv[1], reverse=True)[:top]
        return ", ".join(f"{Path(file).name}:{name} {100 * t / total:.0f}%" for (file, _, name), t in ranked)


WAITING = {  # idle threads and an idle event loop: where the time is not spent
    "<method 'get' of '_queue.SimpleQueue' objects>",
    "<method 'poll' of 'select.epoll' objects>",
    "<method 'acquire' of '_thread.lock' objects>",
}


# Main ------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=1000, help="community size (copies = members - 1)")
    parser.add_argument("--connections", type=int, default=8, help="smarthost connections of the worker")
    parser.add_argument("--profile", action="store_true", help="profile the fan-out (slower) and say where time went")
    parser.add_argument("--database-url", help="a PostgreSQL database to create afresh (default: SQLite)")
    parser.add_argument(
        "--dkim", choices=["rsa", "ed25519"], default="", help="DKIM-sign every copy with a key of this kind"
    )
    args = parser.parse_args()

    profiler = Profiler() if args.profile else None
    ctx = mp.get_context("spawn")
    with running_sink(ctx) as sink, tempfile.TemporaryDirectory(prefix="lb-fanout-") as tmp:
        raw = baseline(ctx, sink, args.members)
        database_url = fresh_database(args.database_url, Path(tmp))
        result = fan_out(sink, args.members, args.connections, Path(tmp), database_url, profiler, args.dkim)
    rate = result.copies / result.seconds
    print(
        f"members: {args.members}, connections: {args.connections}, copy size: {result.message_bytes} bytes, "
        f"DKIM: {args.dkim or 'off'}"
    )
    print(f"fan-out: {result.copies} personal copies in {result.seconds:.2f} s = {rate:.0f} copies/s")
    print(f"baseline: {raw.rate:.0f} raw msgs/s (~4 KB, 1 rcpt, {SENDERS} smtplib processes, same sink)")
    print(f"ratio: {rate / raw.rate:.2f} (goal >= 0.5)")
    print(
        f"CPU per message: worker process {result.worker_cpu * 1000:.2f} ms, sink {result.sink_cpu * 1000:.2f} ms "
        f"(sink per raw message: {raw.sink_cpu * 1000:.2f} ms)"
    )
    print(f"first copy: {result.first_copy * 1000:.0f} ms after the post's commit")
    if profiler is not None:
        print(f"profile (own time, all threads; rates above are slowed by profiling): {profiler.hint()}")


if __name__ == "__main__":
    main()
