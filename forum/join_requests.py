"""Asking to join a restricted community: the request, the facilitators' answer, the news.

A restricted community is listed by name and purpose, and anyone may ask to join it,
saying why. Its facilitators are mailed the request with the reason; they approve or
decline it on the web (``/c/SLUG/manage/requests``) or by replying ``approve`` or
``decline`` to that mail, whose Reply-To is ``SLUG-decide+TOKEN@`` (the token names the
request and the facilitator it was sent to, so the gateway can hold the reply to that
facilitator's own address). Either way the requester is told, by mail, with the
facilitator's message if they wrote one.

A visitor who is not signed in gives an address: the request waits, unconfirmed, until a
link mailed to that address is followed (anyone can type someone else's address), and only
then reaches the facilitators. Every door (the web form, a confirmed mail to
``SLUG-subscribe@``) comes here; the channels only render what these functions decide.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from forum import outbox, rate_limits
from forum.access import can_moderate, membership_of, user_by_email
from forum.accounts import proven_account
from forum.directory import moderators, normalize_email
from forum.errors import InvalidInput, NotFound, NotPermitted
from forum.mail_language import language_for, translations
from forum.mail_links import in_language
from forum.models import (
    Community,
    Delivery,
    JoinRequest,
    Membership,
    MemberStatus,
    RequestStatus,
    User,
    UserEmail,
    Visibility,
    utcnow,
)
from forum.posting import no_community
from forum.rate_limits import RateLimit, answer_checks, count_against
from forum.site import Site
from forum.tokens import BadToken

CONFIRM = "join-request-confirm"  # a visitor's proof of their address: (request id, expiry)
DECIDE = "join-decide"  # SLUG-decide+TOKEN@, a request notice's Reply-To: (request id, facilitator id)
CONFIRM_TTL = timedelta(days=7)
CONFIRM_PATH = "/join-requests/confirm/"
SUFFIX = "-decide"
MAX_REASON = 2000
# Per client the allowance is larger than per address: a council's staff may share one address.
REQUESTS_PER_CLIENT = RateLimit("join-request-client", 30, timedelta(hours=1))
# The first word of a facilitator's reply, in English or Welsh; not "yes" or "no", which
# open replies that mean something else ("No problem, …").
APPROVE_WORDS = frozenset({"approve", "approved", "cymeradwyo"})
DECLINE_WORDS = frozenset({"decline", "declined", "gwrthod"})


@dataclass(frozen=True)
class Confirmed:
    """A visitor's request after its link was followed: with the facilitators, or not
    needed (``member``: the address already belongs to a member)."""

    request: JoinRequest | None
    community: Community
    member: bool = False


def restricted(community: Community) -> None:
    """NotFound for a private community (it is not there for outsiders), InvalidInput for a
    public one (joined at once, nothing to ask)."""
    if community.visibility is Visibility.private:
        raise no_community(community.slug)
    if community.visibility is not Visibility.restricted:
        raise InvalidInput(f"{community.name} is open to everyone: join it at once, there is nothing to ask")


def _clean_reason(reason: str) -> str:
    reason = reason.strip()
    if len(reason) > MAX_REASON:
        raise InvalidInput(f"the reason is too long: at most {MAX_REASON} characters, please")
    return reason


def ask(
    session: Session, site: Site, community: Community, user: User, reason: str, delivery: Delivery = Delivery.each
) -> JoinRequest:
    """Ask, as ``user``, to join restricted ``community``; the facilitators are told.

    Asking again while a request waits updates its reason rather than adding another.
    """
    restricted(community)
    reason = _clean_reason(reason)
    membership = membership_of(session, user, community)
    if membership is not None and membership.status is MemberStatus.banned:
        raise NotPermitted(f"you may not join {community.name}")
    if membership is not None and membership.status is MemberStatus.active:
        raise InvalidInput(f"you are already a member of {community.name}")
    waiting = waiting_request(session, community, user.id)
    if waiting is not None:
        waiting.reason, waiting.delivery = reason or waiting.reason, delivery
        session.flush()
        return waiting
    request = JoinRequest(
        community_id=community.id,
        user_id=user.id,
        email=_primary(session, user.id),
        name=user.display_name,
        reason=reason,
        delivery=delivery,
        status=RequestStatus.pending,
    )
    session.add(request)
    session.flush()
    _tell_facilitators(session, site, community, request)
    return request


def ask_by_address(
    session: Session,
    site: Site,
    community: Community,
    email: str,
    reason: str,
    delivery: Delivery = Delivery.each,
    *,
    name: str = "",
    client: str = "",
) -> JoinRequest:
    """A visitor's request: kept unconfirmed, and a link mailed to ``email`` to confirm it.

    Counted against the answer limits for the address (and the client), so the form cannot
    be made to mail someone over and over. Whether the address has an account is not said.
    """
    restricted(community)
    email, reason = normalize_email(email), _clean_reason(reason)
    checks = answer_checks(site, email, purpose=rate_limits.VERIFY, community_id=community.id)
    count_against(session, site, [*checks, *([(REQUESTS_PER_CLIENT, client)] if client else [])])
    session.execute(
        delete(JoinRequest).where(
            JoinRequest.status == RequestStatus.unconfirmed, JoinRequest.created_at < utcnow() - CONFIRM_TTL
        )
    )
    request = JoinRequest(
        community_id=community.id,
        email=email,
        name=name.strip()[:200],
        reason=reason,
        delivery=delivery,
        status=RequestStatus.unconfirmed,
    )
    session.add(request)
    session.flush()
    token = site.signer.make(CONFIRM, request.id, ttl_seconds=int(CONFIRM_TTL.total_seconds()))
    user = user_by_email(session, email)
    language = language_for(session, user.id if user else None, community.language)
    _ = translations(language).gettext
    url = in_language(confirm_url(site, token), language)
    values = {"email": email, "name": community.name, "days": CONFIRM_TTL.days, "url": url}
    outbox.enqueue_notice(
        session,
        dedupe_key=f"join-request-confirm:{request.id}",
        address=email,
        user_id=user.id if user else None,
        payload={
            "slug": community.slug,
            "subject": _("Confirm: join %(name)s") % values,
            "text": _("Someone, probably you, asked for %(email)s to join %(name)s.") % values
            + "\n\n"
            + _("Confirm your address to send your request to its facilitators: %(url)s") % values
            + "\n\n"
            + _("If you did not ask, ignore this message and nothing will change. The request lapses in %(days)s days.")
            % values
            + "\n",
        },
    )
    return request


def confirm_url(site: Site, token: str) -> str:
    return site.url(f"{CONFIRM_PATH}{token}")


def unconfirmed(session: Session, site: Site, token: str) -> JoinRequest:
    """The request a confirmation link is for, without settling it."""
    try:
        (request_id,) = site.signer.verify(CONFIRM, token, count=1, expires=True)
    except BadToken:
        raise NotFound("this confirmation link is not valid or has expired: ask to join again for a new one") from None
    request = session.get(JoinRequest, request_id)
    if request is None or request.status is not RequestStatus.unconfirmed:
        raise NotFound("this confirmation link has already been used")
    return request


def confirm(session: Session, site: Site, token: str) -> Confirmed:
    """The address is the visitor's: the request goes to the facilitators (the account is
    made if there is none, its address proven by this very link)."""
    request = unconfirmed(session, site, token)
    community = session.get_one(Community, request.community_id)
    user = proven_account(session, request.email, request.name)
    membership = membership_of(session, user, community)
    if membership is not None and membership.status is MemberStatus.active:
        session.delete(request)
        session.flush()
        return Confirmed(None, community, member=True)
    reason, delivery = request.reason, request.delivery
    session.delete(request)
    session.flush()
    return Confirmed(ask(session, site, community, user, reason, delivery), community)


def waiting_request(session: Session, community: Community, user_id: int) -> JoinRequest | None:
    return session.scalar(
        select(JoinRequest).where(
            JoinRequest.community_id == community.id,
            JoinRequest.user_id == user_id,
            JoinRequest.status == RequestStatus.pending,
        )
    )


def pending(session: Session, community: Community) -> list[JoinRequest]:
    """The requests waiting for ``community``'s facilitators, oldest first."""
    return list(
        session.scalars(
            select(JoinRequest)
            .where(JoinRequest.community_id == community.id, JoinRequest.status == RequestStatus.pending)
            .order_by(JoinRequest.id)
        )
    )


def request_in(session: Session, community: Community, request_id: int) -> JoinRequest:
    request = session.get(JoinRequest, request_id)
    if request is None or request.community_id != community.id or request.user_id is None:
        raise NotFound("there is no such request")
    return request


def decide(
    session: Session, site: Site, request: JoinRequest, facilitator: User, *, approve: bool, message: str = ""
) -> JoinRequest:
    """Approve or decline a waiting request, as ``facilitator``; the requester is told.

    Approving makes them an active member with the delivery they chose. A request already
    decided is not decided again: InvalidInput says by whom it was.
    """
    community = session.get_one(Community, request.community_id)
    if not can_moderate(membership_of(session, facilitator, community)):
        raise NotPermitted(f"only {community.name}'s facilitators decide who joins it")
    if request.status is not RequestStatus.pending or request.user_id is None:
        raise InvalidInput(f"this request has already been {request.status.value}")
    requester = session.get_one(User, request.user_id)
    if approve:
        membership = membership_of(session, requester, community)
        if membership is not None and membership.status is MemberStatus.banned:
            raise InvalidInput(f"{request.name or request.email} is banned from {community.name}")
        if membership is None:
            membership = Membership(community_id=community.id, user_id=requester.id)
            session.add(membership)
        membership.status, membership.delivery = MemberStatus.active, request.delivery
    request.status = RequestStatus.approved if approve else RequestStatus.declined
    request.decided_at, request.decided_by_id, request.answer = utcnow(), facilitator.id, message.strip()
    session.flush()
    _tell_requester(session, site, community, request)
    return request


def decision_address(site: Site, community: Community, request_id: int, facilitator_id: int) -> str:
    """Where a facilitator's reply to a request notice goes: the request and the facilitator, signed."""
    token = site.signer.make(DECIDE, request_id, facilitator_id)
    return f"{community.slug}{SUFFIX}+{token}@{site.mail_domain}"


def read_decision_token(site: Site, token: str) -> tuple[int, int]:
    """(request id, facilitator id) of a decision address's token; :class:`BadToken` if forged."""
    request_id, facilitator_id = site.signer.verify(DECIDE, token, count=2)
    return request_id, facilitator_id


def reply_word(text: str) -> bool | None:
    """What a reply's first word says: True to approve, False to decline, None neither."""
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(">"):
            continue
        word = line.split()[0].strip(".,;:!?*_\"'").lower()
        return True if word in APPROVE_WORDS else False if word in DECLINE_WORDS else None
    return None


def reply_message(text: str) -> str:
    """The facilitator's message in a reply: what follows the first word, up to the quote."""
    lines: list[str] = []
    started = False
    for line in text.splitlines():
        if line.strip().startswith(">"):
            if started:
                break
            continue
        if not started:
            if not line.strip():
                continue
            started = True
            line = line.strip().partition(" ")[2]
        lines.append(line)
    return "\n".join(lines).strip()


def _primary(session: Session, user_id: int) -> str:
    return session.scalar(select(UserEmail.email).where(UserEmail.user_id == user_id, UserEmail.is_primary)) or ""


def _tell_facilitators(session: Session, site: Site, community: Community, request: JoinRequest) -> None:
    for email, moderator_id in moderators(session, community):
        language = language_for(session, moderator_id, community.language)
        _ = translations(language).gettext
        values = {
            "who": request.name or _("Someone"),
            "name": community.name,
            "url": in_language(site.url(f"/c/{community.slug}/manage/requests"), language),
            "reason": request.reason or _("(none given)"),
        }
        reply = _(
            "Or reply to this message with the word approve or decline at the start (cymeradwyo or "
            "gwrthod in Welsh); anything you write after it is passed on to them."
        )
        outbox.enqueue_notice(
            session,
            dedupe_key=f"join-request:{request.id}:{moderator_id}:{secrets.token_hex(4)}",
            address=email,
            user_id=moderator_id,
            payload={
                "slug": community.slug,
                "subject": _("[%(name)s] %(who)s asks to join") % values,
                "text": _("%(who)s asks to join %(name)s.") % values
                + "\n\n"
                + _("Their reason: %(reason)s") % values
                + "\n\n"
                + _("Approve or decline: %(url)s") % values
                + "\n\n"
                + reply
                + "\n",
                "reply_to": decision_address(site, community, request.id, moderator_id),
            },
        )


def _tell_requester(session: Session, site: Site, community: Community, request: JoinRequest) -> None:
    language = language_for(session, request.user_id, community.language)
    _ = translations(language).gettext
    url = in_language(site.url(f"/c/{community.slug}/"), language)
    values = {"name": community.name, "url": url, "message": request.answer}
    if request.status is RequestStatus.approved:
        subject = _("Welcome to %(name)s") % values
        text = _("Your request to join %(name)s was approved: you are now a member. %(url)s") % values
    else:
        subject = _("Your request to join %(name)s") % values
        text = _("Your request to join %(name)s was declined.") % values
    if request.answer:
        text += "\n\n" + _("The facilitator's message: %(message)s") % values
    outbox.enqueue_notice(
        session,
        dedupe_key=f"join-request-decided:{request.id}",
        address=request.email,
        user_id=request.user_id,
        payload={"slug": community.slug, "subject": subject, "text": text + "\n"},
    )
