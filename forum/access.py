"""Who may read, post and moderate: the one place these rules live.

Every channel asks these functions; none re-implements them. Only a public community's
content may be read by anyone: a restricted one's is for its members, exactly as a private
one's, so callers turn a failed ``can_read`` into "not found", never "forbidden" (a 403
would confirm that the content exists). A restricted community differs from a private one
only in being listed (:func:`is_listed`): its name and purpose are shown to anyone, so
that they may ask to join; a private one is invisible to non-members everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TypeGuard

from sqlalchemy import ColumnElement, Select, bindparam, or_, select
from sqlalchemy.orm import Session

from forum.errors import NotPermitted
from forum.models import Community, Membership, MemberStatus, PostingPolicy, Role, User, UserEmail, Visibility
from forum.translatable import N_, Message


class Action(str, Enum):
    accept = "accept"
    hold = "hold"
    refuse = "refuse"


@dataclass(frozen=True)
class Verdict:
    """What would happen to a post: accepted, held for a moderator, or refused (and why)."""

    action: Action
    reason: str = ""  # in English: SMTP replies, logs, and a held post's stored reason
    said: Message | None = None  # the reason for a person, each channel renders it in their language

    @classmethod
    def because(cls, action: Action, said: Message) -> Verdict:
        return cls(action, str(said), said)

    @property
    def refused(self) -> bool:
        return self.action is Action.refuse

    def raise_if_refused(self) -> None:
        if self.refused:
            raise NotPermitted(self.said or self.reason)


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
    return community.is_public or _active(membership)


def is_listed(community: Community, membership: Membership | None) -> bool:
    """May the viewer learn that ``community`` exists (its name and purpose)?"""
    return not community.is_private or _active(membership)


def listed_for(user_id: int | None) -> ColumnElement[bool]:
    """:func:`is_listed` as a SQL condition on ``Community``, for listings."""
    listed = Community.visibility != Visibility.private
    if user_id is None:
        return listed
    return or_(listed, Community.id.in_(_active_in(user_id)))


def readable_by(user_id: int | None) -> ColumnElement[bool]:
    """:func:`can_read` as a SQL condition on ``Community``, for queries that filter rows
    before they count or paginate them (search): the same rule, kept next to it."""
    public = Community.visibility == Visibility.public
    if user_id is None:
        return public
    return or_(public, Community.id.in_(_active_in(user_id)))


def _active_in(user_id: int) -> Select[int]:
    return select(Membership.community_id).where(
        Membership.user_id == user_id, Membership.status == MemberStatus.active
    )


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

    An archived community takes no posts from anyone; an outsider to a private one is told
    no more than about an address that does not exist (below), archived or not.
    ``published_posts`` is how many of the author's posts the community has published (it
    decides whether a newcomer's post is held, :attr:`Community.moderate_new`), and
    ``owners`` the facilitators' address an announcement list's members are sent to instead;
    :func:`forum.posting.verdict_for` finds both.
    """
    values = {"who": who, "slug": community.slug, "owners": owners or f"{community.slug}-owner"}
    if community.is_archived:
        if community.is_private and not _active(membership):
            return _not_a_member_here(values)
        archived = N_("%(slug)s is archived: its posts can still be read, but it takes no new ones")
        return Verdict.because(Action.refuse, Message(archived, values))
    if membership is not None and membership.status is MemberStatus.banned:
        return Verdict.because(Action.refuse, Message(N_("%(who)s may not post to %(slug)s"), values))
    if can_moderate(membership):
        return Verdict(Action.accept)
    policy = community.posting_policy
    if policy is PostingPolicy.announce and not (community.is_private and not _active(membership)):
        announce = N_(
            "%(slug)s is an announcement list: only its facilitators post to it. "
            "Thank you for writing; to reach them, please write to %(owners)s"
        )
        return Verdict.because(Action.refuse, Message(announce, values))
    if policy is PostingPolicy.moderated:
        held = N_("posts to %(slug)s are reviewed by a moderator before they appear")
        return Verdict.because(Action.hold, Message(held, values))
    if policy is PostingPolicy.open or _active(membership):
        if published_posts < (community.moderate_new or 0):
            return Verdict(Action.hold, NEW_MEMBER_HOLD)
        return Verdict(Action.accept)
    if community.is_private:
        return _not_a_member_here(values)
    refused = N_(
        "only members may post to %(slug)s; %(who)s is not a member (join by writing to "
        "%(slug)s-subscribe or on the web)"
    )
    return Verdict.because(Action.refuse, Message(refused, values))


def _not_a_member_here(values: dict[str, str]) -> Verdict:
    # Say no more than for an unknown address: a private community does not exist to outsiders.
    return Verdict.because(Action.refuse, Message(N_("%(who)s is not a member of a community at this address"), values))


NEW_MEMBER_HOLD = "a new member's first posts are reviewed by a moderator before they appear"
