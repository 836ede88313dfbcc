"""Where the signed-in visitor stands in a community, for the forms other pages include.

The thread page includes the reply form and the community page may include the
membership box; both need to know whether the visitor is signed in, a member, and what
would happen to a post (accepted, held or refused) before offering a form. The
answer comes from ``forum.access``, the same rules ``submit_post`` applies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import g
from flask_babel import gettext as _

from forum import join_requests
from forum.access import Action, membership_of
from forum.list_addresses import post_address
from forum.models import Community, Delivery, MemberStatus, PostingPolicy, User, Visibility
from forum.posting import community_by_slug, verdict_for
from web.accounts.forms import DELIVERY_CHOICES
from web.auth import current_user
from web.state import state

DELIVERY_LABELS = {choice.value: choice.label for choice in DELIVERY_CHOICES}


@dataclass(frozen=True)
class Standing:
    signed_in: bool
    status: MemberStatus | None = None
    delivery: Delivery | None = None
    posting: Action | None = None  # what would happen to a post, when signed in
    may_join: bool = False
    may_request: bool = False  # a restricted community: ask its facilitators
    requested: bool = False  # a request to join is waiting for them
    owners: str = ""  # the facilitators' address, where only they post (an announcement list)

    @property
    def member(self) -> bool:
        return self.status is MemberStatus.active

    @property
    def pending(self) -> bool:
        return self.status is MemberStatus.pending

    @property
    def delivery_label(self) -> str:
        return DELIVERY_LABELS.get(self.delivery.value, "") if self.delivery else ""


def standing(community: Any) -> Standing:
    """The visitor's standing in ``community`` (anything with a ``slug``), worked out once
    per request: a thread page asks for each post's "Reply" link."""
    known: dict[str, Standing] = g.setdefault("standings", {})
    if community.slug not in known:
        known[community.slug] = _standing(community)
    return known[community.slug]


def _standing(community: Any) -> Standing:
    user = current_user()
    restricted = community.visibility is Visibility.restricted
    if user is None:
        return Standing(signed_in=False, may_request=restricted)
    with state().readers() as db:
        found = community_by_slug(db, community.slug)
        membership = membership_of(db, user, found)
        verdict = verdict_for(db, found, membership, "you", state().site)
        requested = restricted and join_requests.waiting_request(db, found, user.id) is not None
    announce = found.posting_policy is PostingPolicy.announce and verdict.refused
    return Standing(
        signed_in=True,
        status=membership.status if membership else None,
        delivery=membership.delivery if membership else None,
        posting=verdict.action,
        may_join=membership is None and found.is_public,
        may_request=restricted and membership is None and not requested,
        requested=requested,
        owners=state().site.owner_address(found.slug) if announce else "",
    )


def main_address(user: User) -> str:
    """Where community mail to ``user`` goes (and so the address that bounced)."""
    return next(e.email for e in user.emails if e.is_primary)


def joined_message(community: Community, user: User, status: MemberStatus) -> str:
    """The banner a newcomer sees on the community's page: what to do now."""
    if status is MemberStatus.pending:
        return _("You have asked to join %(name)s. A facilitator will approve your request.", name=community.name)
    address = post_address(community.slug, state().site.mail_domain)
    return _(
        "Welcome to %(name)s: you are a member. To post, write to %(address)s from %(email)s, or start a "
        "thread here; to answer a post, reply to its email or reply on its page.",
        name=community.name,
        address=address,
        email=main_address(user),
    )
