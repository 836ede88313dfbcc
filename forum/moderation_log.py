"""The record of what was done to a community's posts and members, and by whom.

Every action that takes something down, puts it back, decides a held post, a report or a
ban writes one :class:`ModerationEntry` in its own transaction, so the record cannot miss
an action nor name one that was rolled back. The community's facilitators read their
community's entries; the site's operators read everyone's (``listbridge log``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from forum.archive import Pagination
from forum.models import Community, ModerationEntry, Post, User, UserEmail


class LogAction(str, enum.Enum):
    edit = "edit"
    delete = "delete"
    hide = "hide"
    unhide = "unhide"
    hide_thread = "hide_thread"
    unhide_thread = "unhide_thread"
    report = "report"
    resolve = "resolve"
    ban = "ban"
    unban = "unban"
    approve = "approve"
    reject = "reject"


@dataclass(frozen=True)
class Actor:
    """Who did it: a person signed in on the web, or (``user_id`` None) the command line."""

    user_id: int | None
    name: str

    @classmethod
    def of(cls, session: Session, user: User) -> Actor:
        return cls(user.id, person_name(session, user))


OPERATOR = Actor(None, "")  # the command line: whoever runs the site


def person_name(session: Session, user: User) -> str:
    """What the record calls someone: their name, else their main address's local part."""
    if user.display_name:
        return user.display_name
    email = session.scalar(select(UserEmail.email).where(UserEmail.user_id == user.id, UserEmail.is_primary.is_(True)))
    return (email or "").partition("@")[0] or f"#{user.id}"


def record(
    session: Session,
    actor: Actor,
    action: LogAction,
    community_id: int,
    *,
    post: Post | None = None,
    thread_id: int | None = None,
    member: User | None = None,
    target: str = "",
    detail: str = "",
) -> ModerationEntry:
    """Write one entry; the target's name is kept as it is now (a subject, a member's name,
    or ``target``: a thread's subject)."""
    if post is not None:
        target = post.subject
    elif member is not None:
        target = person_name(session, member)
    entry = ModerationEntry(
        community_id=community_id,
        actor_id=actor.user_id,
        actor_name=actor.name[:200],
        action=action.value,
        post_id=post.id if post is not None else None,
        thread_id=post.thread_id if post is not None else thread_id,
        member_id=member.id if member is not None else None,
        target_name=target[:500],
        detail=detail,
    )
    session.add(entry)
    session.flush()
    return entry


@dataclass(frozen=True)
class LogLine:
    id: int
    created_at: datetime
    slug: str
    actor_id: int | None
    actor_name: str
    action: LogAction
    post_id: int | None
    thread_id: int | None
    member_id: int | None
    target_name: str
    detail: str


@dataclass(frozen=True)
class LogPage:
    lines: list[LogLine]
    pagination: Pagination


def entries(session: Session, community: Community | None, page: int, per_page: int) -> LogPage:
    """One page of the record, newest first: of ``community``, or of every community (the
    site's administrators)."""
    scope = [ModerationEntry.community_id == community.id] if community is not None else []
    total = session.scalar(select(func.count()).select_from(ModerationEntry).where(*scope)) or 0
    pagination = Pagination(max(1, page), per_page, total)
    rows = session.execute(
        select(ModerationEntry, Community.slug)
        .join(Community, Community.id == ModerationEntry.community_id)
        .where(*scope)
        .order_by(ModerationEntry.id.desc())
        .limit(per_page)
        .offset(pagination.offset)
    ).all()
    lines = [
        LogLine(
            id=entry.id,
            created_at=entry.created_at,
            slug=slug,
            actor_id=entry.actor_id,
            actor_name=entry.actor_name,
            action=LogAction(entry.action),
            post_id=entry.post_id,
            thread_id=entry.thread_id,
            member_id=entry.member_id,
            target_name=entry.target_name,
            detail=entry.detail,
        )
        for entry, slug in rows
    ]
    return LogPage(lines, pagination)
