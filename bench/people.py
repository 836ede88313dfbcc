"""Finding an expert at scale: /people searches on 70,000 profiles and 1,000,000 posts.

    python bench/people.py --data DIR [--posts 1000000] [--users 70000] [--requests 300]
    python bench/people.py --database URL [--posts …]      # PostgreSQL, or SQLite elsewhere

Generates the archive once (bench/generate_archive.py: its people, communities and posts;
kept in DIR or in the database at URL, so reruns start at once), then gives every person a
profile, once: an organisation and a region, one to four areas of expertise from a list of
400 made of the archive's own words (so a question matches areas and posts alike), and a
choice of who sees it (six in ten their communities', three in ten every member, one in
ten nobody).

Then it asks the web app itself (the WSGI app in this process: the view, the core's
queries and the page, without a server or network) for /people as members chosen at
random, signed in, with questions of five kinds in turn: an area's word (found in areas of
expertise and in posts), a common word (in a large share of the posts), a rare word, an
organisation's place name, and no question (everyone the member may see, by name). It
prints the median and p95 latency of each kind and of all together (one request of each
kind first is not counted: the app's first requests load its templates and catalogues).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from generate_archive import SEED, Words, generate_from, scale_arguments
from sqlalchemy import func, insert, select, text

from forum import browser_sessions
from forum.config import from_dict
from forum.db import make_engine, make_sessionmaker
from forum.models import ExpertiseTag, Profile, ProfileVisibility, User, UserExpertise
from forum.profiles import fold
from web.app import create_app
from web.auth import SESSION_KEY

TAGS = 400
PLACES = [f"Borough{n}" for n in range(300)]
REGIONS = ["Wales", "Scotland", "North West", "North East", "Yorkshire", "Midlands", "South West", "South East"]
SETTINGS = [ProfileVisibility.shared] * 6 + [ProfileVisibility.members] * 3 + [ProfileVisibility.nobody]
BATCH = 10_000


def tag_labels(words: Words) -> list[str]:
    """Areas named by two words of middling frequency, the first of each kept for questions."""
    return [f"{words.words[300 + 7 * i]} {words.words[301 + 7 * i]}" for i in range(TAGS)]


def add_profiles(url: str, users: int, labels: list[str]) -> float:
    """Profiles, areas and their links for every person, unless they are there already."""
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            if conn.scalar(select(func.count()).select_from(Profile)) == users:
                return 0.0
            start = time.perf_counter()
            rng = random.Random(SEED + 1)
            conn.execute(
                insert(ExpertiseTag),
                [{"id": i + 1, "key": fold(label), "label": label} for i, label in enumerate(labels)],
            )
            tag_weights = [1.0 / (i + 3) for i in range(TAGS)]
            for first in range(1, users + 1, BATCH):
                ids = range(first, min(first + BATCH, users + 1))
                conn.execute(
                    insert(Profile),
                    [
                        {
                            "user_id": u,
                            "organisation": f"{rng.choice(PLACES)} Council",
                            "job_title": "Officer",
                            "region": rng.choice(REGIONS),
                            "bio": "",
                            "links": "",
                            "visibility": rng.choice(SETTINGS),
                            "show_email": False,
                        }
                        for u in ids
                    ],
                )
                links = {(u, t) for u in ids for t in rng.choices(range(1, TAGS + 1), tag_weights, k=rng.randint(0, 4))}
                if links:
                    conn.execute(insert(UserExpertise), [{"user_id": u, "tag_id": t} for u, t in sorted(links)])
            took = time.perf_counter() - start
        if engine.dialect.name == "postgresql":  # the planner's statistics, as the generator gathers them
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("ANALYZE profiles, expertise_tags, user_expertise"))
        return took
    finally:
        engine.dispose()


def questions(words: Words, labels: list[str], rng: random.Random) -> dict[str, list[str]]:
    return {
        "area word": [label.split()[0] for label in rng.sample(labels, 40)],
        "common word": words.words[2:12],
        "rare word": words.words[20_000:20_040],
        "place": rng.sample(PLACES, 40),
        "no question": [""],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    scale_arguments(parser)
    parser.add_argument("--requests", type=int, default=300, help="Requests in all, shared among the kinds.")
    args = parser.parse_args()
    generated = generate_from(args)
    words = Words()
    labels = tag_labels(words)
    took = add_profiles(generated.url, args.users, labels)
    engine = make_engine(generated.url)
    print(
        f"people: {args.users} profiles, {args.posts} posts, {args.communities} communities on {engine.dialect.name}"
        + (f" (profiles made in {took:.0f} s)" if took else "")
    )
    with tempfile.TemporaryDirectory() as storage:
        settings = from_dict(
            {
                "site": {"mail_domain": "bench.example", "secret_key": "b" * 40, "base_url": "http://127.0.0.1"},
                "database": {"url": generated.url},
                "storage": {"path": storage},
            },
            base=Path(storage),
        )
        app = create_app(settings)
        client = app.test_client()
        sessions = make_sessionmaker(engine)
        rng = random.Random(SEED + 2)
        with sessions() as db:
            people = db.scalar(select(func.max(User.id))) or 1
        kinds = questions(words, labels, rng)
        timings: dict[str, list[float]] = {kind: [] for kind in kinds}
        for n in range(-len(kinds), args.requests):  # one of each kind first, untimed: the app warms up
            kind = list(kinds)[n % len(kinds)]
            with sessions.begin() as db:
                key = browser_sessions.start(db, rng.randint(1, people))
            with client.session_transaction() as cookie:
                cookie[SESSION_KEY] = key
            start = time.perf_counter()
            response = client.get("/people", query_string={"q": rng.choice(kinds[kind])})
            if n >= 0:
                timings[kind].append((time.perf_counter() - start) * 1000)
            if response.status_code != 200:
                raise SystemExit(f"/people answered {response.status_code}")
        app.extensions["listbridge"].sessions.kw["bind"].dispose()
    engine.dispose()
    every = [t for kind in timings.values() for t in kind]
    for kind, times in [*timings.items(), ("all", every)]:
        print(f"{kind:<12} n={len(times):<4} median {statistics.median(times):7.1f} ms  p95 {p95(times):7.1f} ms")


def p95(times: list[float]) -> float:
    return sorted(times)[max(0, round(0.95 * len(times)) - 1)]


if __name__ == "__main__":
    main()
