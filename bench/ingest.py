"""SMTP ingest: posts per second a real gateway accepts *and stores*, against a bare sink.

    python bench/ingest.py [--messages 1000] [--senders 4]
    python bench/ingest.py --database-url postgresql+psycopg://USER:PASSWORD@HOST/DATABASE [--profile FILE]

The same messages, from the same concurrent ``smtplib`` sender processes (one connection
each, released together), go first to a bare aiosmtpd sink that discards them (the
ceiling of this machine in this run), then to ``listbridge serve --only gateway`` on a
fresh site (SQLite, or a PostgreSQL database dropped and created anew) with a
members-only community of ``--members`` members, every one of them a poster. The gateway
answers 250 only once the message is committed, so the time from the senders' release to
the last 250 is the time to accept and store them all: its rate over the sink's is the
figure. Each message is a realistic post of 4 to 10 KB to the community's address, a third
new threads and the rest replies quoting their parent, half plain text and half
multipart/alternative with HTML, as mail clients send them.

Between the two, the same messages go to a sink that stores them (``smtpsink.run_sink``
with a spool): aiosmtpd, the header block read and each message committed to SQLite
before its 250, in group commits, and nothing else: what any gateway must do at the least,
with no list to look up, no rules and no processing beside it.

Afterwards the stored count is checked, and the time until the gateway's spool processor
(a process of its own) has turned every message into a post, with the copies queued for
every member, is reported too; it runs behind the 250 and overlaps the sending. So is the
CPU each of the two processes spent per post. ``--profile`` samples the listener's process.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing as mp
import os
import random
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from email.utils import formatdate
from pathlib import Path

from sampling import sampled, summary
from served import DOMAIN, Serving, cli, fresh_database, import_members, wait_listening, write_config
from smtpsink import Mail, Sent, child_pid, cpu_seconds, free_port, running_sink, send_concurrently, split
from sqlalchemy import func, select

from forum.db import make_engine
from forum.models import InboundMessage, InboundStatus, Post

WORDS = [
    "council",
    "housing",
    "tenants",
    "repairs",
    "damp",
    "budget",
    "planning",
    "consultation",
    "waste",
    "collection",
    "bins",
    "survey",
    "policy",
    "grant",
    "funding",
    "officer",
    "meeting",
    "report",
    "agenda",
    "residents",
    "estate",
    "scheme",
    "pilot",
    "data",
    "results",
    "the",
    "a",
    "of",
    "to",
    "and",
    "in",
    "for",
    "with",
    "on",
    "that",
    "this",
    "we",
    "have",
    "been",
    "will",
    "would",
    "could",
    "should",
    "about",
]


def paragraph(rng: random.Random) -> str:
    words = rng.choices(WORDS, k=rng.randint(40, 90))
    text = " ".join(words).capitalize() + "."
    return "\n".join(text[i : i + 72] for i in range(0, len(text), 72))  # short lines, as clients wrap


def post_mail(n: int, members: int, rng: random.Random, earlier: list[tuple[str, str, str]]) -> Mail:
    """Post ``n``: 4 to 10 KB, a new thread or a reply quoting an earlier post."""
    author = f"m{n % members}@members.example"
    message_id = f"<ingest{n}.{rng.getrandbits(40):x}@members.example>"
    target = rng.randint(4000, 10000)
    parts: list[str] = []
    headers = [
        f"From: Member {n % members} <{author}>",
        f"To: bench@{DOMAIN}",
        f"Message-ID: {message_id}",
        f"Date: {formatdate()}",
        "MIME-Version: 1.0",
    ]
    if earlier and rng.random() < 2 / 3:
        parent_id, subject, parent_text = rng.choice(earlier[-50:])
        headers += [f"Subject: Re: {subject}", f"In-Reply-To: {parent_id}", f"References: {parent_id}"]
        quote = "\n".join("> " + line for line in parent_text.splitlines()[:30])
        parts_target = target * 2 // 3
    else:
        subject, quote, parts_target = " ".join(rng.choices(WORDS[:24], k=5)).capitalize(), "", target
    while sum(map(len, parts)) < parts_target // (2 if n % 2 else 1):  # HTML doubles a multipart one
        parts.append(paragraph(rng))
    text = "\n\n".join(parts) + f"\n\n-- \nMember {n % members}\nHousing officer\n"
    earlier.append((message_id, subject, text))
    body = text + (f"\nOn Monday, a colleague wrote:\n{quote}\n" if quote else "")
    if n % 2:  # plain text and HTML, as most clients send
        html = "<html><body>" + "".join(f"<p>{p}</p>" for p in body.split("\n\n")) + "</body></html>"
        content = (
            'Content-Type: multipart/alternative; boundary="b0"\r\n\r\n--b0\r\n'
            "Content-Type: text/plain; charset=utf-8\r\n\r\n"
            + body.replace("\n", "\r\n")
            + "\r\n--b0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
            + html.replace("\n", "\r\n")
            + "\r\n--b0--\r\n"
        )
    else:
        content = "Content-Type: text/plain; charset=utf-8\r\n\r\n" + body.replace("\n", "\r\n")
    return Mail(author, f"bench@{DOMAIN}", ("\r\n".join(headers) + "\r\n" + content).encode())


def posts(count: int, members: int) -> list[Mail]:
    rng, earlier = random.Random(count), list[tuple[str, str, str]]()
    return [post_mail(n, members, rng, earlier) for n in range(count)]


@dataclass(frozen=True)
class Stored:
    messages: int  # spooled by the gateway
    posts: int  # made from them
    processed_after: float  # seconds from the senders' release to the last one processed


def wait_processed(database_url: str, sent: Sent) -> Stored:
    """What the gateway stored, once its spool processor has processed all of it."""
    engine = make_engine(database_url)
    deadline, shown = time.monotonic() + 900, 0.0
    with engine.connect() as conn:
        while True:
            stored, pending, last = conn.execute(
                select(
                    func.count(),
                    func.count().filter(InboundMessage.status == InboundStatus.pending),
                    func.max(InboundMessage.processed_at),
                )
            ).one()
            conn.rollback()
            if not pending or time.monotonic() > deadline:
                break
            if time.monotonic() - shown > 5:
                print(f"  processing: {stored - pending:,} of {stored:,} stored messages done", flush=True)
                shown = time.monotonic()
            time.sleep(0.2)
        made = conn.execute(select(func.count()).select_from(Post)).scalar_one()
    engine.dispose()
    if pending:
        raise SystemExit(f"{pending} messages still unprocessed after 15 minutes")
    if last is None:
        raise SystemExit("no message was processed")
    if isinstance(last, str):  # SQLite returns max() of a datetime column as text
        last = datetime.fromisoformat(last)
    return Stored(stored, made, last.timestamp() - sent.released)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--senders", type=int, default=4, help="sender processes, one SMTP connection each")
    parser.add_argument("--members", type=int, default=50, help="community size; every member posts")
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="FILE",
        help="sample the gateway with py-spy into FILE (collapsed stacks) and say where time went",
    )
    parser.add_argument("--database-url", help="a PostgreSQL database to create afresh (default: SQLite)")
    args = parser.parse_args()
    mails = posts(args.messages, args.members)
    size = sum(len(m.data) for m in mails) / len(mails)
    batches = split(mails, args.senders)
    ctx = mp.get_context("spawn")
    with running_sink(ctx) as sink:
        print(
            f"ceiling: {args.messages:,} posts (~{size / 1024:.1f} KB average) from {args.senders} senders "
            "to a bare sink",
            flush=True,
        )
        ceiling = send_concurrently(ctx, sink.port, batches)
    with tempfile.TemporaryDirectory(prefix="lb-ingest-") as tmp:
        workdir = Path(tmp)
        with running_sink(ctx, spool=workdir / "spool.db") as sink:
            print(
                "floor of any gateway: the same posts to a sink that stores them (header block read, "
                "committed to SQLite before the 250)",
                flush=True,
            )
            storing = send_concurrently(ctx, sink.port, batches)
        database_url = fresh_database(args.database_url, workdir)
        smtp_port = free_port()
        config = write_config(workdir, smtp_port, free_port(), free_port(), database_url=database_url)
        cli(config, "init")
        cli(config, "community", "create", "bench", "--name", "Bench")
        import_members(config, workdir, "bench", [f"m{i}@members.example" for i in range(args.members)])
        with Serving(config, [("gateway",)]) as serving:
            wait_listening(smtp_port, serving.procs[0])
            print(
                f"gateway: the same {args.messages:,} posts from the same senders to listbridge serve --only gateway",
                flush=True,
            )
            processor = child_pid(serving.pids[0], "spawn_main")  # the spool processor
            if processor is None:
                raise SystemExit("the gateway's spool processor process was not found")
            cpu, processor_cpu = cpu_seconds(serving.pids[0]), cpu_seconds(processor)
            with sampled(serving.pids[0], args.profile) if args.profile else contextlib.nullcontext():
                gateway = send_concurrently(ctx, smtp_port, batches)
                stored = wait_processed(database_url, gateway)
            cpu, processor_cpu = cpu_seconds(serving.pids[0]) - cpu, cpu_seconds(processor) - processor_cpu
    if stored.messages != args.messages:
        raise SystemExit(f"{args.messages} posts had their 250, but {stored.messages} are stored")
    database = "PostgreSQL" if args.database_url else "SQLite"
    print(
        f"\n{args.messages:,} posts of ~{size / 1024:.1f} KB, {args.senders} senders, {database}, "
        f"community of {args.members} members"
    )
    print(
        f"gateway: {gateway.rate:.0f} posts/s accepted and stored (all {stored.messages:,} stored; "
        f"last 250 after {gateway.done - gateway.released:.2f} s)"
    )
    print(f"baseline: {ceiling.rate:.0f} msgs/s into a bare aiosmtpd sink that discards, same senders")
    print(f"ratio: {gateway.rate / ceiling.rate:.2f} (goal >= 0.5)")
    print(
        f"a sink that only stores, same senders: {storing.rate:.0f} msgs/s ({storing.rate / ceiling.rate:.2f} "
        f"of the bare sink): the gateway does {gateway.rate / storing.rate:.2f} of that"
    )
    print(
        f"processed into {stored.posts:,} posts (copies queued) {stored.processed_after:.2f} s after the release "
        f"= {args.messages / stored.processed_after:.0f} posts/s"
    )
    print(
        f"CPU per post: {cpu / args.messages * 1000:.2f} ms accepting (the SMTP listener's process), "
        f"{processor_cpu / args.messages * 1000:.2f} ms processing (the spool processor's)"
    )
    if args.profile:
        print(
            "gateway profile (py-spy, the whole gateway phase; rates above are slowed by sampling):\n"
            + summary(args.profile)
        )


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
