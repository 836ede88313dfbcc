"""What needs attention across every community, for the site administrators' overviews:
held posts waiting, and members whose mail bounces.

Each is one grouped or paged query, whatever the number of communities. Held posts are
counted per community, not shown: their text belongs to the community (a private one's
to its members), and they are approved or rejected on the community's own held page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from forum.archive import Pagination
from forum.models import Community, Membership, Post, PostStatus, User, UserEmail


@dataclass(frozen=True)
class HeldHere:
    slug: str
    name: str
    held: int
    oldest: datetime


@dataclass(frozen=True)
class Bouncing:
    slug: str
    community: str
    email: str
    name: str
    score: float
    last_bounce_at: datetime | None
    disabled_at: datetime | None  # when their mail was stopped; None while it still goes
    reason: str


@dataclass(frozen=True)
class BouncingPage:
    members: list[Bouncing]
    pagination: Pagination


def held_by_community(session: Session) -> list[HeldHere]:
    """Every community with posts awaiting a moderator: how many, and since when; longest waiting first."""
    rows = session.execute(
        select(Community.slug, Community.name, func.count(Post.id), func.min(Post.created_at).label("oldest"))
        .join(Post, Post.community_id == Community.id)
        .where(Post.status == PostStatus.held)
        .group_by(Community.id, Community.slug, Community.name)
        .order_by(func.min(Post.created_at), Community.slug)
    )
    return [HeldHere(*row) for row in rows]


def bouncing_members(session: Session, page: int, per_page: int) -> BouncingPage:
    """Memberships whose mail bounces or was stopped for bouncing: stopped first, then by score."""
    troubled = or_(Membership.bounce_score > 0, Membership.bounce_disabled_at.is_not(None))
    total = session.scalar(select(func.count()).select_from(Membership).where(troubled)) or 0
    pagination = Pagination(max(1, page), per_page, total)
    rows = session.execute(
        select(
            Community.slug,
            Community.name,
            UserEmail.email,
            User.display_name,
            Membership.bounce_score,
            Membership.last_bounce_at,
            Membership.bounce_disabled_at,
            Membership.bounce_reason,
        )
        .join(Community, Community.id == Membership.community_id)
        .join(User, User.id == Membership.user_id)
        .join(UserEmail, (UserEmail.user_id == User.id) & UserEmail.is_primary.is_(True))
        .where(troubled)
        .order_by(
            Membership.bounce_disabled_at.is_(None),
            Membership.bounce_score.desc(),
            Community.slug,
            UserEmail.email,
        )
        .limit(per_page)
        .offset(pagination.offset)
    )
    return BouncingPage([Bouncing(*row) for row in rows], pagination)
