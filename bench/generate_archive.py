"""A large synthetic archive for bench/archive.py: posts, threads, communities, people.

    python bench/generate_archive.py --data DIR [--posts 1000000] [--communities 1500] [--users 70000]

Writes ``DIR/archive-<posts>.db`` (SQLite, the current schema, full-text index included)
once; a rerun with the same figures finds it and returns at once. Rows go in through
SQLAlchemy Core in large ``executemany`` batches, not ``submit_post``: the benchmark is
about reading an archive, and a million trips through the posting rules would take hours.

The text is made to make search meaningful: a vocabulary of invented words drawn with a
Zipf distribution (a few very common words, a long tail of rare ones), plus words of each
community's own topic, so a query can match millions of posts, thousands or a handful.
Threads have 1–30 posts, short ones far more often than long ones, as on real lists;
community sizes are skewed the same way.
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing
import random
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from multiprocessing.pool import Pool
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import Engine, insert

from forum import schema
from forum.db import make_engine
from forum.models import (
    Community,
    Delivery,
    Membership,
    MemberStatus,
    Post,
    PostStatus,
    Role,
    Thread,
    User,
    UserEmail,
    Visibility,
)
from forum.subjects import subject_key
from forum.text import text_to_html

SEED = 20261128
VOCABULARY = 30_000
TOPIC_WORDS = 40  # per community
MAX_THREAD = 30
BATCH = 20_000
START = datetime(2016, 1, 1, tzinfo=timezone.utc)
SPAN = timedelta(days=3650)
SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "bra", "cle", "dri", "fo", "gan", "hel", "jor",
             "kin", "lum", "mar", "nor", "pel", "quo", "ris", "sten", "tor", "ul", "ver", "wen", "yas", "zor"]
MEMBERSHIPS_PER_USER = 3


@dataclass(frozen=True)
class Scale:
    posts: int
    communities: int
    users: int

    def path(self, data: Path) -> Path:
        return data / f"archive-{self.posts}p-{self.communities}c-{self.users}u.db"


@dataclass(frozen=True)
class Generated:
    path: Path
    seconds: float  # 0.0 when it was already there


class Words:
    """Invented words with Zipf frequencies: word ``i`` is drawn with weight 1/(i+1)."""

    def __init__(self, rng: random.Random) -> None:
        made: dict[str, None] = {}
        while len(made) < VOCABULARY:
            made[''.join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))] = None
        self.words = list(made)
        self.cumulative = list(itertools.accumulate(1.0 / (i + 1) for i in range(VOCABULARY)))
        self.rng = rng

    def draw(self, count: int) -> list[str]:
        return self.rng.choices(self.words, cum_weights=self.cumulative, k=count)

    def topic(self, community: int) -> list[str]:
        """Mid-frequency words a community talks about more than others do."""
        start = 200 + (community * TOPIC_WORDS) % (VOCABULARY - 400)
        return self.words[start:start + TOPIC_WORDS]


def generate(data: Path, scale: Scale) -> Generated:
    """The archive for ``scale`` under ``data``, made now unless it is already there."""
    path = scale.path(data)
    if path.exists():
        return Generated(path, 0.0)
    data.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    for stale in data.glob(partial.name + "*"):
        stale.unlink()
    start = time.perf_counter()
    engine = make_engine(f"sqlite:///{partial}")
    schema.upgrade(engine)
    rng = random.Random(SEED)
    words = Words(rng)
    _people(engine, rng, scale)
    _communities(engine, rng, scale)
    _threads_and_posts(engine, rng, words, scale)
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO posts_fts(posts_fts) VALUES ('optimize')")
        conn.exec_driver_sql("ANALYZE")
    engine.dispose()  # the last connection to close checkpoints the write-ahead log
    partial.rename(path)
    return Generated(path, time.perf_counter() - start)


def _batches(rows: Iterator[dict], size: int = BATCH) -> Iterator[list[dict]]:
    while batch := list(itertools.islice(rows, size)):
        yield batch


def _bulk(engine: Engine, table: object, rows: Iterator[dict]) -> None:
    for batch in _batches(rows):
        with engine.begin() as conn:
            conn.execute(insert(table), batch)


def _people(engine: Engine, rng: random.Random, scale: Scale) -> None:
    first = ["Ana", "Ben", "Chen", "Dara", "Eli", "Fatima", "Gus", "Hana", "Ivo", "Jo", "Kemal", "Lena", "Mo", "Nia"]
    last = ["Abbott", "Baker", "Costa", "Dubois", "Evans", "Fischer", "Garcia", "Horvat", "Ito", "Jones", "Kowalski"]
    names = [f"{rng.choice(first)} {rng.choice(last)}" for _ in range(scale.users)]
    _bulk(engine, User.__table__, ({"id": i + 1, "display_name": n, "created_at": START, "login_generation": 0}
                                   for i, n in enumerate(names)))
    _bulk(engine, UserEmail.__table__, ({"user_id": i + 1, "email": f"user{i + 1}@example.org", "is_primary": True,
                                         "verified": True} for i in range(scale.users)))


def _community_weights(scale: Scale) -> list[float]:
    return [1.0 / (i + 10) for i in range(scale.communities)]  # skewed: big ones and many small


def _communities(engine: Engine, rng: random.Random, scale: Scale) -> None:
    _bulk(engine, Community.__table__, (
        {"id": c + 1, "slug": f"c{c + 1:04d}", "name": f"Community {c + 1}", "description": "", "created_at": START,
         "visibility": Visibility.public, "posting_policy": "members", "subject_prefix": ""}
        for c in range(scale.communities)))
    weights = _community_weights(scale)
    pairs = {(user, community) for user in range(1, scale.users + 1)
             for community in rng.choices(range(1, scale.communities + 1), weights, k=MEMBERSHIPS_PER_USER)}
    _bulk(engine, Membership.__table__, (
        {"user_id": u, "community_id": c, "role": Role.member, "delivery": Delivery.each,
         "status": MemberStatus.active, "bounce_score": 0.0, "bounce_reason": "", "created_at": START}
        for u, c in sorted(pairs)))


def _thread_sizes(rng: random.Random, posts: int) -> Iterator[int]:
    weights = [1.0 / size for size in range(1, MAX_THREAD + 1)]
    left = posts
    while left > 0:
        size = min(left, rng.choices(range(1, MAX_THREAD + 1), weights)[0])
        left -= size
        yield size


def _threads_and_posts(engine: Engine, rng: random.Random, words: Words, scale: Scale) -> None:
    with multiprocessing.Pool() as pool:
        _write_threads_and_posts(engine, rng, words, scale, pool)


def _write_threads_and_posts(engine: Engine, rng: random.Random, words: Words, scale: Scale, pool: Pool) -> None:
    weights = _community_weights(scale)
    threads: list[dict] = []
    posts: list[dict] = []
    post_id = 0
    for thread_id, size in enumerate(_thread_sizes(rng, scale.posts), start=1):
        community = rng.choices(range(1, scale.communities + 1), weights)[0]
        topic = words.topic(community)
        subject = " ".join(words.draw(rng.randint(2, 5)) + rng.sample(topic, 1)).capitalize()
        moment = START + SPAN * rng.random()
        parent: int | None = None
        for position in range(size):
            post_id += 1
            author = rng.randint(1, scale.users)
            body = words.draw(rng.randint(30, 180)) + rng.choices(topic, k=rng.randint(2, 8))
            rng.shuffle(body)
            posts.append({
                "id": post_id, "community_id": community, "thread_id": thread_id, "parent_id": parent,
                "author_id": author, "author_name": f"User {author}", "author_email": f"user{author}@example.org",
                "message_id": f"p{post_id}@bench.example", "subject": ("Re: " if position else "") + subject,
                "body": _paragraphs(body), "quoted": "", "source": "email",
                "status": PostStatus.published, "hold_reason": "", "created_at": moment,
            })
            parent = post_id
            moment += timedelta(minutes=rng.randint(5, 3000))
        threads.append({"id": thread_id, "community_id": community, "subject": subject,
                        "subject_key": subject_key(subject), "post_count": size,
                        "created_at": posts[-size]["created_at"], "last_activity_at": posts[-1]["created_at"]})
        if len(posts) >= BATCH:
            _flush(engine, threads, posts, pool)
    _flush(engine, threads, posts, pool)


def _paragraphs(words: list[str]) -> str:
    sentences = [" ".join(words[i:i + 12]).capitalize() + "." for i in range(0, len(words), 12)]
    return "\n\n".join(" ".join(sentences[i:i + 4]) for i in range(0, len(sentences), 4))


def _flush(engine: Engine, threads: list[dict], posts: list[dict], pool: Pool) -> None:
    """Write a batch; each post's HTML is rendered as submit_post stores it (on every core:
    it is the slowest part of a post), so pages show stored HTML as they do in real use."""
    for post, html in zip(posts, pool.map(text_to_html, [p["body"] for p in posts], chunksize=500)):
        post["html"] = html
    with engine.begin() as conn:
        if threads:
            conn.execute(insert(Thread.__table__), threads)
        if posts:
            conn.execute(insert(Post.__table__), posts)
    threads.clear()
    posts.clear()


def scale_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, required=True, help="Folder the generated database is kept in.")
    parser.add_argument("--posts", type=int, default=1_000_000)
    parser.add_argument("--communities", type=int, default=1500)
    parser.add_argument("--users", type=int, default=70_000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    scale_arguments(parser)
    args = parser.parse_args()
    done = generate(args.data, Scale(args.posts, args.communities, args.users))
    took = f"generated in {done.seconds:.0f} s" if done.seconds else "already there"
    print(f"{done.path}: {took}")


if __name__ == "__main__":
    main()
