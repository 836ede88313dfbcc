"""Every benchmark script, run at a tiny size: a script that no longer runs, or no longer
prints its figures, fails here instead of on the day someone needs the measurement.

The figures themselves are not checked (a tiny run on a shared machine measures nothing);
each script's own lines are: that it got as far as computing them. Scripts run as
bench/README.md says, from the project's root with the project's interpreter, on SQLite.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from forum import archive, search
from forum.db import make_engine
from forum.models import Community, Post, Thread, Visibility
from tests import matrix_synapse
from tests.corpus import REPO_ROOT, require_corpus
from tests.support import IN_CI, unavailable

pytestmark = pytest.mark.bench


@dataclass(frozen=True)
class Run:
    script: str
    args: tuple[str, ...]  # "{tmp}" stands for a folder of the run's own
    prints: tuple[str, ...]  # patterns, each of which some line of the output must match

    def __str__(self) -> str:
        return self.script


ARCHIVE_FIGURES = r"\s+\d+ ok\s+0 errors\s+median\s+[\d.]+ ms .* server CPU\s+[\d.]+ ms/req"

RUNS = [
    Run(
        "digest_run.py",
        ("--members", "40", "--communities", "10", "--posts", "30"),
        (
            r"^40 members, \d+ memberships, 10 communities, 30 posts",
            r"digest run: 40 digests queued in [\d.]+ s",
            r"baseline: 40 outbox rows of the same size written in [\d.]+ s; ratio [\d.]+",
            r"stored: \d+ shared blocks",
        ),
    ),
    Run(
        "fanout.py",
        ("--members", "12", "--connections", "2"),
        (
            r"fan-out: 11 personal copies in [\d.]+ s = \d+ copies/s",
            r"^ratio: [\d.]+",
            r"first copy: \d+ ms after the post's commit",
        ),
    ),
    Run(
        "ingest.py",
        ("--messages", "8", "--senders", "2", "--members", "3"),
        (
            r"gateway: \d+ posts/s accepted and stored \(all 8 stored",
            r"^ratio: [\d.]+",
            r"processed into 8 posts",
            r"CPU per post: [\d.]+ ms accepting",
        ),
    ),
    Run(
        "email_loop.py",
        ("--members", "6", "--posts", "1"),
        (
            r"post 1/1: first copy \d+ ms after the 250, all 5 in [\d.]+ s",
            r"250 -> last copy: median [\d.]+ s",
            r"^ratio: [\d.]+",
        ),
    ),
    Run("hostile.py", ("--only", "rcpt-100x"), (r"^\| rcpt-100x \| 250 .* \| [\d.]+ s \|",)),
    Run(
        "chat_latency.py",
        ("--posts", "2", "--rate", "20"),
        (r"email -> chat API call: n=2 median \d+ ms", r"chat event -> copy at the smarthost: n=2 median \d+ ms"),
    ),
    # It generates its archive with bench/generate_archive.py, then serves it.
    Run(
        "archive.py",
        (
            "--data",
            "{tmp}",
            "--posts",
            "300",
            "--communities",
            "4",
            "--users",
            "30",
            "--clients",
            "2",
            "--requests",
            "3",
        ),
        (
            r"^archive: 300 posts, 4 communities, 30 people on sqlite",
            r"^static file" + ARCHIVE_FIGURES,
            r"^thread page" + ARCHIVE_FIGURES,
            r"^search" + ARCHIVE_FIGURES,
            r"^server memory \(\d+ process",
        ),
    ),
    Run(
        "people.py",
        ("--data", "{tmp}", "--posts", "300", "--communities", "4", "--users", "30", "--requests", "10"),
        (
            r"^people: 30 profiles, 300 posts, 4 communities on sqlite",
            r"^area word\s+n=2\s+median\s+[\d.]+ ms\s+p95\s+[\d.]+ ms",
            r"^all\s+n=10\s+median\s+[\d.]+ ms\s+p95\s+[\d.]+ ms",
        ),
    ),
    # The bridge's own client only (mautrix and matrix-nio are installed just to compare).
    Run(
        "matrix_client.py",
        ("--messages", "4"),
        (
            r"^4 messages each, one at a time, to Synapse on loopback",
            r"^urllib \(the bridge's MatrixApi\)\s+[\d.]+\s+1\.00",
        ),
    ),
    Run(
        "trim_accuracy.py",
        (),
        (
            r"reply_trimmer: \d+/\d+ \([\d.]+%\) trimmed bodies exact",
            r"discourse_receiver post_raw: \d+/\d+ \([\d.]+%\) loosely equal",
        ),
    ),
]


@pytest.mark.parametrize("run", RUNS, ids=str)
def test_script_runs_and_prints_its_figures(run: Run, tmp_path: Path) -> None:
    if run.script == "trim_accuracy.py":
        require_corpus()
    if run.script == "matrix_client.py" and matrix_synapse.synapse_venv(may_build=IN_CI) is None:
        unavailable(f"no Synapse virtualenv at {matrix_synapse.VENV}: python -m tests.matrix_synapse build")
    args = [arg.replace("{tmp}", str(tmp_path)) for arg in run.args]
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "bench" / run.script), *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"bench/{run.script} exited with {done.returncode}:\n{done.stdout}\n{done.stderr}"
    for pattern in run.prints:
        assert re.search(pattern, done.stdout, re.M), f"no line matches {pattern!r} in:\n{done.stdout}"


def test_generated_archive_reads_through_the_core(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """bench/generate_archive.py writes model rows in bulk, bypassing the core for speed: what
    it writes must still be an archive the core reads (a thread page, a search)."""
    spec = importlib.util.spec_from_file_location("generate_archive", REPO_ROOT / "bench" / "generate_archive.py")
    assert spec is not None and spec.loader is not None
    generator = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, generator)  # its dataclasses look their module up
    spec.loader.exec_module(generator)
    generated = generator.generate_in_folder(tmp_path, generator.Scale(posts=200, communities=3, users=20))
    engine = make_engine(generated.url)
    try:
        with Session(engine) as session:
            public = select(Community.id).where(Community.visibility == Visibility.public)
            thread = session.scalars(select(Thread).where(Thread.community_id.in_(public)).limit(1)).one()
            community = session.get_one(Community, thread.community_id)
            _, found = archive.readable_community_thread(session, community.slug, thread.id, None)
            posts = archive.thread_posts(session, found.id)
            assert len(posts) == found.post_count > 0
            assert posts[0].subject == thread.subject and posts[0].html.startswith("<p>")
            phrase = " ".join(session.get_one(Post, posts[0].id).body.split()[:5]).strip(".")
            page = search.search(session, None, f'"{phrase}"', community=community.slug)
            assert posts[0].id in [hit.post_id for hit in page.hits], (phrase, page)
    finally:
        engine.dispose()
