"""``GET /healthz`` of the web app: queues' depth and age, never their content."""

from __future__ import annotations

from datetime import timedelta

from flask.testing import FlaskClient
from sqlalchemy import update
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker as SessionMaker

from forum import outbox
from forum.models import OutboxItem, utcnow
from forum.posting import Draft, submit_post
from forum.site import Site
from tests.support import make_community, make_member


def test_healthz_counts_what_waits_and_says_nothing_of_it(
    client: FlaskClient, site: Site, sessionmaker: SessionMaker[Session]
) -> None:
    with sessionmaker.begin() as session:
        housing = make_community(session, "housing")
        make_member(session, housing, "ann@example.org")
        make_member(session, housing, "bob@example.org")
        submit_post(
            session,
            Draft(
                community="housing",
                author_email="bob@example.org",
                subject="Rota",
                body="Who covers Friday?",
                hold_reason="a first post",
            ),
            site,
        )
    answer = client.get("/healthz")
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["ok"] is True
    assert body["services"] == {"web": {"state": "running", "detail": ""}}
    assert body["queues"]["held"]["pending"] == 1 and body["queues"]["held"]["oldest_seconds"] >= 0
    assert body["queues"]["inbound"] == {"pending": 0, "oldest_seconds": None, "ok": True}
    assert not any(word in answer.text for word in ("Rota", "Friday", "bob", "housing"))


def test_an_outbox_row_waiting_too_long_makes_it_503(client: FlaskClient, sessionmaker: SessionMaker[Session]) -> None:
    with sessionmaker.begin() as session:
        outbox.enqueue_notice(session, dedupe_key="n1", address="ann@example.org", payload={"subject": "Hi"})
        session.execute(update(OutboxItem).values(created_at=utcnow() - timedelta(hours=1)))
    answer = client.get("/healthz")
    assert answer.status_code == 503
    queue = answer.get_json()["queues"]["outbox"]
    assert queue["pending"] == 1 and queue["ok"] is False and queue["oldest_seconds"] >= 3600
