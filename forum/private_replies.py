"""Private replies through the site's relay, ``SLUG-private+TOKEN@``: members write to one
another without either seeing the other's address.

A member's address is shown to the other members only if they choose so
(``Membership.show_address``). Otherwise "Reply privately" in a post's copies and in
digests writes to a relay address whose token names the post; the gateway forwards the
message to the post's author from a second relay address, whose token names the two
members, so the author's answer comes back the same way. The tokens are HMACs
(:mod:`forum.tokens`): the relay keeps no state, and a token for one direction cannot be
used for the other.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from forum import tokens
from forum.models import Membership
from forum.tokens import BadToken, Signer

SUFFIX = "-private"
# The same address in mail written in Welsh, with a token of its own, so no part of it is
# the English address's: a Welsh reader's footer reads as Welsh.
WELSH_SUFFIX = "-preifat"


@dataclass(frozen=True)
class RelayToken:
    """What a relay address leads to: the author of ``post_id`` (a first message), or
    member ``to_user_id`` from member ``from_user_id`` (an answer)."""

    post_id: int | None = None
    to_user_id: int | None = None
    from_user_id: int | None = None


def post_address(signer: Signer, slug: str, domain: str, post_id: int, language: str = "en") -> str:
    """Where "reply privately to the author of this post" writes, in mail in ``language``."""
    if language == "cy":
        return f"{slug}{WELSH_SUFFIX}+{signer.make(tokens.PRIVATE_POST_WELSH, post_id)}@{domain}"
    return f"{slug}{SUFFIX}+{signer.make(tokens.PRIVATE_POST, post_id)}@{domain}"


def pair_address(signer: Signer, slug: str, domain: str, to_user_id: int, from_user_id: int) -> str:
    """Where ``from_user_id`` writes to reach ``to_user_id``: the From of a relayed message,
    made for its recipient, so that answering it goes back to its writer."""
    return f"{slug}{SUFFIX}+{signer.make(tokens.PRIVATE, to_user_id, from_user_id)}@{domain}"


def read_token(signer: Signer, token: str) -> RelayToken:
    """The target of a relay token; :class:`BadToken` if it is not one we made."""
    for purpose in (tokens.PRIVATE_POST, tokens.PRIVATE_POST_WELSH):
        try:
            (post_id,) = signer.verify(purpose, token, count=1)
            return RelayToken(post_id=post_id)
        except BadToken:
            pass
    to_user_id, from_user_id = signer.verify(tokens.PRIVATE, token, count=2)
    return RelayToken(to_user_id=to_user_id, from_user_id=from_user_id)


def shows_address(session: Session, user_id: int | None, community_id: int) -> bool:
    """Whether the member chose to show their address to the community's other members."""
    if user_id is None:
        return False
    return bool(
        session.scalar(
            select(Membership.show_address).where(
                Membership.user_id == user_id, Membership.community_id == community_id
            )
        )
    )
