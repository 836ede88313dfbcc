"""Finding the thread a new post belongs to, and mending threads when parents arrive late.

The order mirrors how sure each clue is: a parent named outright (a reply token, a web
reply button) beats the Message-IDs a mail client quoted (In-Reply-To/References, nearest
first), which beat a stored post that names the same missing ancestor (JWZ's "ghost"
parent: two answers to a message we never received), which beats Outlook's Thread-Index,
which beats a "Re:" subject equal to a thread active in the same community recently.
Anything else starts a new thread.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from forum.errors import NotFound
from forum.models import Community, Post, PostReference, PostStatus, Thread, ThreadRedirect, utcnow
from forum.subjects import is_reply_subject, subject_key
from forum.translatable import N_, Message

CONVERSATION_BYTES = 22  # Thread-Index: 6-byte FILETIME + 16-byte GUID name the conversation


@dataclass(frozen=True)
class Placement:
    parent: Post | None
    thread: Thread | None  # None: start a new thread


def conversation_key(thread_index: str | None) -> tuple[str | None, bool]:
    """(conversation key, is this a reply) from an Outlook Thread-Index header."""
    if not thread_index:
        return None, False
    try:
        raw = base64.b64decode("".join(thread_index.split()), validate=True)
    except (binascii.Error, ValueError):
        return None, False
    if len(raw) < CONVERSATION_BYTES:
        return None, False
    return base64.b64encode(raw[:CONVERSATION_BYTES]).decode(), len(raw) > CONVERSATION_BYTES


def place(
    session: Session,
    community: Community,
    *,
    parent_id: int | None,
    references: tuple[str, ...],
    thread_index: str | None,
    subject: str,
    subject_match_days: int,
    at: datetime | None = None,
) -> Placement:
    """Where a post written ``at`` (default: now) belongs; see the module docstring.

    Subject matching looks at threads active in the days before ``at``, so an archive
    import places a message of 2019 among the threads of 2019, not of today.
    """
    if parent_id is not None:
        parent = session.get(Post, parent_id)
        if parent is None or parent.community_id != community.id:
            raise NotFound(Message(N_("the post this replies to no longer exists")))
        return Placement(parent, parent.thread)
    if references:
        found = {
            p.message_id: p
            for p in session.scalars(
                select(Post).where(Post.community_id == community.id, Post.message_id.in_(references))
            )
        }
        for mid in reversed(references):
            if mid in found:
                return Placement(found[mid], found[mid].thread)
        siblings = dict(
            session.execute(
                select(PostReference.message_id, Post.thread_id)
                .join(Post, Post.id == PostReference.post_id)
                .where(PostReference.community_id == community.id, PostReference.message_id.in_(references))
            ).all()
        )
        for mid in reversed(references):
            if mid in siblings:
                return Placement(None, session.get(Thread, siblings[mid]))
    key, is_reply = conversation_key(thread_index)
    if key and is_reply:
        thread = session.scalar(
            select(Thread)
            .where(Thread.community_id == community.id, Thread.conversation_index == key)
            .order_by(Thread.last_activity_at.desc())
            .limit(1)
        )
        if thread is not None:
            return Placement(None, thread)
    if subject_match_days > 0 and is_reply_subject(subject):
        at = at or utcnow()
        thread = session.scalar(
            select(Thread)
            .where(
                Thread.community_id == community.id,
                Thread.subject_key == subject_key(subject),
                Thread.last_activity_at >= at - timedelta(days=subject_match_days),
            )
            .order_by(Thread.last_activity_at.desc())
            .limit(1)
        )
        if thread is not None:
            return Placement(None, thread)
    return Placement(None, None)


def record_references(session: Session, post: Post, references: tuple[str, ...]) -> None:
    """Remember every Message-ID ``post`` names, for ghost siblings and late parents."""
    for position, mid in enumerate(dict.fromkeys(references)):
        session.add(PostReference(post_id=post.id, position=position, community_id=post.community_id, message_id=mid))


def relink_early_replies(session: Session, post: Post) -> int:
    """Attach replies that arrived before ``post`` (they named its Message-ID) to it.

    A reply is re-parented when ``post`` is a nearer ancestor than the parent it has;
    its thread merges into ``post``'s thread. Returns how many replies were re-linked.
    """
    session.flush()
    waiting = session.execute(
        select(PostReference.post_id, PostReference.position).where(
            PostReference.community_id == post.community_id,
            PostReference.message_id == post.message_id,
            PostReference.post_id != post.id,
        )
    ).all()
    relinked = 0
    for reply_id, position in waiting:
        reply = session.get(Post, reply_id)
        if reply is None:
            continue
        if _parent_position(session, reply) < position:
            reply.parent_id = post.id
            relinked += 1
        if reply.thread_id != post.thread_id:
            merge_threads(session, source_id=reply.thread_id, target=post.thread)
    return relinked


def _parent_position(session: Session, reply: Post) -> int:
    """Where the reply's current parent stands in its references (-1: no parent, or unnamed)."""
    if reply.parent_id is None:
        return -1
    position = session.scalar(
        select(PostReference.position)
        .join(Post, Post.message_id == PostReference.message_id)
        .where(PostReference.post_id == reply.id, Post.id == reply.parent_id)
    )
    return -1 if position is None else position


def unused_thread_id(session: Session) -> int | None:
    """An id for a new thread that no merged thread ever had; None: the database's own.

    SQLite gives a new row the largest id plus one, so the id of a merged-away thread
    that was the newest would come back, and its old address would show another thread.
    PostgreSQL's sequences never hand an id out twice.
    """
    if session.get_bind().dialect.name != "sqlite":
        return None
    newest = session.scalar(select(func.max(Thread.id))) or 0
    redirected = session.scalar(select(func.max(ThreadRedirect.old_id))) or 0
    return max(newest, redirected) + 1


def merged_into(session: Session, thread_id: int) -> int | None:
    """The thread that thread ``thread_id`` was merged into, if it was."""
    return session.scalar(select(ThreadRedirect.thread_id).where(ThreadRedirect.old_id == thread_id))


def merge_threads(session: Session, *, source_id: int, target: Thread) -> None:
    """Move every post of thread ``source_id`` into ``target`` and drop the empty thread."""
    session.flush()
    session.execute(update(Post).where(Post.thread_id == source_id).values(thread_id=target.id))
    source = session.get(Thread, source_id)
    if source is not None:
        # Its address was mailed out (Archived-At, links): it leads on, as do older ones that led to it.
        session.execute(update(ThreadRedirect).where(ThreadRedirect.thread_id == source_id).values(thread_id=target.id))
        session.add(ThreadRedirect(old_id=source_id, thread_id=target.id))
        if source.created_at < target.created_at:
            target.created_at = source.created_at
        target.last_activity_at = max(target.last_activity_at, source.last_activity_at)
        session.delete(source)
    session.flush()
    target.post_count = (
        session.scalar(
            select(func.count())
            .select_from(Post)
            .where(Post.thread_id == target.id, Post.status == PostStatus.published)
        )
        or 0
    )


def pin(session: Session, community: Community, thread_id: int, pinned: bool) -> Thread:
    """Pin a thread of ``community`` to the top of its page, or unpin it."""
    thread = session.get(Thread, thread_id)
    if thread is None or thread.community_id != community.id or thread.post_count < 1:
        raise NotFound(f"there is no thread {thread_id} in {community.slug}")
    thread.pinned = pinned
    session.flush()
    return thread


def pinned_threads(session: Session, community: Community) -> list[Thread]:
    """The community's pinned threads, as the community page lists them."""
    return list(
        session.scalars(
            select(Thread)
            .where(Thread.community_id == community.id, Thread.pinned.is_(True), Thread.post_count > 0)
            .order_by(Thread.last_activity_at.desc(), Thread.id.desc())
        )
    )
