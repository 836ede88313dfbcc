"""The yardstick every mail benchmark here is measured against: a counting SMTP sink that
discards what it accepts, and plain ``smtplib`` senders driving it.

The sink runs in a process of its own, so its CPU is not the measured program's; the
senders are processes too, released together by a barrier, so the clock starts when all
of them can send. What the sink accepts from plain senders in the same run is the ceiling
of this machine at that moment: rates elsewhere are reported as ratios to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import smtplib
import socket
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import Any

SENDERS = 4  # four smtplib processes leave the sink as the bottleneck on 2 cores
LOREM = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore. "
BODY = "\n".join(LOREM[:76] for _ in range(4096 // 77))  # ~4 KB of short lines, like a typical post


# The sink ---------------------------------------------------------------------------------


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

    def wait_for(self, count: int, timeout: float, progress: str = "") -> None:
        """Until the sink has accepted ``count`` messages in all; with ``progress``, say how
        far it got every few seconds."""
        deadline = time.monotonic() + timeout
        shown = time.monotonic()
        while self.messages.value < count:
            if time.monotonic() > deadline:
                raise SystemExit(f"the sink accepted {self.messages.value} of {count} messages in {timeout:.0f} s")
            if progress and time.monotonic() - shown > 5:
                print(f"  {progress}: sink at {self.messages.value:,} of {count:,}", flush=True)
                shown = time.monotonic()
            time.sleep(0.005)


def run_sink(port: int, counters: SinkCounters, ready: Any, spool: str | None = None) -> None:
    """Accept and count; with ``spool`` (a SQLite file), first store each message as the
    least a gateway must: its header block read and the message committed to disk before
    its 250, every message that arrived meanwhile in the same commit (as the gateway's)."""
    from aiosmtpd.smtp import SMTP

    store = _GroupCommit(spool) if spool else None

    class Counting:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            if store is not None:
                await store.put(envelope.mail_from, envelope.rcpt_tos, envelope.original_content)
            now = time.time()
            counters.messages.value += 1
            if not counters.first.value:
                counters.first.value = now
            counters.last.value = now
            return "250 2.0.0 OK"

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        # An explicit hostname spares aiosmtpd a getfqdn() per connection.
        await loop.create_server(
            lambda: SMTP(Counting(), hostname="sink.bench", decode_data=False), host="127.0.0.1", port=port
        )
        ready.set()
        await asyncio.Event().wait()

    asyncio.run(serve())


class _GroupCommit:
    """The storing sink's spool: SQLite in WAL mode with every commit flushed to disk."""

    def __init__(self, path: str) -> None:
        import sqlite3

        from mailgateway.text.parsing import parse_headers

        self.parse_headers = parse_headers
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS spool (id INTEGER PRIMARY KEY, mail_from TEXT, "
            "rcpt_to TEXT, sender TEXT, raw BLOB)"
        )
        self.waiting: list[tuple[tuple[str, str, str, bytes], asyncio.Future[None]]] = []

    async def put(self, mail_from: str, rcpts: list[str], raw: bytes) -> None:
        headers = self.parse_headers(raw)
        loop = asyncio.get_running_loop()
        if not self.waiting:
            loop.call_soon(self._commit)
        done = loop.create_future()
        self.waiting.append(((mail_from, ",".join(rcpts), headers.from_addr or "", raw), done))
        await done

    def _commit(self) -> None:
        batch, self.waiting = self.waiting, []
        self.db.execute("BEGIN IMMEDIATE")
        self.db.executemany(
            "INSERT INTO spool (mail_from, rcpt_to, sender, raw) VALUES (?, ?, ?, ?)", [row for row, _ in batch]
        )
        self.db.execute("COMMIT")
        for _, done in batch:
            done.set_result(None)


@dataclass(frozen=True)
class Sink:
    port: int
    counters: SinkCounters
    pid: int


@contextlib.contextmanager
def running_sink(ctx: Any, spool: Path | None = None) -> Iterator[Sink]:
    """A sink process on a free loopback port, stopped on leaving; with ``spool``, one that
    stores what it accepts there first (see run_sink)."""
    port, counters, ready = free_port(), SinkCounters.create(ctx), ctx.Event()
    proc = ctx.Process(target=run_sink, args=(port, counters, ready, str(spool) if spool else None), daemon=True)
    proc.start()
    try:
        if not ready.wait(30):
            raise SystemExit("the sink did not start")
        yield Sink(port, counters, proc.pid)
    finally:
        proc.terminate()
        proc.join(10)


# Senders ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mail:
    """One SMTP transaction: envelope and message bytes (CRLF line ends)."""

    sender: str
    recipient: str
    data: bytes


def _send_batch(port: int, mails: Sequence[Mail], barrier: Any, finished: Any) -> None:
    client = smtplib.SMTP("127.0.0.1", port, local_hostname="sender.bench", timeout=120)
    barrier.wait()
    for mail in mails:
        client.sendmail(mail.sender, [mail.recipient], mail.data)
    finished.put(time.time())  # after the last 250
    client.quit()


@dataclass(frozen=True)
class Sent:
    messages: int
    released: float  # wall clock when every sender could start
    done: float  # wall clock of the last 250 any sender received

    @property
    def rate(self) -> float:
        return self.messages / (self.done - self.released)


def send_concurrently(ctx: Any, port: int, batches: Sequence[Sequence[Mail]]) -> Sent:
    """Each batch from a process of its own over one connection, all released at once;
    returns when every message has had its 250 (a refusal raises in its sender)."""
    barrier, finished = ctx.Barrier(len(batches) + 1), ctx.Queue()
    senders = [ctx.Process(target=_send_batch, args=(port, batch, barrier, finished)) for batch in batches]
    for p in senders:
        p.start()
    barrier.wait(120)
    released = time.time()
    done: list[float] = []
    while len(done) < len(senders):
        try:
            done.append(finished.get(timeout=0.5))
        except queue.Empty:
            if any(p.exitcode not in (None, 0) for p in senders):
                raise SystemExit("a sender failed (see its traceback above)") from None
    for p in senders:
        p.join(30)
    return Sent(sum(len(b) for b in batches), released, max(done))


def plain_mails(n: int) -> list[Mail]:
    """``n`` one-recipient ~4 KB messages, as a sending server without a list would send them."""
    return [
        Mail(
            "bench@sender.example",
            f"r{i}@members.example",
            (
                f"From: bench@sender.example\r\nTo: r{i}@members.example\r\nSubject: raw {i}\r\n"
                f"Message-ID: <raw{i}@sender.example>\r\nDate: Thu, 01 Jan 2026 00:00:00 +0000\r\n\r\n"
                + BODY.replace("\n", "\r\n")
                + "\r\n"
            ).encode(),
        )
        for i in range(n)
    ]


def split(mails: Sequence[Mail], senders: int) -> list[list[Mail]]:
    return [list(mails[k::senders]) for k in range(senders)]


@dataclass(frozen=True)
class Baseline:
    rate: float
    sink_cpu: float  # seconds per message


def baseline(ctx: Any, sink: Sink, n: int) -> Baseline:
    """Messages per second the sink accepts from plain one-recipient senders (sink-bound,
    as intended), from their release to the sink's last acceptance."""
    print(f"baseline: {n:,} plain one-recipient messages from {SENDERS} smtplib processes to the sink", flush=True)
    base = sink.counters.reset()
    cpu = cpu_seconds(sink.pid)
    sent = send_concurrently(ctx, sink.port, split(plain_mails(n), SENDERS))
    sink.counters.wait_for(base + sent.messages, timeout=600)
    return Baseline(
        sent.messages / (sink.counters.last.value - sent.released), (cpu_seconds(sink.pid) - cpu) / sent.messages
    )


# Small helpers --------------------------------------------------------------------------------


def cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU of a process (this one by default), from /proc."""
    if pid is None:
        t = os.times()
        return t.user + t.system
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    """The child processes of ``pid`` (started by any of its threads), from /proc."""
    return [
        int(child) for listing in Path(f"/proc/{pid}/task").glob("*/children") for child in listing.read_text().split()
    ]


def child_pid(parent: int, command_part: str) -> int | None:
    """A child process of ``parent`` whose command line contains ``command_part``."""
    for child in children(parent):
        try:
            if command_part.encode() in Path(f"/proc/{child}/cmdline").read_bytes():
                return child
        except OSError:
            continue  # ended meanwhile
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
