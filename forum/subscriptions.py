"""Joining and leaving by email, confirmed: the core under ``SLUG-subscribe@`` and ``SLUG-unsubscribe@``.

Anyone can put someone else's address in a From line, so a request by email is only a
request: it is stored (:class:`forum.models.SubscriptionRequest`) and the address gets a
message asking to confirm, by replying to a token address or following a web link. Only
then does it happen (double opt-in), through the same :func:`forum.accounts.join` and
:func:`forum.accounts.leave` the web uses; for a restricted community a confirmed join
becomes a request to its facilitators (:func:`forum.join_requests.ask`), exactly as one
made on the web.

The confirmation token names the request and expires; confirming deletes the request, so
a token works once.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from forum import join_requests, tokens
from forum.access import membership_of, user_by_email
from forum.accounts import join, last_facilitator_problem, leave, proven_account
from forum.directory import normalize_email
from forum.errors import NotFound
from forum.models import (
    Community,
    Delivery,
    Membership,
    MemberStatus,
    SubscriptionRequest,
    Visibility,
    utcnow,
)
from forum.site import Site
from forum.translatable import N_, Message

CONFIRM = "mail-confirm"  # confirmation of a request by email: (request id, expiry)
CONFIRM_TTL = timedelta(days=7)
CONFIRM_PATH = "/confirm/"
SUBSCRIBE, UNSUBSCRIBE = "subscribe", "unsubscribe"


class Standing(str, enum.Enum):
    """Where an address stands in a community when it asks to join or leave."""

    outside = "outside"
    member = "member"
    waiting = "waiting"  # a request the facilitators have not answered yet
    banned = "banned"


@dataclass(frozen=True)
class Asked:
    """What :func:`ask` did: a request to confirm (with its token), or nothing to do."""

    standing: Standing
    token: str | None = None  # set when a confirmation must be sent
    refusal: Message | None = None  # why it cannot be done (the last facilitator cannot leave)


@dataclass(frozen=True)
class Confirmed:
    action: str
    email: str
    community: Community
    membership: Membership | None  # after subscribing: active, or None when only requested
    refusal: Message | None = None  # why it was not done (the last facilitator cannot leave)
    requested: bool = False  # a restricted community: the request is with its facilitators


def standing(session: Session, community: Community, email: str) -> Standing:
    return _standing(membership_of(session, user_by_email(session, email), community))


def _standing(membership: Membership | None) -> Standing:
    if membership is None:
        return Standing.outside
    return {
        MemberStatus.active: Standing.member,
        MemberStatus.pending: Standing.waiting,
        MemberStatus.banned: Standing.banned,
    }[membership.status]


def ask(
    session: Session,
    site: Site,
    community: Community,
    email: str,
    action: str,
    name: str = "",
    delivery: Delivery | None = None,
) -> Asked:
    """Record a request to join or leave; a token to confirm it with, unless there is nothing to do.

    ``delivery``: what a join asked for on the web chose to receive (else every post)."""
    email = normalize_email(email)
    user = user_by_email(session, email)
    membership = membership_of(session, user, community)
    now = _standing(membership)
    if now is Standing.outside and user is not None and join_requests.waiting_request(session, community, user.id):
        now = Standing.waiting
    needed = now is Standing.outside if action == SUBSCRIBE else now in (Standing.member, Standing.waiting)
    if not needed:
        return Asked(now)
    if action == UNSUBSCRIBE:
        refusal = last_facilitator_problem(session, membership, leaving=True)
        if refusal:  # said at once: a confirmation would only lead to the same refusal
            return Asked(now, refusal=refusal)
    session.execute(delete(SubscriptionRequest).where(SubscriptionRequest.created_at < utcnow() - CONFIRM_TTL))
    request = SubscriptionRequest(
        community_id=community.id, email=email, name=name.strip()[:200], action=action, delivery=delivery
    )
    session.add(request)
    session.flush()
    token = site.signer.make(CONFIRM, request.id, ttl_seconds=int(CONFIRM_TTL.total_seconds()))
    return Asked(now, token)


def confirm_url(site: Site, token: str) -> str:
    return site.url(f"{CONFIRM_PATH}{token}")


def pending_request(session: Session, site: Site, token: str) -> SubscriptionRequest:
    """The request a confirmation token is for, without settling it."""
    return tokens.row_for_token(
        session,
        site.signer,
        CONFIRM,
        token,
        SubscriptionRequest,
        invalid=Message(
            N_(
                "this confirmation is not valid or has expired: write to the -subscribe or "
                "-unsubscribe address again for a new one"
            )
        ),
        used=Message(N_("this confirmation has already been used")),
    )


def confirm(session: Session, site: Site, token: str, name: str = "") -> Confirmed:
    """Carry out the request a token names: join (or ask to, when private) or leave.

    ``name``: what a newcomer gave on the confirmation page, for their new account."""
    request = pending_request(session, site, token)
    community = session.get(Community, request.community_id)
    if community is None:
        raise NotFound(Message(N_("the community this confirmation is for no longer exists")))
    membership = None
    if request.action == SUBSCRIBE:
        user = proven_account(session, request.email, name.strip() or request.name)
        current = membership_of(session, user, community)
        if community.visibility is Visibility.restricted and (
            current is None or current.status is MemberStatus.pending
        ):
            join_requests.ask(session, site, community, user, "")
            session.delete(request)
            session.flush()
            return Confirmed(request.action, request.email, community, None, requested=True)
        membership = join(session, site, user, community)
        if request.delivery is not None:
            membership.delivery = request.delivery
    elif (leaver := user_by_email(session, request.email)) is not None:
        refusal = last_facilitator_problem(session, membership_of(session, leaver, community), leaving=True)
        if refusal:  # became the last facilitator since asking; the request is used up all the same
            session.delete(request)
            session.flush()
            return Confirmed(request.action, request.email, community, None, refusal)
        leave(session, leaver, community)
    session.delete(request)
    session.flush()
    return Confirmed(request.action, request.email, community, membership)
