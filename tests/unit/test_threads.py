"""Which thread a post lands in, and how threads mend when a reply arrives before its parent."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker as SessionMaker

from forum.config import Settings
from forum.models import Post, Thread, utcnow
from forum.posting import Draft, Outcome, submit_post
from forum.site import Site
from forum.threads import conversation_key, merged_into
from tests.support import make_community

CONVERSATION = bytes(range(22))  # Outlook: 6-byte FILETIME + 16-byte GUID


@pytest.fixture
def post(sessionmaker: SessionMaker[Session], site: Site) -> Callable[..., Outcome]:
    """Submit one post to the open community "housing", in its own transaction."""
    with sessionmaker.begin() as session:
        make_community(session, "housing", policy="open")

    def submit(subject: str = "Boiler repairs", *, site: Site = site, **fields: Any) -> Outcome:
        with sessionmaker.begin() as session:
            draft = Draft(community="housing", author_email="ann@example.org", subject=subject, body="text", **fields)
            return submit_post(session, draft, site)

    return submit


def thread_count(sessionmaker: SessionMaker[Session]) -> int:
    with sessionmaker() as session:
        return session.scalar(select(func.count()).select_from(Thread)) or 0


def test_reply_to_a_named_parent_joins_its_thread(post: Callable[..., Outcome]) -> None:
    root = post().post
    reply = post("something else entirely", parent_id=root.id).post
    assert (reply.thread_id, reply.parent_id) == (root.thread_id, root.id)


def test_reply_found_by_references_joins_the_nearest_known_ancestor(post: Callable[..., Outcome]) -> None:
    root = post(message_id="root@example.org").post
    child = post("Re: Boiler repairs", message_id="child@example.org", references=("root@example.org",)).post
    # The nearest reference is unknown (never delivered here): the next one back still places it.
    grandchild = post(
        "Re: Boiler repairs", references=("root@example.org", "child@example.org", "lost@example.org")
    ).post
    assert child.thread_id == grandchild.thread_id == root.thread_id
    assert grandchild.parent_id == child.id
    assert grandchild.reply_to_message_id == "lost@example.org"


def test_outlook_thread_index_joins_the_conversation(post: Callable[..., Outcome]) -> None:
    root = post("Budget", thread_index=base64.b64encode(CONVERSATION).decode()).post
    reply_index = base64.b64encode(CONVERSATION + b"\x01\x02\x03\x04\x05").decode()
    reply = post("AW: Budget (Entwurf)", thread_index=reply_index).post
    assert reply.thread_id == root.thread_id
    assert conversation_key(reply_index) == (base64.b64encode(CONVERSATION).decode(), True)


def test_a_new_outlook_conversation_is_not_a_reply(post: Callable[..., Outcome]) -> None:
    index = base64.b64encode(CONVERSATION).decode()
    first = post("Budget", thread_index=index).post
    second = post("Budget", thread_index=index).post
    assert first.thread_id != second.thread_id


@pytest.mark.parametrize(("age_days", "joins"), [(0, True), (29, True), (31, False)])
def test_re_subject_joins_a_thread_active_within_30_days(
    post: Callable[..., Outcome], age_days: int, joins: bool
) -> None:
    root = post("Boiler repairs", created_at=utcnow() - timedelta(days=age_days)).post
    reply = post("Re: [housing] boiler  REPAIRS").post
    assert (reply.thread_id == root.thread_id) is joins


def test_same_subject_without_reply_prefix_starts_a_new_thread(post: Callable[..., Outcome]) -> None:
    root = post("Boiler repairs").post
    assert post("Boiler repairs").post.thread_id != root.thread_id
    assert post("Fwd: Boiler repairs").post.thread_id != root.thread_id


def test_zero_days_turns_subject_matching_off(
    post: Callable[..., Outcome], make_settings: Callable[..., Settings]
) -> None:
    no_subjects = Site.from_settings(make_settings(threading={"subject_match_days": 0}))
    # Even a thread whose last activity is in the future (a sender's clock is wrong) is not matched.
    root = post("Boiler repairs", created_at=utcnow() + timedelta(days=1)).post
    assert post("Re: Boiler repairs", site=no_subjects).post.thread_id != root.thread_id


def test_subject_matching_stays_within_the_community(
    post: Callable[..., Outcome], sessionmaker: SessionMaker[Session], site: Site
) -> None:
    root = post("Boiler repairs").post
    with sessionmaker.begin() as session:
        make_community(session, "garden", policy="open")
        other = submit_post(
            session,
            Draft(community="garden", author_email="x@example.org", subject="Re: Boiler repairs", body="text"),
            site,
        ).post
    assert other.thread_id != root.thread_id


def test_reply_arriving_before_its_parent_is_relinked(
    post: Callable[..., Outcome], sessionmaker: SessionMaker[Session]
) -> None:
    early = post("Re: Boiler repairs", message_id="reply@example.org", references=("root@example.org",)).post
    later = post(
        "Re: Boiler repairs", message_id="reply2@example.org", references=("root@example.org", "reply@example.org")
    ).post
    assert early.parent_id is None and later.thread_id == early.thread_id
    root = post("Boiler repairs", message_id="root@example.org", created_at=utcnow() - timedelta(hours=1)).post
    with sessionmaker() as session:
        stored = {p.message_id: p for p in session.scalars(select(Post))}
        thread = session.get(Thread, root.thread_id)
        assert thread is not None
        assert stored["reply@example.org"].parent_id == root.id
        assert {p.thread_id for p in stored.values()} == {root.thread_id}
        assert thread.post_count == 3
        assert thread.created_at == root.created_at
    assert thread_count(sessionmaker) == 1


def test_a_merged_threads_address_leads_to_the_thread_it_joined_and_is_never_reused(
    post: Callable[..., Outcome], sessionmaker: SessionMaker[Session]
) -> None:
    """Its address went out in Archived-At headers: it must keep leading to those posts."""
    root = post("Boiler repairs", message_id="root@example.org").post
    early = post("Re: Damp", message_id="early@example.org", references=("middle@example.org",)).post
    assert early.thread_id != root.thread_id  # the newest thread: SQLite would hand its id out again
    post("Re: Boiler repairs", message_id="middle@example.org", references=("root@example.org",))
    fresh = post("A new question").post
    with sessionmaker() as session:
        assert session.get(Thread, early.thread_id) is None
        assert merged_into(session, early.thread_id) == root.thread_id
        assert merged_into(session, root.thread_id) is None
    assert fresh.thread_id > early.thread_id
