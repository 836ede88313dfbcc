"""Email commands: ``SLUG-subscribe@``, ``SLUG-unsubscribe@``, ``SLUG-request@`` and the
confirming reply to ``SLUG-confirm+TOKEN@``.

Every answer is a notice through the outbox, and answers are guarded three times against
becoming a source of spam: the gateway never hands an automatic message here (bounces,
out-of-office replies and anything ``Auto-Submitted`` are dropped before, RFC 3834), nor
one whose From fails its domain's SPF/DMARC (``answerable`` is then False: nothing is
answered), and every answer counts against :func:`forum.rate_limits.may_answer`; past its
limits an address gets none, silently. The subject and body of a command are not read: writing to the address is
the command, and any reply to a confirmation confirms (whatever a client quotes or adds).
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.orm import Session

from forum import outbox, subscriptions
from forum.models import Community, MemberStatus
from forum.posting import community_by_slug
from forum.rate_limits import GATEWAY, may_answer
from forum.site import Site
from forum.subscriptions import Standing
from mailgateway.addresses import Form, Route, command_address, confirm_address, owner_address, post_address
from mailgateway.text.parsing import ParsedMail

log = logging.getLogger(__name__)


def handle(
    session: Session, site: Site, route: Route, parsed: ParsedMail, inbound_id: int, answerable: bool = True
) -> str:
    """Carry out one command message; the outcome, for the spool row and the log.

    A message whose From fails SPF/DMARC (``answerable`` False) is not acted on: it may only
    ask to confirm by mail, and that mail would go to someone who never wrote."""
    sender = (parsed.from_addr or "").lower()
    community = community_by_slug(session, route.slug)
    if not answerable and route.form is not Form.confirm:
        return f"{route.form.value} from {sender}: its From failed SPF/DMARC; no reply"
    if route.form is Form.confirm:
        return _confirmed(session, site, route, parsed, inbound_id)
    if route.form is Form.request:
        return _answer(session, site, community, sender, parsed, inbound_id, "How to take part", _help(site, community))
    action = subscriptions.SUBSCRIBE if route.form is Form.subscribe else subscriptions.UNSUBSCRIBE
    if not _may_answer(session, site, sender, community):
        return f"{action} from {sender}: too many answers to this address in the last hour; no reply"
    asked = subscriptions.ask(session, site, community, sender, action, parsed.from_name)
    if asked.refusal:
        _send(
            session,
            community,
            sender,
            parsed,
            inbound_id,
            f"{community.name}: you are still a member",
            _not_left(community, asked.refusal),
        )
        return f"{action} from {sender}: refused ({asked.refusal})"
    if asked.token is None:
        text = _nothing_to_do(community, sender, action, asked.standing)
        _send(session, community, sender, parsed, inbound_id, f"{community.name}: nothing to do", text)
        return f"{action} from {sender}: nothing to do ({asked.standing.value})"
    verb = "join" if action == subscriptions.SUBSCRIBE else "leave"
    text = (
        f"Someone, probably you, asked for {sender} to {verb} {community.name}.\n\n"
        "To confirm, reply to this message (what you write does not matter), or open this link:\n"
        f"{subscriptions.confirm_url(site, asked.token)}\n\n"
        f"If you did not ask, ignore this message and nothing will change. The request lapses in "
        f"{subscriptions.CONFIRM_TTL.days} days.\n"
    )
    if action == subscriptions.SUBSCRIBE and community.is_private:
        text += f"\n{community.name} is private: once you confirm, its facilitators decide on your request.\n"
    _send(
        session,
        community,
        sender,
        parsed,
        inbound_id,
        f"Confirm: {verb} {community.name}",
        text,
        reply_to=confirm_address(community.slug, site.mail_domain, asked.token),
    )
    return f"{action} from {sender}: confirmation sent"


def _confirmed(session: Session, site: Site, route: Route, parsed: ParsedMail, inbound_id: int) -> str:
    done = subscriptions.confirm(session, site, route.detail)
    community, email = done.community, done.email
    if done.refusal:
        text = _not_left(community, done.refusal)
        outcome = f"{email} did not leave {community.slug}: {done.refusal}"
    elif done.action == subscriptions.UNSUBSCRIBE:
        text = (
            f"{email} has left {community.name} and will get no more mail from it.\n\n"
            f"To join again, write to {command_address(Form.subscribe, community.slug, site.mail_domain)}.\n"
        )
        outcome = f"{email} left {community.slug}"
    elif done.membership is not None and done.membership.status is MemberStatus.pending:
        text = (
            f"Thank you: your request to join {community.name} is now with its facilitators. "
            "You will hear from us when they have decided.\n"
        )
        outcome = f"{email} asked to join {community.slug} (private: awaiting the facilitators)"
    else:
        text = _welcome(site, community)
        outcome = f"{email} joined {community.slug}"
    if _may_answer(session, site, email, community):
        user_id = done.membership.user_id if done.membership is not None else None
        subject = f"{community.name}: you are still a member" if done.refusal else f"{community.name}: done"
        _send(session, community, email, parsed, inbound_id, subject, text, user_id=user_id)
    return outcome


def _answer(
    session: Session,
    site: Site,
    community: Community,
    sender: str,
    parsed: ParsedMail,
    inbound_id: int,
    subject: str,
    text: str,
) -> str:
    if not _may_answer(session, site, sender, community):
        return f"request from {sender}: too many answers to this address in the last hour; no reply"
    _send(session, community, sender, parsed, inbound_id, f"{community.name}: {subject}", text)
    return f"request from {sender}: help sent"


def _may_answer(session: Session, site: Site, address: str, community: Community) -> bool:
    return may_answer(session, site, address, purpose=GATEWAY, community_id=community.id)


def _send(
    session: Session,
    community: Community,
    address: str,
    parsed: ParsedMail,
    inbound_id: int,
    subject: str,
    text: str,
    *,
    reply_to: str = "",
    user_id: int | None = None,
) -> None:
    payload: dict[str, Any] = {"slug": community.slug, "subject": subject, "text": text}
    if parsed.message_id:
        payload["in_reply_to"] = parsed.message_id  # makes it Auto-Submitted: auto-replied
    if reply_to:
        payload["reply_to"] = reply_to
    outbox.enqueue_notice(
        session, dedupe_key=f"command:{inbound_id}:{community.id}", address=address, payload=payload, user_id=user_id
    )


def _nothing_to_do(community: Community, sender: str, action: str, standing: Standing) -> str:
    if standing is Standing.banned:
        return f"{sender} cannot join or leave {community.name} by email. Write to its facilitators if this is wrong.\n"
    if action == subscriptions.SUBSCRIBE:
        if standing is Standing.waiting:
            return f"{sender} has already asked to join {community.name}; its facilitators will decide.\n"
        return f"{sender} is already a member of {community.name}: nothing has changed.\n"
    return f"{sender} is not a member of {community.name}: nothing has changed.\n"


def _not_left(community: Community, refusal: str) -> str:
    return f"{refusal[:1].upper()}{refusal[1:]}.\n\nNothing has changed: you are still a member of {community.name}.\n"


def _help(site: Site, community: Community) -> str:
    domain, slug = site.mail_domain, community.slug
    return (
        f"{community.name} ({site.url(f'/c/{slug}/')})\n\n"
        f"  Post to everyone:      {post_address(slug, domain)}\n"
        f"  Join:                  {command_address(Form.subscribe, slug, domain)}\n"
        f"  Leave:                 {command_address(Form.unsubscribe, slug, domain)}\n"
        f"  Write to facilitators: {owner_address(slug, domain)}\n\n"
        "Joining and leaving by email ask you to confirm by replying. To reply to a post, reply to "
        "it in your mail program as usual.\n"
    )


def _welcome(site: Site, community: Community) -> str:
    return (
        f"Welcome to {community.name}. You will get its posts by email; reply to any of them to "
        f"answer, or write to {post_address(community.slug, site.mail_domain)} to start a new "
        "conversation. Every message has a link to leave.\n\n" + _help(site, community)
    )
