"""Where the signed-in visitor stands in a community, for the forms other pages include.

The thread page includes the reply form and the community page may include the
membership box; both need to know whether the visitor is signed in, a member, and what
would happen to a post (accepted, held or refused) before offering a form. The
answer comes from ``forum.access``, the same rules ``submit_post`` applies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from forum.access import Action, membership_of
from forum.models import Delivery, MemberStatus, PostingPolicy
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
    """The visitor's standing in ``community`` (anything with a ``slug``)."""
    user = current_user()
    if user is None:
        return Standing(signed_in=False)
    with state().readers() as db:
        found = community_by_slug(db, community.slug)
        membership = membership_of(db, user, found)
        verdict = verdict_for(db, found, membership, "you", state().site)
    announce = found.posting_policy is PostingPolicy.announce and verdict.refused
    return Standing(
        signed_in=True,
        status=membership.status if membership else None,
        delivery=membership.delivery if membership else None,
        posting=verdict.action,
        may_join=membership is None and not found.is_private,
        owners=state().site.owner_address(found.slug) if announce else "",
    )
