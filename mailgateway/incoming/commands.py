"""Email commands: ``SLUG-subscribe@``, ``SLUG-unsubscribe@``, ``SLUG-request@`` and the
confirming reply to ``SLUG-confirm+TOKEN@``.

Every answer is a notice through the outbox, and answers are guarded three times against
becoming a source of spam: the gateway never hands an automatic message here (bounces,
out-of-office replies and anything ``Auto-Submitted`` are dropped before, RFC 3834), nor
one whose From fails its domain's SPF/DMARC (``answerable`` is then False: nothing is
answered), and every answer counts against :func:`forum.rate_limits.may_answer`; past its
limits an address gets none, silently. The subject and body of a command are not read: writing to the address is
the command, and any reply to a confirmation confirms (whatever a client quotes or adds).
Answers are in the language of the member who wrote, else of the community
(:mod:`forum.mail_language`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from forum import mail_links, outbox, subscriptions
from forum.access import user_by_email
from forum.mail_language import mail_language, translations
from forum.models import Community, MemberStatus
from forum.posting import community_by_slug
from forum.rate_limits import GATEWAY, may_answer
from forum.site import Site
from forum.subscriptions import Standing
from forum.translatable import Message
from mailgateway.addresses import Form, Route, command_address, confirm_address, owner_address, post_address
from mailgateway.text.parsing import ParsedMail

log = logging.getLogger(__name__)
Gettext = Callable[[str], str]


def _language(session: Session, community: Community, address: str) -> str:
    """The language of ``address``'s member, else of ``community``."""
    user = user_by_email(session, address)
    return mail_language(user.language if user else None, community.language)


def _speech(session: Session, community: Community, address: str) -> Gettext:
    """gettext in the language of ``address``'s member, else of ``community``."""
    return translations(_language(session, community, address)).gettext


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
    if community.is_private and subscriptions.standing(session, community, sender) is not Standing.member:
        # Joined by invitation only, and not there for outsiders: no answer says it exists.
        return f"{route.form.value} from {sender}: {community.slug} is private and they are not a member; no reply"
    _ = _speech(session, community, sender)
    if route.form is Form.request:
        subject = _("%(name)s: How to take part") % {"name": community.name}
        return _answer(session, site, community, sender, parsed, inbound_id, subject, _help(site, community, _))
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
            _("%(name)s: you are still a member") % {"name": community.name},
            _not_left(community, asked.refusal, _),
        )
        return f"{action} from {sender}: refused ({asked.refusal})"
    if asked.token is None:
        text = _nothing_to_do(community, sender, action, asked.standing, _)
        subject = _("%(name)s: nothing to do") % {"name": community.name}
        _send(session, community, sender, parsed, inbound_id, subject, text)
        return f"{action} from {sender}: nothing to do ({asked.standing.value})"
    values = {"email": sender, "name": community.name, "days": subscriptions.CONFIRM_TTL.days}
    if action == subscriptions.SUBSCRIBE:
        asked_for = _("Someone, probably you, asked for %(email)s to join %(name)s.") % values
        subject = _("Confirm: join %(name)s") % values
    else:
        asked_for = _("Someone, probably you, asked for %(email)s to leave %(name)s.") % values
        subject = _("Confirm: leave %(name)s") % values
    how = _("To confirm, reply to this message (what you write does not matter), or open this link:")
    text = (
        f"{asked_for}\n\n{how}\n"
        f"{mail_links.in_language(subscriptions.confirm_url(site, asked.token), _language(session, community, sender))}\n\n"
        + _("If you did not ask, ignore this message and nothing will change. The request lapses in %(days)s days.")
        % values
        + "\n"
    )
    if action == subscriptions.SUBSCRIBE and not community.is_public:
        text += "\n" + _("Once you confirm, the facilitators of %(name)s decide on your request.") % values
        text += "\n"
    _send(
        session,
        community,
        sender,
        parsed,
        inbound_id,
        subject,
        text,
        reply_to=confirm_address(community.slug, site.mail_domain, asked.token),
    )
    return f"{action} from {sender}: confirmation sent"


def _confirmed(session: Session, site: Site, route: Route, parsed: ParsedMail, inbound_id: int) -> str:
    done = subscriptions.confirm(session, site, route.detail)
    community, email = done.community, done.email
    _ = _speech(session, community, email)
    values = {"email": email, "name": community.name}
    if done.refusal:
        text = _not_left(community, done.refusal, _)
        outcome = f"{email} did not leave {community.slug}: {done.refusal}"
    elif done.action == subscriptions.UNSUBSCRIBE:
        join = command_address(Form.subscribe, community.slug, site.mail_domain)
        text = (
            _("%(email)s has left %(name)s and will get no more mail from it.") % values
            + "\n\n"
            + _("To join again, write to %(address)s.") % {"address": join}
            + "\n"
        )
        outcome = f"{email} left {community.slug}"
    elif done.requested or (done.membership is not None and done.membership.status is MemberStatus.pending):
        text = (
            _(
                "Thank you: your request to join %(name)s is now with its facilitators. "
                "You will hear from us when they have decided."
            )
            % values
            + "\n"
        )
        outcome = f"{email} asked to join {community.slug} (awaiting the facilitators)"
    else:
        text = _welcome(site, community, _)
        outcome = f"{email} joined {community.slug}"
    if _may_answer(session, site, email, community):
        user_id = done.membership.user_id if done.membership is not None else None
        subject = (_("%(name)s: you are still a member") if done.refusal else _("%(name)s: done")) % values
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
    _send(session, community, sender, parsed, inbound_id, subject, text)
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


def _nothing_to_do(community: Community, sender: str, action: str, standing: Standing, _: Gettext) -> str:
    values = {"email": sender, "name": community.name}
    if standing is Standing.banned:
        text = _("%(email)s cannot join or leave %(name)s by email. Write to its facilitators if this is wrong.")
    elif action == subscriptions.SUBSCRIBE and standing is Standing.waiting:
        text = _("%(email)s has already asked to join %(name)s; its facilitators will decide.")
    elif action == subscriptions.SUBSCRIBE:
        text = _("%(email)s is already a member of %(name)s: nothing has changed.")
    else:
        text = _("%(email)s is not a member of %(name)s: nothing has changed.")
    return text % values + "\n"


def _not_left(community: Community, refusal: Message, _: Gettext) -> str:
    """The core's reason, then ours, in the member's language."""
    still = _("Nothing has changed: you are still a member of %(name)s.") % {"name": community.name}
    reason = refusal.render(_)
    return f"{reason[:1].upper()}{reason[1:]}.\n\n{still}\n"


def _help(site: Site, community: Community, _: Gettext) -> str:
    domain, slug = site.mail_domain, community.slug
    rows = [
        (_("Post to everyone:"), post_address(slug, domain)),
        (_("Join:"), command_address(Form.subscribe, slug, domain)),
        (_("Leave:"), command_address(Form.unsubscribe, slug, domain)),
        (_("Write to facilitators:"), owner_address(slug, domain)),
    ]
    width = max(len(label) for label, _address in rows) + 1
    lines = "".join(f"  {label:<{width}}{address}\n" for label, address in rows)
    how = _(
        "Joining and leaving by email ask you to confirm by replying. To reply to a post, reply to "
        "it in your mail program as usual."
    )
    return f"{community.name} ({site.url(f'/c/{slug}/')})\n\n{lines}\n{how}\n"


def _welcome(site: Site, community: Community, _: Gettext) -> str:
    welcome = _(
        "Welcome to %(name)s. You will get its posts by email; reply to any of them to "
        "answer, or write to %(address)s to start a new conversation. Every message has a link to leave."
    ) % {"name": community.name, "address": post_address(community.slug, site.mail_domain)}
    return f"{welcome}\n\n{_help(site, community, _)}"
