"""Digest benchmark: building and queueing every daily digest of a day, against the bare
cost of writing as many outbox rows.

    python bench/digest_run.py [--members 70000] [--communities 1500] [--posts 20000] [--profile]
    python bench/digest_run.py --members 17500,35000,70000     # does the time grow linearly?
    python bench/digest_run.py --database-url postgresql+psycopg://USER:PASSWORD@HOST/DATABASE

For each member count, a fresh site (SQLite in a temporary directory, or the PostgreSQL
database named by ``--database-url``, dropped and created anew) is seeded with bulk
inserts: the communities (one in ten private), the members, each in 1 to 10 communities
chosen at random, all taking daily digests, in a handful of time zones, and the day's
posts, a third of them new threads and the rest replies, spread over the communities.
Every member's last digest was two days ago. Then, timed, one ``digest.run.Digests.run``
queues every digest that is owed: reading, building, claiming each member's cursor and
queueing the digest, in one transaction per 1,000 members, as the scheduler does.

The baseline, in the same run on the same database: inserting as many outbox rows, with
payloads as large as the digests', in transactions of 1,000 rows: the floor any design
that queues one row per digest stands on. ``--profile`` runs cProfile over the timed run
and says where its time went.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import random
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from served import fresh_database
from sqlalchemy import Engine, delete, func, insert, select, text

from digest.run import Digests, RunReport
from forum import config, db, schema
from forum.models import (
    Community,
    Delivery,
    DigestCursor,
    Membership,
    OutboxItem,
    OutboxStatus,
    Post,
    Thread,
    User,
    UserEmail,
    Visibility,
)
from forum.outbox import DIGEST_EMAIL
from forum.site import Site

NOW = datetime(2026, 3, 4, 13, 0, tzinfo=UTC)  # past every member's 07:00, from Sydney to New York
ZONES = [None] * 16 + ["Europe/Paris", "America/New_York", "Asia/Kolkata", "Australia/Sydney"]
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
]
CHUNK = 5000


@dataclass(frozen=True)
class Seeded:
    members: int
    memberships: int
    posts: int
    seconds: float


def seed(engine: Engine, members: int, communities: int, posts: int, rng: random.Random) -> Seeded:
    """The site described in the module docstring, written with bulk inserts."""
    began = time.monotonic()
    with engine.begin() as conn:
        conn.execute(
            insert(Community),
            [
                {
                    "id": c,
                    "slug": f"c{c:04d}",
                    "name": f"Community {c:04d}",
                    "description": "",
                    "visibility": Visibility.private if c % 10 == 0 else Visibility.public,
                }
                for c in range(1, communities + 1)
            ],
        )
        for start in range(1, members + 1, CHUNK):
            ids = range(start, min(start + CHUNK, members + 1))
            conn.execute(
                insert(User), [{"id": u, "display_name": f"Member {u}", "timezone": rng.choice(ZONES)} for u in ids]
            )
            conn.execute(
                insert(UserEmail),
                [
                    {"user_id": u, "email": f"m{u}@council{u % 97}.example", "is_primary": True, "verified": True}
                    for u in ids
                ],
            )
        memberships = 0
        for start in range(1, members + 1, CHUNK):
            rows = [
                {"user_id": u, "community_id": c, "delivery": Delivery.daily}
                for u in range(start, min(start + CHUNK, members + 1))
                for c in rng.sample(range(1, communities + 1), rng.randint(1, 10))
            ]
            conn.execute(insert(Membership), rows)
            memberships += len(rows)
        conn.execute(
            insert(DigestCursor),
            [
                {"user_id": u, "period": Delivery.daily, "slot_at": NOW - timedelta(days=2), "high_water": 0}
                for u in range(1, members + 1)
            ],
        )
        threads: dict[int, list[int]] = {}
        thread_rows: list[dict[str, Any]] = []
        post_rows: list[dict[str, Any]] = []
        for p in range(1, posts + 1):
            c = rng.randint(1, communities)
            created = NOW - timedelta(hours=24) + timedelta(seconds=p * 86400 / posts)
            if not threads.get(c) or rng.random() < 1 / 3:
                thread_id = len(thread_rows) + 1
                subject = " ".join(rng.choices(WORDS, k=5)).capitalize()
                thread_rows.append(
                    {
                        "id": thread_id,
                        "community_id": c,
                        "subject": subject,
                        "subject_key": subject,
                        "post_count": 0,
                        "created_at": created,
                        "last_activity_at": created,
                    }
                )
                threads.setdefault(c, []).append(thread_id)
            else:
                thread_id = rng.choice(threads[c][-5:])
            author = rng.randint(1, members)
            post_rows.append(
                {
                    "id": p,
                    "community_id": c,
                    "thread_id": thread_id,
                    "author_id": author,
                    "author_name": f"Member {author}",
                    "author_email": f"m{author}@council.example",
                    "message_id": f"p{p}@bench.example",
                    "subject": thread_rows[thread_id - 1]["subject"],
                    "body": body(rng),
                    "html": None,
                    "source": "email",
                    "created_at": created,
                }
            )
        conn.execute(insert(Thread), thread_rows)
        for start in range(0, len(post_rows), CHUNK):
            conn.execute(insert(Post), post_rows[start : start + CHUNK])  # the triggers log each publication
    return Seeded(members, memberships, posts, time.monotonic() - began)


def body(rng: random.Random) -> str:
    """About 600 characters in short paragraphs, sometimes after a quote and before a signature."""
    paragraphs = [" ".join(rng.choices(WORDS, k=rng.randint(15, 40))).capitalize() + "." for _ in range(3)]
    text = "\n\n".join(paragraphs)
    if rng.random() < 0.3:
        text = "> " + " ".join(rng.choices(WORDS, k=20)) + "\n\n" + text
    return text + ("\n\n-- \nA. Member\nCouncil officer" if rng.random() < 0.5 else "")


def baseline(engine: Engine, rows: int, payload_bytes: int) -> float:
    """Seconds to insert ``rows`` outbox rows with payloads of ``payload_bytes`` (then removed)."""
    payload = {"subject": "x", "slug": "x", "parts": ["x" * max(0, payload_bytes - 40)]}
    began = time.monotonic()
    for start in range(0, rows, 1000):
        with engine.begin() as conn:
            conn.execute(
                insert(OutboxItem),
                [
                    {
                        "kind": "bench",
                        "dedupe_key": f"bench:{i}",
                        "address": f"m{i}@x.example",
                        "payload": payload,
                        "status": OutboxStatus.pending,
                        "attempts": 0,
                        "last_error": "",
                    }
                    for i in range(start, min(start + 1000, rows))
                ],
            )
    seconds = time.monotonic() - began
    with engine.begin() as conn:
        conn.execute(delete(OutboxItem).where(OutboxItem.kind == "bench"))
    return seconds


def payload_bytes(engine: Engine) -> tuple[int, int]:
    """(digests queued, their average payload in bytes)."""
    with engine.connect() as conn:
        rows = conn.execute(select(OutboxItem.payload).where(OutboxItem.kind == DIGEST_EMAIL)).scalars().all()
    return len(rows), sum(len(json.dumps(p)) for p in rows) // max(1, len(rows))


def measure(members: int, args: argparse.Namespace) -> None:
    rng = random.Random(members)
    with tempfile.TemporaryDirectory(prefix="lb-digest-") as tmp:
        settings = config.from_dict(
            {
                "site": {
                    "mail_domain": "lists.example.org",
                    "secret_key": "bench-secret-0123456789abcdef",
                    "base_url": "https://forum.example.org",
                },
                "database": {"url": fresh_database(args.database_url, Path(tmp))},
                "storage": {"path": f"{tmp}/storage"},
                "digest": {"hour": 7, "timezone": "Europe/London"},
            }
        )
        engine = db.make_engine(settings.database.url)
        schema.upgrade(engine)
        seeded = seed(engine, members, args.communities, args.posts, rng)
        runner = Digests(Site.from_settings(settings), engine)
        profile = cProfile.Profile() if args.profile else None
        if profile is not None:
            profile.enable()
        cpu = time.process_time()
        report = runner.run(Delivery.daily, NOW)
        cpu = time.process_time() - cpu
        if profile is not None:
            profile.disable()
        queued, size = payload_bytes(engine)
        floor = baseline(engine, queued, size)
        with engine.connect() as conn:
            blocks = conn.execute(select(func.count()).select_from(db_table("digest_blocks"))).scalar_one()
            database = (
                conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
                if args.database_url
                else Path(tmp, "lb.db").stat().st_size
            )
        engine.dispose()
    print(
        f"{members:,} members, {seeded.memberships:,} memberships, {args.communities:,} communities, "
        f"{seeded.posts:,} posts (seeded in {seeded.seconds:.0f} s)"
    )
    print(
        f"  digest run: {report.queued:,} digests queued in {report.seconds:.1f} s, {cpu:.1f} s of CPU "
        f"({report.seconds / max(1, report.queued) * 1e6:.0f} µs per digest){' [profiled]' if profile else ''}"
    )
    print(
        f"  baseline: {queued:,} outbox rows of the same size written in {floor:.1f} s; "
        f"ratio {report.seconds / floor:.1f}"
    )
    print(
        f"  stored: {blocks:,} shared blocks, {size:,} bytes of payload per digest, database {database / 2**20:.0f} MiB"
    )
    check(report, members)
    if profile is not None:
        print(where_the_time_went(profile))


def db_table(name: str) -> Any:
    from forum.models import Base

    return Base.metadata.tables[name]


def check(report: RunReport, members: int) -> None:
    if report.owed != members or report.queued + report.empty != members:
        raise SystemExit(f"expected {members} digests owed and queued, got {report}")


PHASES = {  # cumulative time of these calls, as phases of a run
    "read members and cursors": ("forum/digests.py", "subscribers"),
    "read memberships": ("forum/digests.py", "subscriptions"),
    "read the day's posts": ("forum/digests.py", "new_posts"),
    "build digests (Edition.digest_for)": ("digest/build.py", "digest_for"),
    "  of which rendering sections": ("digest/build.py", "_new_section"),
    "payloads (block ids, tokens' ids)": ("digest/run.py", "queued"),
    "  of which storing blocks": ("forum/digests.py", "store_blocks"),
    "claim cursors": ("forum/digests.py", "claim"),
    "queue outbox rows": ("forum/digests.py", "queue"),
    "commits": ("sqlalchemy/orm/session.py", "commit"),
}


def where_the_time_went(profile: cProfile.Profile) -> str:
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]  # typeshed does not declare Stats.stats
    total = max(row[3] for row in stats.values())
    lines = [f"  profile (cumulative, of {total:.1f} s profiled):"]
    for label, (file, name) in PHASES.items():
        seconds = sum(row[3] for (path, _, fn), row in stats.items() if fn == name and path.endswith(file))
        lines.append(f"    {label:<40} {seconds:6.1f} s  {100 * seconds / total:3.0f}%")
    own = sorted(((row[2], f"{Path(path).name}:{fn}") for (path, _, fn), row in stats.items()), reverse=True)[:8]
    lines.append("  most own time: " + ", ".join(f"{where} {t:.1f} s" for t, where in own))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", default="70000", help="member count, or several, comma-separated")
    parser.add_argument("--communities", type=int, default=1500)
    parser.add_argument("--posts", type=int, default=20000, help="posts published in the day")
    parser.add_argument("--profile", action="store_true", help="profile the timed run and say where time went")
    parser.add_argument("--database-url", help="a PostgreSQL database to create afresh for each size (default: SQLite)")
    args = parser.parse_args()
    for members in (int(m) for m in args.members.split(",")):
        measure(members, args)


if __name__ == "__main__":
    main()
