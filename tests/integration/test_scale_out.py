"""Scale-out on PostgreSQL: several ``listbridge serve --only worker`` processes share one
outbox and every member gets every post exactly once, and a worker killed with SIGKILL in
the middle of its batch loses nothing.

Real processes throughout: the workers are ``listbridge serve`` as an operator runs them,
the smarthost is a separate sink process storing each message as an ``.eml`` file, and
the test reads the envelope recipient and the post of every file it stored. The posts are
committed through the core, as the gateway's spool processor commits them, followed by
the ``NOTIFY`` a committing process sends.
"""

from __future__ import annotations

import collections
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from forum import schema
from forum.db import make_engine, make_sessionmaker
from forum.directory import create_community, member_row, upsert_members
from forum.posting import Draft, submit_post
from forum.site import Site
from listbridge.outbox_signals import NOTIFY_CHANNEL
from tests.integration.served import ServedSite

POSTER = "poster@members.example"
CONNECTIONS = 4  # smarthost connections per worker


@pytest.fixture
def postgres(db_url: str) -> str:
    # A plain skip, even in CI: its SQLite pass has no PostgreSQL by design, and its
    # PostgreSQL pass (-m db) sets the URL; an unreachable server fails there (conftest).
    if not db_url.startswith("postgresql"):
        pytest.skip("scale-out needs PostgreSQL: set LISTBRIDGE_TEST_DATABASE_URL (SQLite has a single writer)")
    return db_url


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[Path]:
    """A smarthost in a process of its own; yields the directory it stores messages in."""
    directory, port_file = tmp_path / "sink", tmp_path / "sink.port"
    proc = subprocess.Popen([sys.executable, "-m", "tests.support", "sink", str(directory), str(port_file)])
    deadline = time.monotonic() + 20
    while not port_file.exists():
        assert proc.poll() is None and time.monotonic() < deadline, "the sink did not start"
        time.sleep(0.05)
    try:
        yield directory
    finally:
        proc.terminate()
        proc.wait(10)


def sink_port(directory: Path) -> int:
    return int((directory.parent / "sink.port").read_text())


class Worker(ServedSite):
    """``listbridge serve --only worker``."""

    def __init__(self, workdir: Path, db_url: str, smarthost_port: int, lease_seconds: float = 300) -> None:
        super().__init__(workdir, db_url, smarthost_port)
        config = self.config.read_text()
        config = config.replace("[smtp_out]\n", f"[smtp_out]\nconnections = {CONNECTIONS}\n")
        config = config.replace("[delivery]\n", f"[delivery]\nclaim_lease_seconds = {lease_seconds}\n")
        self.config.write_text(config)

    def start(self) -> None:
        self.launch()
        self.wait_started()

    def launch(self) -> None:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "listbridge", "--config", str(self.config), "serve", "--only", "worker"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def wait_started(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + 30
        while "delivery started" not in self.log():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the worker did not start:\n{self.log()}")
            time.sleep(0.05)


def workers(tmp_path: Path, db_url: str, port: int, count: int, lease_seconds: float = 300) -> list[Worker]:
    made = []
    for i in range(count):
        workdir = tmp_path / f"worker{i}"
        workdir.mkdir()
        made.append(Worker(workdir, db_url, port, lease_seconds))
    return made


def prepare(db_url: str, members: int) -> list[str]:
    """A community of ``members`` plus the poster; its members' addresses."""
    engine = make_engine(db_url)
    schema.upgrade(engine)
    addresses = [f"m{i}@members.example" for i in range(members)]
    with make_sessionmaker(engine).begin() as session:
        community = create_community(session, "national", "National")
        upsert_members(session, community, [member_row(a, a.split("@")[0]) for a in [POSTER, *addresses]])
    engine.dispose()
    return addresses


def post(db_url: str, site: Site, subjects: list[str]) -> None:
    engine = make_engine(db_url)
    with make_sessionmaker(engine).begin() as session:
        for subject in subjects:
            submit_post(
                session,
                Draft(
                    community="national",
                    author_email=POSTER,
                    author_name="Poster",
                    subject=subject,
                    body=f"Body of {subject}.\n",
                    message_id=f"{subject.replace(' ', '-')}@members.example",
                ),
                site,
            )
    with engine.connect() as conn:  # what a gateway, web or scheduler process sends after its commit
        conn.execute(text("SELECT pg_notify(:c, '')"), {"c": NOTIFY_CHANNEL})
        conn.commit()
    engine.dispose()


def received(directory: Path) -> collections.Counter[tuple[str, str]]:
    """(recipient, subject) → copies the sink stored."""
    got: collections.Counter[tuple[str, str]] = collections.Counter()
    for path in directory.glob("*.eml"):
        rcpt = subject = ""
        with path.open("rb") as f:
            for line in f:
                if line.startswith(b"X-Original-To: "):
                    rcpt = line[15:].strip().decode()
                elif line.startswith(b"Subject: "):
                    subject = line[9:].strip().decode()
                elif line in (b"\r\n", b"\n"):
                    break
        got[(rcpt, subject)] += 1
    return got


def outbox_left(db_url: str) -> int:
    engine = make_engine(db_url)
    with engine.connect() as conn:
        left = conn.scalar(text("SELECT count(*) FROM outbox WHERE status <> 'done'"))
    engine.dispose()
    return int(left or 0)


def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def expect(addresses: list[str], subjects: list[str]) -> set[tuple[str, str]]:
    return {(a, s) for a in addresses for s in subjects}


def check_subjects(got: collections.Counter[tuple[str, str]], subjects: list[str]) -> None:
    # Subjects carry the community's tag; map each back to the post it names.
    renamed: collections.Counter[tuple[str, str]] = collections.Counter()
    for (rcpt, subject), n in got.items():
        names = [s for s in subjects if subject.endswith(s)]
        assert len(names) == 1, f"unexpected subject {subject!r}"
        renamed[(rcpt, names[0])] += n
    got.clear()
    got.update(renamed)


def test_four_workers_deliver_each_copy_exactly_once(
    postgres: str, site: Site, sink: Path, tmp_path: Path, record_measurement
) -> None:
    addresses = prepare(postgres, 1000)
    subjects = [f"Post {i:02d}" for i in range(10)]
    pool = workers(tmp_path, postgres, sink_port(sink), 4)
    try:
        for worker in pool:
            worker.launch()
        for worker in pool:
            worker.wait_started()
        started = time.monotonic()
        post(postgres, site, subjects)
        wait_until(lambda: outbox_left(postgres) == 0, 90, "10,000 deliveries by 4 workers")
        elapsed = time.monotonic() - started
    finally:
        codes = [worker.stop() for worker in pool]
    assert codes == [0, 0, 0, 0], "\n".join(w.log() for w in pool)
    time.sleep(0.3)  # the sink stores its last files
    got = received(sink)
    check_subjects(got, subjects)
    wanted = expect(addresses, subjects)
    assert set(got) == wanted, f"missing {len(wanted - set(got))}, unexpected {len(set(got) - wanted)}"
    twice = {key: n for key, n in got.items() if n != 1}
    assert not twice, f"{len(twice)} copies sent more than once, e.g. {list(twice.items())[:5]}"
    record_measurement(f"scale-out: 4 worker processes delivered 10,000 copies exactly once in {elapsed:.1f} s")


def test_a_worker_killed_mid_batch_loses_nothing_and_repeats_at_most_its_last_copy_per_connection(
    postgres: str, site: Site, sink: Path, tmp_path: Path, record_measurement
) -> None:
    """SIGKILL one of two workers while both are sending; the other, once the dead one's
    claims run out (a 3-second lease here, 5 minutes by default), sends what it had not.

    Exactly once is what SMTP cannot promise across a crash (RFC 1047): the smarthost
    may have accepted a copy whose acceptance the dead worker had not yet written. The
    worker keeps that to one copy per connection (it writes each outcome before ending its
    next message on that connection), so the test proves: every copy arrived, and no more
    than one per connection of the killed worker arrived twice.
    """
    addresses = prepare(postgres, 3000)
    subjects = ["Killed mid-batch"]
    victim, survivor = workers(tmp_path, postgres, sink_port(sink), 2, lease_seconds=3)
    try:
        for worker in (victim, survivor):
            worker.launch()
        for worker in (victim, survivor):
            worker.wait_started()
        post(postgres, site, subjects)
        wait_until(lambda: len(list(sink.glob("*.eml"))) >= 900, 60, "the first 900 copies")
        assert victim.proc is not None and victim.proc.poll() is None
        victim.proc.kill()  # SIGKILL: no handler runs, nothing is flushed or handed back
        victim.proc.wait(10)
        stored_at_kill = len(list(sink.glob("*.eml")))
        wait_until(lambda: outbox_left(postgres) == 0, 90, "the survivor to send what the killed worker held")
    finally:
        victim.stop()
        survivor_code = survivor.stop()
    assert survivor_code == 0, survivor.log()
    time.sleep(0.3)  # the sink stores its last files
    got = received(sink)
    check_subjects(got, subjects)
    wanted = expect(addresses, subjects)
    assert set(got) - wanted == set()
    assert wanted - set(got) == set(), f"{len(wanted - set(got))} copies lost"
    twice = {key: n for key, n in got.items() if n != 1}
    assert all(n == 2 for n in twice.values()), twice
    assert len(twice) <= CONNECTIONS, f"{len(twice)} copies sent twice (at most {CONNECTIONS}): {twice}"
    record_measurement(
        f"SIGKILL of a worker after {stored_at_kill} of 3,000 copies: none lost, "
        f"{len(twice)} sent twice (bound: {CONNECTIONS}, one per connection)"
    )
