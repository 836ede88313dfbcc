"""Who may read, post and moderate: the one place these rules live.

Every channel asks these functions; none re-implements them. A private community is
invisible to non-members, so callers turn a failed ``can_read`` into "not found", never
"forbidden" (a 403 would confirm that the community exists).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TypeGuard

from sqlalchemy import ColumnElement, bindparam, or_, select
from sqlalchemy.orm import Session

from forum.errors import NotPermitted
from forum.models import Community, Membership, MemberStatus, PostingPolicy, Role, User, UserEmail, Visibility


class Action(str, Enum):
    accept = "accept"
    hold = "hold"
    refuse = "refuse"


@dataclass(frozen=True)
class Verdict:
    """What would happen to a post: accepted, held for a moderator, or refused (and why)."""

    action: Action
    reason: str = ""

    @property
    def refused(self) -> bool:
        return self.action is Action.refuse

    def raise_if_refused(self) -> None:
        if self.refused:
            raise NotPermitted(self.reason)


def user_by_email(session: Session, email: str) -> User | None:
    return session.scalar(select(User).join(UserEmail).where(UserEmail.email == email.strip().lower()))


def membership_of(session: Session, user: User | None, community: Community) -> Membership | None:
    if user is None:
        return None
    return session.scalar(
        select(Membership).where(Membership.user_id == user.id, Membership.community_id == community.id)
    )


def membership_by_email(session: Session, email: str, community: Community) -> Membership | None:
    """:func:`membership_of` the user with address ``email``, in one query (the SMTP
    server asks it for every message while the sender waits)."""
    return session.scalar(_MEMBERSHIP_BY_EMAIL, {"email": email.strip().lower(), "community_id": community.id})


# Built once: building the statement anew was a sixth of the lookup's time.
_MEMBERSHIP_BY_EMAIL = (
    select(Membership)
    .join(UserEmail, UserEmail.user_id == Membership.user_id)
    .where(UserEmail.email == bindparam("email"), Membership.community_id == bindparam("community_id"))
)


def _active(membership: Membership | None) -> TypeGuard[Membership]:
    return membership is not None and membership.status is MemberStatus.active


def can_read(community: Community, membership: Membership | None) -> bool:
    return not community.is_private or _active(membership)


def readable_by(user_id: int | None) -> ColumnElement[bool]:
    """:func:`can_read` as a SQL condition on ``Community``, for queries that filter rows
    before they count or paginate them (search): the same rule, kept next to it."""
    public = Community.visibility == Visibility.public
    if user_id is None:
        return public
    active_in = select(Membership.community_id).where(
        Membership.user_id == user_id, Membership.status == MemberStatus.active
    )
    return or_(public, Community.id.in_(active_in))


def can_moderate(membership: Membership | None) -> bool:
    return _active(membership) and membership.role in (Role.moderator, Role.facilitator)


def posting_verdict(
    community: Community,
    membership: Membership | None,
    who: str,
    *,
    published_posts: int = 0,
    owners: str = "",
) -> Verdict:
    """Apply the community's posting policy to a would-be author (``who`` names them in errors).

    ``published_posts`` is how many of the author's posts the community has published (it
    decides whether a newcomer's post is held, :attr:`Community.moderate_new`), and
    ``owners`` the facilitators' address an announcement list's members are sent to instead;
    :func:`forum.posting.verdict_for` finds both.
    """
    if membership is not None and membership.status is MemberStatus.banned:
        return Verdict(Action.refuse, f"{who} may not post to {community.slug}")
    if can_moderate(membership):
        return Verdict(Action.accept)
    policy = community.posting_policy
    if policy is PostingPolicy.announce and not (community.is_private and not _active(membership)):
        return Verdict(
            Action.refuse,
            f"{community.slug} is an announcement list: only its facilitators post to it. "
            f"Thank you for writing; to reach them, please write to {owners or community.slug + '-owner'}",
        )
    if policy is PostingPolicy.moderated:
        return Verdict(Action.hold, f"posts to {community.slug} are reviewed by a moderator before they appear")
    if policy is PostingPolicy.open or _active(membership):
        if published_posts < (community.moderate_new or 0):
            return Verdict(Action.hold, NEW_MEMBER_HOLD)
        return Verdict(Action.accept)
    if community.is_private:
        # Say no more than for an unknown address: a private community does not exist to outsiders.
        return Verdict(Action.refuse, f"{who} is not a member of a community at this address")
    return Verdict(
        Action.refuse,
        f"only members may post to {community.slug}; {who} is not a member (join by writing to "
        f"{community.slug}-subscribe or on the web)",
    )


NEW_MEMBER_HOLD = "a new member's first posts are reviewed by a moderator before they appear"
