"""What waits for a community's facilitators: the counts beside their "Manage" links.

A facilitator should not have to visit a page to learn that a post is held or someone
asks to join. Each kind of waiting work is one field of :class:`Awaiting`, counted in
one query per kind whether for one community or for every community a person runs.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from forum.models import Community, JoinRequest, Membership, MemberStatus, Post, PostStatus, RequestStatus, Role


@dataclass(frozen=True)
class Awaiting:
    held: int = 0  # posts held for a moderator
    join_requests: int = 0  # people asking to join

    @property
    def total(self) -> int:
        return sum(getattr(self, f.name) for f in fields(self))


def awaiting(session: Session, community: Community) -> Awaiting:
    return awaiting_in(session, [community.id]).get(community.id, Awaiting())


def awaiting_in(session: Session, community_ids: list[int]) -> dict[int, Awaiting]:
    """:class:`Awaiting` for each of ``community_ids`` with anything waiting (others are absent)."""
    if not community_ids:
        return {}
    held = dict(
        session.execute(
            select(Post.community_id, func.count())
            .where(Post.community_id.in_(community_ids), Post.status == PostStatus.held)
            .group_by(Post.community_id)
        ).all()
    )
    asking: dict[int, int] = dict(
        session.execute(
            select(JoinRequest.community_id, func.count())
            .where(JoinRequest.community_id.in_(community_ids), JoinRequest.status == RequestStatus.pending)
            .group_by(JoinRequest.community_id)
        ).all()
    )
    # Memberships left pending from before requests to join had a table of their own.
    for community_id, count in session.execute(
        select(Membership.community_id, func.count())
        .where(Membership.community_id.in_(community_ids), Membership.status == MemberStatus.pending)
        .group_by(Membership.community_id)
    ):
        asking[community_id] = asking.get(community_id, 0) + count
    return {
        community_id: Awaiting(held=held.get(community_id, 0), join_requests=asking.get(community_id, 0))
        for community_id in set(held) | set(asking)
    }


def managed_by(session: Session, user_id: int | None) -> dict[str, Awaiting]:
    """What waits in each community ``user_id`` facilitates or moderates, by slug (every such
    community is present, with nothing waiting or not): their "Manage" links."""
    if user_id is None:
        return {}
    managed = dict(
        session.execute(
            select(Community.id, Community.slug)
            .join(Membership, Membership.community_id == Community.id)
            .where(
                Membership.user_id == user_id,
                Membership.status == MemberStatus.active,
                Membership.role.in_([Role.facilitator, Role.moderator]),
            )
        ).all()
    )
    waiting = awaiting_in(session, list(managed))
    return {slug: waiting.get(community_id, Awaiting()) for community_id, slug in managed.items()}
