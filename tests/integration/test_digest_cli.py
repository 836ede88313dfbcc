"""Digests as an operator meets them: ``listbridge digest preview`` and ``digest run`` on the
command line, and the scheduler inside a real ``listbridge serve`` sending what is owed."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from forum import db
from forum.config import load
from forum.models import Delivery, DigestCursor, UserEmail, utcnow
from forum.posting import Draft, submit_post
from forum.site import Site
from tests.head_schema import copy_head_schema
from tests.integration.served import DOMAIN, ServedSite, mail
from tests.support import SmtpSink

pytestmark = pytest.mark.integration


@pytest.fixture
def served(tmp_path: Path, db_url: str, smtp_sink: SmtpSink) -> ServedSite:
    """Dan takes housing and planning daily, at an hour the scheduler will not reach during the test."""
    hour = (utcnow().hour + 3) % 24
    site = ServedSite(
        tmp_path, db_url, smarthost_port=smtp_sink.port, extra=f'\n[digest]\nhour = {hour}\ntimezone = "UTC"\n'
    )
    copy_head_schema(db_url)
    for slug, name in (("housing", "Housing Advice"), ("planning", "Planning")):
        site.cli("community", "create", slug, "--name", name)
        site.cli("member", "add", slug, "alice@council.example", "--name", "Alice")
        site.cli("member", "add", slug, "dan@council.example", "--name", "Dan", "--delivery", "daily")
    return site


def digests_to(smtp_sink: SmtpSink, address: str) -> list[str]:
    return [str(m.message["Subject"]) for m in smtp_sink.messages if m.rcpt_tos == [address]]


def test_preview_then_run_sends_one_digest_however_often_it_is_run(served: ServedSite, smtp_sink: SmtpSink) -> None:
    served.start()
    try:
        for i, (slug, subject) in enumerate(
            (("housing", "Homelessness prevention grant"), ("planning", "Local plan consultation"))
        ):
            code, _ = served.send(
                "alice@council.example",
                [f"{slug}@{DOMAIN}"],
                mail(
                    "Alice <alice@council.example>",
                    f"{slug}@{DOMAIN}",
                    subject,
                    f"{subject}: thoughts?\n",
                    f"d{i}@council.example",
                ),
            )
            assert code == 250
        served.wait_until_processed()

        preview = served.cli("digest", "preview", "dan@council.example")
        head, _, body = preview.stdout.partition("\n\n")
        assert head == "To: dan@council.example\nSubject: Daily digest: 2 new posts in 2 communities"
        assert "Homelessness prevention grant" in body and "Local plan consultation" in body
        assert "<!DOCTYPE html>" in served.cli("digest", "preview", "dan@council.example", "--html").stdout
        unknown = served.cli("digest", "preview", "nobody@council.example", check=False)
        assert unknown.returncode == 1 and unknown.stderr.strip().splitlines() == [
            "listbridge: error: no member has the address nobody@council.example"
        ]

        first = served.cli("digest", "run", "--period", "daily")
        assert first.stdout.startswith("daily: 1 digest queued for 1 member owed one"), first.stdout
        assert "daily digests" in first.stderr, "a progress bar"
        smtp_sink.wait_for(1, timeout=20)
        again = served.cli("digest", "run")
        assert again.stdout.splitlines()[0].startswith("daily: 0 digests queued for 0 members")
        assert again.stdout.splitlines()[1].startswith("weekly: 0 digests queued")
        time.sleep(2)
        assert digests_to(smtp_sink, "dan@council.example") == ["Daily digest: 2 new posts in 2 communities"]
    finally:
        assert served.stop() == 0


def test_serve_sends_the_digest_owed_since_it_was_last_running(served: ServedSite, smtp_sink: SmtpSink) -> None:
    """Dan's last digest went out two days ago and a post is new since: on start, the
    scheduler queues his digest and delivery sends it; the job is kept in the database."""
    settings = load(served.config)
    engine = db.make_engine(settings.database.url)
    try:
        sessions = db.make_sessionmaker(engine)
        with sessions.begin() as session:
            submit_post(
                session,
                Draft(
                    community="housing",
                    author_email="alice@council.example",
                    subject="While you were away",
                    body="News.",
                ),
                Site.from_settings(settings),
            )
            dan = session.query(UserEmail).filter_by(email="dan@council.example").one().user_id
            session.add(
                DigestCursor(user_id=dan, period=Delivery.daily, slot_at=utcnow() - timedelta(days=2), high_water=0)
            )
        served.start()
        try:
            smtp_sink.wait_for(1, timeout=20)
            assert digests_to(smtp_sink, "dan@council.example") == ["Daily digest: 1 new post in 1 community"]
            assert "digest scheduler started" in served.log()
        finally:
            assert served.stop() == 0
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM apscheduler_jobs")).scalar_one() == 1
    finally:
        engine.dispose()
