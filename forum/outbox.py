"""The durable record of what must still be sent.

Rows are written in the transaction that creates their reason (a post, a notice), so
nothing is stored without its fan-out. Workers *claim* due rows under a lease: on
PostgreSQL with ``FOR UPDATE SKIP LOCKED`` so many workers share the queue without
blocking each other; on SQLite, where there is a single writer, with one UPDATE. A claim
whose lease ran out (a worker died) becomes claimable again, so nothing is lost; a row is
marked done as soon as its delivery is confirmed, so a restart re-sends at most what was
in flight. Temporary failures back off exponentially; permanent ones are recorded.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, String, and_, bindparam, cast, false, func, insert, literal, select, update
from sqlalchemy.orm import Session

from forum import db
from forum.models import (
    ChatLink,
    ChatMessage,
    Delivery,
    Membership,
    MemberStatus,
    OutboxItem,
    OutboxStatus,
    Post,
    User,
    UserEmail,
    utcnow,
)
from forum.outbox_signal import mark_queued

POST_EMAIL = "post_email"  # a personal copy of a post: user_id, post_id
NOTICE_EMAIL = "notice_email"  # a ready-made message to one address: payload subject/text/html
DIGEST_EMAIL = "digest_email"  # a member's digest: payload subject, slug and parts (see forum.digests)
# A post's copy in a linked chat channel, and later changes to that copy: ``chat_kind``
# names them per platform ("slack_post", "matrix_edit" …), so each bridge's worker claims
# its own rows and a Slack outage never holds up Matrix. post_id, payload {"link_id"}.
CHAT_ACTIONS = ("post", "edit", "delete")


def chat_kind(platform: str, action: str) -> str:
    return f"{platform}_{action}"


def chat_kinds(platform: str) -> tuple[str, ...]:
    return tuple(chat_kind(platform, action) for action in CHAT_ACTIONS)


# Outcomes are written by sessions or, by delivery's recorder, on a connection of their own.
Executor = Session | Connection


@dataclass(frozen=True)
class Claimed:
    """A claimed outbox row, detached from the session: what a worker needs to send it."""

    id: int
    kind: str
    post_id: int | None
    user_id: int | None
    address: str
    payload: dict[str, Any]
    attempts: int
    created_at: datetime
    language: str | None = None  # the member's own choice for mail ("cy", "en"), None if none
    plain_text: bool = False  # the member takes mail as a single text/plain part


def fan_out_post(session: Session, post: Post, *, include_author: bool) -> int:
    """Queue a personal copy of ``post`` for every active member who takes each post by mail.

    One ``INSERT … SELECT``: a 10,000-member community costs one statement, not 10,000.
    Returns the number of copies queued.
    """
    now = utcnow()
    conditions = [
        Membership.community_id == post.community_id,
        Membership.status == MemberStatus.active,
        Membership.delivery == Delivery.each,
    ]
    if not include_author and post.author_id is not None:
        conditions.append(Membership.user_id != post.author_id)
    rows = (
        select(
            literal(POST_EMAIL),
            literal(f"{POST_EMAIL}:{post.id}:", String) + cast(Membership.user_id, String),
            literal(post.id),
            Membership.user_id,
            UserEmail.email,
            literal({}, OutboxItem.payload.type),
            literal(OutboxStatus.pending.value),
            literal(0),
            literal(now, OutboxItem.not_before.type),
            literal("", OutboxItem.last_error.type),
            literal(now, OutboxItem.created_at.type),
        )
        .join(UserEmail, and_(UserEmail.user_id == Membership.user_id, UserEmail.is_primary.is_(True)))
        .where(*conditions)
        .order_by(Membership.id)
    )
    cols = [
        "kind",
        "dedupe_key",
        "post_id",
        "user_id",
        "address",
        "payload",
        "status",
        "attempts",
        "not_before",
        "last_error",
        "created_at",
    ]
    # An INSERT's rowcount is kept only on request (without it, psycopg reports -1).
    result = session.execute(insert(OutboxItem).from_select(cols, rows).execution_options(preserve_rowcount=True))
    added = db.rowcount(result)
    if added:
        mark_queued(session)
    return added or 0


def fan_out_chat(session: Session, post: Post) -> int:
    """Queue a copy of ``post`` for every chat channel its community is linked to.

    A channel the post came from is queued too: the bridge's worker finds the post
    already mapped there and sends nothing, so the rule lives in one place (the mapping).
    """
    links = session.execute(
        select(ChatLink.id, ChatLink.platform, ChatLink.channel).where(ChatLink.community_id == post.community_id)
    ).all()
    for link_id, platform, channel in links:
        _enqueue_once(
            session,
            OutboxItem(
                kind=chat_kind(platform, "post"),
                dedupe_key=f"chat_post:{post.id}:{link_id}",
                post_id=post.id,
                address=channel,
                payload={"link_id": link_id},
            ),
        )
    return len(links)


def queue_chat_change(session: Session, post: Post, action: str) -> int:
    """Queue an edit or a deletion of every chat copy the bridge wrote of ``post``.

    Only copies the bridge wrote (``ours``): a message a person wrote in chat is theirs
    to change, and is where the change came from in the first place.
    """
    copies = session.execute(
        select(ChatLink.id, ChatLink.platform, ChatLink.channel)
        .join(ChatMessage, ChatMessage.link_id == ChatLink.id)
        .where(ChatMessage.post_id == post.id, ChatMessage.ours.is_(True))
    ).all()
    version = f":{post.edited_at.timestamp()}" if action == "edit" and post.edited_at else ""
    for link_id, platform, channel in copies:
        _enqueue_once(
            session,
            OutboxItem(
                kind=chat_kind(platform, action),
                dedupe_key=f"chat_{action}:{post.id}:{link_id}{version}",
                post_id=post.id,
                address=channel,
                payload={"link_id": link_id},
            ),
        )
    return len(copies)


def _enqueue_once(session: Session, item: OutboxItem) -> bool:
    if session.scalar(select(OutboxItem.id).where(OutboxItem.dedupe_key == item.dedupe_key)) is not None:
        return False
    session.add(item)
    mark_queued(session)
    return True


def enqueue_notice(
    session: Session, *, dedupe_key: str, address: str, payload: dict[str, Any], user_id: int | None = None
) -> bool:
    """Queue a one-off message (a moderation notice, a confirmation) unless already queued
    (then False)."""
    return _enqueue_once(
        session, OutboxItem(kind=NOTICE_EMAIL, dedupe_key=dedupe_key, address=address, payload=payload, user_id=user_id)
    )


def _due_ids(session: Session, now: datetime, kinds: list[str], limit: int) -> list[int]:
    """Ids of due rows: pending ones whose time has come, then claims whose lease ran out.

    Two LIMITed queries, each walking the ``(status, not_before)`` index in order, instead
    of one OR-ed query that sorts every pending row on every claim: a cost that grew with
    the queue (bench/README.md, "Scale-out on PostgreSQL").
    """
    pg = session.get_bind().dialect.name == "postgresql"

    def pick(query: Any, room: int) -> list[int]:
        query = query.limit(room)
        return list(session.scalars(query.with_for_update(skip_locked=True) if pg else query))

    ids = pick(
        select(OutboxItem.id)
        .where(OutboxItem.status == OutboxStatus.pending, OutboxItem.not_before <= now, OutboxItem.kind.in_(kinds))
        .order_by(OutboxItem.not_before, OutboxItem.id),
        limit,
    )
    if len(ids) < limit:
        ids += pick(
            select(OutboxItem.id)
            .where(
                OutboxItem.status == OutboxStatus.sending, OutboxItem.claimed_until < now, OutboxItem.kind.in_(kinds)
            )
            .order_by(OutboxItem.claimed_until),
            limit - len(ids),
        )
    return ids


def claim(session: Session, kinds: Iterable[str], limit: int, lease: timedelta = timedelta(minutes=5)) -> list[Claimed]:
    """Claim up to ``limit`` due rows for this worker, oldest first."""
    now = utcnow()
    ids = _due_ids(session, now, list(kinds), limit)
    if not ids:
        return []
    session.execute(
        update(OutboxItem)
        .where(OutboxItem.id.in_(ids))
        .values(status=OutboxStatus.sending, claimed_until=now + lease, attempts=OutboxItem.attempts + 1)
    )
    rows = session.execute(
        select(
            OutboxItem.id,
            OutboxItem.kind,
            OutboxItem.post_id,
            OutboxItem.user_id,
            OutboxItem.address,
            OutboxItem.payload,
            OutboxItem.attempts,
            OutboxItem.created_at,
            User.language,
            func.coalesce(User.plain_text, false()),
        )
        .outerjoin(User, User.id == OutboxItem.user_id)
        .where(OutboxItem.id.in_(ids))
        .order_by(OutboxItem.id)
    )
    return [Claimed(*row) for row in rows]


# Built once: delivery marks copies done hundreds of times a second, and building the
# statement cost more than running it.
_MARK_DONE = (
    update(OutboxItem)
    .where(OutboxItem.id.in_(bindparam("ids", expanding=True)))
    .values(status=OutboxStatus.done, done_at=bindparam("now"), claimed_until=None, last_error="")
)


def mark_done(session: Executor, ids: Iterable[int]) -> None:
    ids = list(ids)
    if ids:
        session.execute(_MARK_DONE, {"ids": ids, "now": utcnow()})


def mark_failed(session: Executor, item_id: int, error: str) -> None:
    """A permanent failure: recorded, never retried."""
    session.execute(
        update(OutboxItem)
        .where(OutboxItem.id == item_id)
        .values(status=OutboxStatus.failed, done_at=utcnow(), claimed_until=None, last_error=error[:2000])
    )


def retry_later(session: Executor, item_id: int, error: str, delay: timedelta) -> None:
    """A temporary failure: back to pending, due again after ``delay``."""
    session.execute(
        update(OutboxItem)
        .where(OutboxItem.id == item_id)
        .values(status=OutboxStatus.pending, not_before=utcnow() + delay, claimed_until=None, last_error=error[:2000])
    )


def release(session: Executor, ids: Iterable[int]) -> None:
    """Hand claimed rows back untouched (a clean shutdown before they were sent)."""
    ids = list(ids)
    if ids:
        session.execute(
            update(OutboxItem)
            .where(OutboxItem.id.in_(ids), OutboxItem.status == OutboxStatus.sending)
            .values(status=OutboxStatus.pending, claimed_until=None, attempts=OutboxItem.attempts - 1)
        )


def backoff(attempts: int, base_seconds: float, max_seconds: float) -> timedelta:
    """Exponential backoff: base, 2×base, 4×base … capped at max."""
    return timedelta(seconds=min(max_seconds, base_seconds * (2 ** max(0, attempts - 1))))


def pending_count(session: Session) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(OutboxItem)
            .where(OutboxItem.status.in_([OutboxStatus.pending, OutboxStatus.sending]))
        )
        or 0
    )
