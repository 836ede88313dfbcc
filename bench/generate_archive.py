"""A large synthetic archive for bench/archive.py: posts, threads, communities, people.

    python bench/generate_archive.py --data DIR [--posts 1000000] [--communities 1500] [--users 70000]
    python bench/generate_archive.py --database URL [--posts …]

With ``--data``, writes ``DIR/archive-<posts>p-….db`` (SQLite) once; a rerun with the same
figures finds it and returns at once. With ``--database``, fills that database (SQLite or
PostgreSQL; it must be empty, or already hold an archive of exactly that many posts, which
is then reused). The schema is the current one, full-text index included.

Rows go in without ``submit_post``, the ORM or SQLAlchemy's per-row parameter handling: the
benchmark is about reading an archive, and a million trips through the posting rules would
take hours. Each table is loaded in large batches over one connection — ``COPY`` on
PostgreSQL, ``executemany`` on SQLite — with the values made ready by the columns' own
types (so dates and enums are stored exactly as the application stores them), foreign
keys unchecked (the rows are consistent by construction) and the secondary indexes, the
full-text ones included, built once at the end instead of row by row (and PostgreSQL's
search vectors computed then, on every core). The text of the
posts is made on every core, in numbered chunks each with its own seed, so the archive is
the same however many cores made it.

The text is made to make search meaningful: a vocabulary of invented words drawn with a
Zipf distribution (a few very common words, a long tail of rare ones), plus words of each
community's own topic, so a query can match a million posts, thousands or a handful.
Threads have 1–30 posts, short ones far more often than long ones, as on real lists;
community sizes are skewed the same way; one community in ten is private.
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing
import os
import queue
import random
import sys
import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing.pool import AsyncResult
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import Engine, Index, Table, func, inspect, select
from sqlalchemy.schema import CreateIndex, DropIndex

from forum import schema
from forum.db import make_engine
from forum.models import (
    POSTGRES_SEARCH_VECTOR,
    Base,
    Community,
    Delivery,
    Membership,
    MemberStatus,
    Post,
    PostSearch,
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
CHUNK = 10_000  # posts made by one worker task and written in one batch
PRIVATE_EVERY = 10  # one community in ten is private
START = datetime(2016, 1, 1, tzinfo=UTC)
SPAN = timedelta(days=3650)
SYLLABLES = [
    "ka",
    "lo",
    "mi",
    "ne",
    "ru",
    "sa",
    "ti",
    "vo",
    "ze",
    "bra",
    "cle",
    "dri",
    "fo",
    "gan",
    "hel",
    "jor",
    "kin",
    "lum",
    "mar",
    "nor",
    "pel",
    "quo",
    "ris",
    "sten",
    "tor",
    "ul",
    "ver",
    "wen",
    "yas",
    "zor",
]
MEMBERSHIPS_PER_USER = 3
THREAD_COLUMNS = ("id", "community_id", "subject", "subject_key", "post_count", "created_at", "last_activity_at")
POST_COLUMNS = (
    "id",
    "community_id",
    "thread_id",
    "parent_id",
    "author_id",
    "author_name",
    "author_email",
    "message_id",
    "subject",
    "body",
    "quoted",
    "html",
    "source",
    "status",
    "hold_reason",
    "created_at",
)


@dataclass(frozen=True)
class Scale:
    posts: int
    communities: int
    users: int

    def path(self, data: Path) -> Path:
        return data / f"archive-{self.posts}p-{self.communities}c-{self.users}u.db"


@dataclass(frozen=True)
class Generated:
    url: str
    seconds: float  # 0.0 when it was already there


class Words:
    """Invented words with Zipf frequencies: word ``i`` is drawn with weight 1/(i+1)."""

    def __init__(self) -> None:
        rng = random.Random(SEED)
        made: dict[str, None] = {}
        while len(made) < VOCABULARY:
            made["".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))] = None
        self.words = list(made)
        self.cumulative = list(itertools.accumulate(1.0 / (i + 1) for i in range(VOCABULARY)))

    def draw(self, rng: random.Random, count: int) -> list[str]:
        return rng.choices(self.words, cum_weights=self.cumulative, k=count)

    def topic(self, community: int) -> list[str]:
        """Mid-frequency words a community talks about more than others do."""
        start = 200 + (community * TOPIC_WORDS) % (VOCABULARY - 400)
        return self.words[start : start + TOPIC_WORDS]


# Where the archive goes ---------------------------------------------------------------------


def generate_in_folder(data: Path, scale: Scale) -> Generated:
    """The SQLite archive for ``scale`` under ``data``, made now unless it is already there.
    It is made under another name and renamed when complete, so an interrupted run leaves
    nothing that looks finished."""
    path = scale.path(data)
    if path.exists():
        return generate(f"sqlite:///{path}", scale)
    data.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    for stale in data.glob(partial.name + "*"):
        stale.unlink()
    seconds = generate(f"sqlite:///{partial}", scale).seconds
    partial.rename(path)
    return Generated(f"sqlite:///{path}", seconds)


def generate(url: str, scale: Scale) -> Generated:
    """The archive for ``scale`` in the database at ``url``: reused if it holds one of that
    size, made if the database is empty, refused otherwise (it is not ours to overwrite)."""
    engine = make_engine(url)
    try:
        held = _posts_held(engine)
        if held == scale.posts:
            schema.upgrade(engine)  # made by an earlier version: brought to the current schema
            return Generated(url, 0.0)
        if held:
            raise SystemExit(
                f"{engine.url.render_as_string()} holds {held:,} posts, not {scale.posts:,}: "
                "give an empty database (drop and create it again)"
            )
        start = time.perf_counter()
        schema.upgrade(engine)
        _fill(engine, scale, start)
        return Generated(url, time.perf_counter() - start)
    finally:
        engine.dispose()  # the last connection to close checkpoints SQLite's write-ahead log


def _posts_held(engine: Engine) -> int:
    if not inspect(engine).has_table(Post.__tablename__):
        return 0
    with engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(Post)) or 0


def _fill(engine: Engine, scale: Scale, start: float) -> None:
    rng = random.Random(SEED)
    with _Loader(engine) as loader:
        _people(loader, rng, scale)
        _communities(loader, rng, scale)
        # On PostgreSQL two copies at once keep both cores busy, and so do two halves of the
        # search vectors computed. SQLite has one writer.
        with (
            loader.indexes_deferred(_table(Thread), _table(Post), _table(PostSearch)),
            _Loader(engine) if loader.postgresql else nullcontext() as second,
        ):
            loaders = [x for x in (loader, second) if x is not None]
            _threads_and_posts(loaders, rng, scale, start)
            if loader.postgresql:
                _search_vectors(loaders, scale, start)
        _progress(f"indexes built, {time.perf_counter() - start:.0f} s")
        loader.finish()
    _progress(f"statistics gathered, {time.perf_counter() - start:.0f} s")


def _progress(text: str) -> None:
    print(f"  {text}", file=sys.stderr, flush=True)


def _table(model: type[Base]) -> Table:
    """The model's table, typed as one (the declarative attribute is typed as any FROM clause)."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


class _Loader:
    """Loads tables in large batches over one connection, foreign keys unchecked."""

    def __init__(self, engine: Engine) -> None:
        self.dialect = engine.dialect
        self.postgresql = engine.dialect.name == "postgresql"
        self.raw: Any = engine.raw_connection()
        cursor = self.raw.cursor()
        if self.postgresql:
            cursor.execute("SET session_replication_role = replica")  # no foreign-key triggers
            cursor.execute("SET maintenance_work_mem = '512MB'")
        else:
            cursor.execute("PRAGMA foreign_keys = OFF")
            cursor.execute("PRAGMA synchronous = OFF")
        self.raw.commit()

    def __enter__(self) -> _Loader:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.raw.close()

    def write(self, table: Table, columns: tuple[str, ...], rows: Iterable[tuple[Any, ...]]) -> None:
        """Insert ``rows`` (values in the order of ``columns``) in one transaction."""
        processors = [table.c[name].type.dialect_impl(self.dialect).bind_processor(self.dialect) for name in columns]
        ready = (
            tuple(value if p is None else p(value) for p, value in zip(processors, row, strict=True)) for row in rows
        )
        cursor = self.raw.cursor()
        names = ", ".join(columns)
        if self.postgresql:
            with cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
                for row in ready:
                    copy.write_row(row)
        else:
            cursor.execute("BEGIN")
            cursor.executemany(f"INSERT INTO {table.name} ({names}) VALUES ({', '.join('?' * len(columns))})", ready)
        if self.postgresql:
            self.raw.commit()
        else:
            cursor.execute("COMMIT")

    def _execute(self, sql: str) -> None:
        cursor = self.raw.cursor()
        cursor.execute(sql)
        if self.postgresql:
            self.raw.commit()

    def _ddl(self, index: Index, action: str) -> None:
        statement = CreateIndex(index) if action == "create" else DropIndex(index)
        self._execute(str(statement.compile(dialect=self.dialect)))

    def indexes_deferred(self, *tables: Table) -> _Deferred:
        return _Deferred(self, tables)

    def finish(self) -> None:
        """Merge SQLite's full-text index into one segment and gather planner statistics."""
        if not self.postgresql:
            self._execute(f"INSERT INTO {schema.SQLITE_SEARCH_TABLE}({schema.SQLITE_SEARCH_TABLE}) VALUES ('optimize')")
        self._execute("ANALYZE")


@dataclass
class _Deferred:
    """Secondary indexes of ``tables`` dropped for the load and built after it. No trigger
    fires for the loaded rows (PostgreSQL's replica mode; on SQLite the insert triggers on
    posts are dropped, read back from the schema first, and put back), so SQLite's
    full-text index is built at the end too, and the digests' publication log stays empty:
    this is an archive brought in, not new posts."""

    loader: _Loader
    tables: tuple[Table, ...]

    def __enter__(self) -> None:
        cursor = self.loader.raw.cursor()
        names = {t.name for t in self.tables}
        if self.loader.postgresql:
            cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = ANY(%s)", (list(names),))
        else:
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
        present = {name for (name,) in cursor.fetchall()}
        self.indexes = [i for t in self.tables for i in t.indexes if i.name in present]
        for index in self.indexes:
            self.loader._ddl(index, "drop")
        self.triggers: list[tuple[str, str]] = []
        if not self.loader.postgresql:
            cursor.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND sql LIKE '%INSERT ON posts%'"
            )
            self.triggers = cursor.fetchall()
            for name, _sql in self.triggers:
                self.loader._execute(f"DROP TRIGGER {name}")

    def __exit__(self, *exc: object) -> None:
        if exc[0] is not None:
            return
        for index in self.indexes:
            _progress(f"building {index.name}")
            self.loader._ddl(index, "create")
        if self.triggers:
            _progress("building the full-text index")
            for table in (schema.SQLITE_SEARCH_TABLE, schema.SQLITE_WELSH_SEARCH_TABLE):  # each of its posts
                self.loader._execute(f"INSERT INTO {table}({table}) VALUES ('rebuild')")
            for _name, sql in self.triggers:
                self.loader._execute(sql)


def _search_vectors(loaders: list[_Loader], scale: Scale, start: float) -> None:
    """PostgreSQL's search table (forum.models.PostSearch), which its triggers would fill
    (they do not fire in replica mode), in one share of the ids per loader at once."""
    share = -(-scale.posts // len(loaders))
    statements = [
        f"INSERT INTO {PostSearch.__tablename__} (post_id, community_id, status, language, search_vector) "
        f"SELECT id, community_id, status, language, {POSTGRES_SEARCH_VECTOR} FROM posts "
        f"WHERE id > {n * share} AND id <= {(n + 1) * share}"
        for n in range(len(loaders))
    ]
    with ThreadPoolExecutor(len(loaders)) as pool:
        list(pool.map(_Loader._execute, loaders, statements))
    _progress(f"search vectors computed, {time.perf_counter() - start:.0f} s")


# The rows -----------------------------------------------------------------------------------


def _people(loader: _Loader, rng: random.Random, scale: Scale) -> None:
    first = ["Ana", "Ben", "Chen", "Dara", "Eli", "Fatima", "Gus", "Hana", "Ivo", "Jo", "Kemal", "Lena", "Mo", "Nia"]
    last = ["Abbott", "Baker", "Costa", "Dubois", "Evans", "Fischer", "Garcia", "Horvat", "Ito", "Jones", "Kowalski"]
    names = [f"{rng.choice(first)} {rng.choice(last)}" for _ in range(scale.users)]
    loader.write(
        _table(User),
        ("id", "display_name", "created_at", "login_generation"),
        ((i + 1, name, START, 0) for i, name in enumerate(names)),
    )
    loader.write(
        _table(UserEmail),
        ("user_id", "email", "is_primary", "verified"),
        ((i + 1, f"user{i + 1}@example.org", True, True) for i in range(scale.users)),
    )


def _community_weights(scale: Scale) -> list[float]:
    return [1.0 / (i + 10) for i in range(scale.communities)]  # skewed: big ones and many small


def _communities(loader: _Loader, rng: random.Random, scale: Scale) -> None:
    loader.write(
        _table(Community),
        ("id", "slug", "name", "description", "created_at", "visibility", "posting_policy", "subject_prefix"),
        (
            (
                c + 1,
                f"c{c + 1:04d}",
                f"Community {c + 1}",
                "",
                START,
                Visibility.private if (c + 1) % PRIVATE_EVERY == 0 else Visibility.public,
                "members",
                "",
            )
            for c in range(scale.communities)
        ),
    )
    weights = _community_weights(scale)
    pairs = {
        (user, community)
        for user in range(1, scale.users + 1)
        for community in rng.choices(range(1, scale.communities + 1), weights, k=MEMBERSHIPS_PER_USER)
    }
    loader.write(
        _table(Membership),
        ("user_id", "community_id", "role", "delivery", "status", "bounce_score", "bounce_reason", "created_at"),
        ((u, c, Role.member, Delivery.each, MemberStatus.active, 0.0, "", START) for u, c in sorted(pairs)),
    )


@dataclass(frozen=True)
class _Chunk:
    """Threads whose posts one worker writes: (thread id, first post id, size, community)."""

    number: int
    threads: list[tuple[int, int, int, int]]


def _chunks(rng: random.Random, scale: Scale) -> Iterator[_Chunk]:
    weights = [1.0 / size for size in range(1, MAX_THREAD + 1)]
    communities = range(1, scale.communities + 1)
    community_weights = _community_weights(scale)
    threads: list[tuple[int, int, int, int]] = []
    post_id, left, number = 1, scale.posts, 0
    for thread_id in itertools.count(1):
        if left <= 0:
            break
        size = min(left, rng.choices(range(1, MAX_THREAD + 1), weights)[0])
        threads.append((thread_id, post_id, size, rng.choices(communities, community_weights)[0]))
        post_id += size
        left -= size
        if post_id - threads[0][1] >= CHUNK:
            yield _Chunk(number, threads)
            threads, number = [], number + 1
    if threads:
        yield _Chunk(number, threads)


def _threads_and_posts(loaders: list[_Loader], rng: random.Random, scale: Scale, start: float) -> None:
    """Made on every core, written by ``loaders`` as chunks come (at most a few ahead)."""
    written = 0
    free: queue.SimpleQueue[_Loader] = queue.SimpleQueue()
    for loader in loaders:
        free.put(loader)

    def write(rows: tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]) -> None:
        nonlocal written
        loader = free.get()
        try:
            loader.write(_table(Thread), THREAD_COLUMNS, rows[0])
            loader.write(_table(Post), POST_COLUMNS, rows[1])
        finally:
            free.put(loader)
        written += len(rows[1])
        _progress(
            f"posts {written:,} of {scale.posts:,} ({written / scale.posts:.0%}), {time.perf_counter() - start:.0f} s"
        )

    with (
        multiprocessing.Pool(initializer=_start_worker, initargs=(scale.users,)) as pool,
        ThreadPoolExecutor(len(loaders)) as writers,
    ):
        made: deque[AsyncResult[tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]]] = deque()
        writing: deque[Future[None]] = deque()
        chunks = _chunks(rng, scale)
        while True:
            while len(made) < 2 * (os.cpu_count() or 1) and (chunk := next(chunks, None)) is not None:
                made.append(pool.apply_async(_make_chunk, (chunk,)))
            if not made:
                break
            rows = made.popleft().get()
            while len(writing) >= len(loaders):
                writing.popleft().result()
            writing.append(writers.submit(write, rows))
        for done in writing:
            done.result()


_words: Words | None = None
_users = 0


def _start_worker(users: int) -> None:
    global _words, _users
    _words, _users = Words(), users


def _make_chunk(chunk: _Chunk) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The rows of a chunk's threads and posts, in THREAD_COLUMNS and POST_COLUMNS order."""
    assert _words is not None
    words = _words
    rng = random.Random(SEED * 1_000_003 + chunk.number)
    threads, posts = [], []
    for thread_id, first_post, size, community in chunk.threads:
        topic = words.topic(community)
        subject = " ".join(words.draw(rng, rng.randint(2, 5)) + rng.sample(topic, 1)).capitalize()
        moment = START + SPAN * rng.random()
        first_moment = moment
        parent: int | None = None
        for position, post_id in enumerate(range(first_post, first_post + size)):
            author = rng.randint(1, _users)
            body = words.draw(rng, rng.randint(30, 180))
            for word in rng.choices(topic, k=rng.randint(2, 8)):  # Zipf draws are in random order already
                body.insert(rng.randrange(len(body) + 1), word)
            text, html = _paragraphs(body)
            posts.append(
                (
                    post_id,
                    community,
                    thread_id,
                    parent,
                    author,
                    f"User {author}",
                    f"user{author}@example.org",
                    f"p{post_id}@bench.example",
                    ("Re: " if position else "") + subject,
                    text,
                    "",
                    html,
                    "email",
                    PostStatus.published,
                    "",
                    moment,
                )
            )
            parent = post_id
            last_moment = moment
            moment += timedelta(minutes=rng.randint(5, 3000))
        threads.append((thread_id, community, subject, subject_key(subject), size, first_moment, last_moment))
    text, html = posts[0][9], posts[0][11]
    if text_to_html(text) != html:  # one post a chunk keeps the shortcut honest
        raise RuntimeError(f"generated HTML differs from forum.text.text_to_html for {text[:60]!r}")
    return threads, posts


def _paragraphs(words: list[str]) -> tuple[str, str]:
    """The text, and its HTML as ``forum.text.text_to_html`` makes it: for text of words and
    full stops that is only paragraphs (checked on one post of every chunk), and linkifying
    and sanitizing a million posts would cost most of the generation."""
    sentences = [" ".join(words[i : i + 12]).capitalize() + "." for i in range(0, len(words), 12)]
    paragraphs = [" ".join(sentences[i : i + 4]) for i in range(0, len(sentences), 4)]
    return "\n\n".join(paragraphs), "".join(f"<p>{p}</p>\n" for p in paragraphs)


def scale_arguments(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--data", type=Path, help="Folder the generated SQLite database is kept in.")
    where.add_argument("--database", help="URL of a database to fill (empty) or reuse (same scale).")
    parser.add_argument("--posts", type=int, default=1_000_000)
    parser.add_argument("--communities", type=int, default=1500)
    parser.add_argument("--users", type=int, default=70_000)


def generate_from(args: argparse.Namespace) -> Generated:
    scale = Scale(args.posts, args.communities, args.users)
    return generate_in_folder(args.data, scale) if args.data else generate(args.database, scale)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    scale_arguments(parser)
    done = generate_from(parser.parse_args())
    took = f"generated in {done.seconds:.0f} s" if done.seconds else "already there"
    print(f"{done.url}: {took}")


if __name__ == "__main__":
    main()
