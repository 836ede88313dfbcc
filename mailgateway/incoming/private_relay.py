"""Private messages between members through the relay, ``SLUG-private+TOKEN@``
(the addresses and tokens: :mod:`forum.private_replies`).

The relay is for the community's members only: the writer is found by the From address
(an active member, and for an answer the very member the address was made for), the
recipient must be one too. The message goes on as a notice from a relay address made
for its recipient, so neither address is shown unless its owner chose to show it (then
it is the Reply-To). Only the text travels: no header of the original is copied, so no
Message-ID, Received line or signature header gives the writer away. Automatic mail
never gets here (the gateway drops it first), and each member may send a limited
number of private messages an hour (:mod:`forum.rate_limits`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from forum import outbox, private_replies
from forum.access import membership_by_email
from forum.errors import NotFound, NotPermitted, RateLimited
from forum.mail_language import mail_language, sender_name, translations
from forum.models import Community, Membership, MemberStatus, Post, PostStatus, User
from forum.private_replies import RelayToken
from forum.rate_limits import HOUR, RateLimit, count_against, may_answer
from forum.site import Site
from forum.tokens import BadToken
from mailgateway.addresses import Route
from mailgateway.text.parsing import ParsedMail

log = logging.getLogger(__name__)

RELAYED = RateLimit("private-relay", 30, HOUR)  # private messages one member may send in an hour


@dataclass(frozen=True)
class Leg:
    """One private message: who writes, to whom, and whether the writer shows their address."""

    writer: User
    recipient: User
    writer_shows_address: bool


def target(session: Session, site: Site, route: Route, community: Community) -> RelayToken:
    """Where a relay address of ``community`` leads; NotFound if we did not make it."""
    try:
        token = private_replies.read_token(site.signer, route.detail)
    except BadToken:
        raise NotFound(f"the private reply address {route.slug}-private+{route.detail} is not one we issued") from None
    if token.post_id is not None:
        post = session.get(Post, token.post_id)
        if post is None or post.community_id != community.id or post.status is not PostStatus.published:
            raise NotFound("the post this private reply answers no longer exists")
    return token


def check(session: Session, site: Site, route: Route, community: Community, from_addr: str) -> Leg:
    """Who writes to whom; NotPermitted with the reason when the relay may not carry it."""
    token = target(session, site, route, community)
    writer = membership_by_email(session, from_addr, community) if from_addr else None
    if writer is None or writer.status is not MemberStatus.active:
        raise NotPermitted(f"only members of {community.name} may write privately through this address")
    if token.post_id is not None:
        to_user_id = session.get(Post, token.post_id).author_id  # type: ignore[union-attr] # checked by target
    elif token.from_user_id != writer.user_id:
        raise NotPermitted(
            "this private reply address was made for another member: answer from the address the message came to"
        )
    else:
        to_user_id = token.to_user_id
    recipient = session.scalar(
        select(Membership).where(Membership.user_id == to_user_id, Membership.community_id == community.id)
    )
    if recipient is None or recipient.status is not MemberStatus.active:
        raise NotPermitted(f"the member you are writing to is no longer a member of {community.name}")
    return Leg(writer.user, recipient.user, writer.show_address)


def relay(session: Session, site: Site, route: Route, community: Community, parsed: ParsedMail, inbound_id: int) -> str:
    """Pass a private message on; the outcome, for the spool row and the log."""
    leg = check(session, site, route, community, parsed.from_addr or "")
    if not _may_relay(session, site, leg.writer):
        _tell_limited(session, site, community, leg.writer, parsed, inbound_id)
        return f"private message of member {leg.writer.id}: too many this hour; not relayed"
    # The note is in the recipient's language: they read it.
    language = mail_language(leg.recipient.language, community.language)
    speech = translations(language)
    _ = speech.gettext
    values: dict[str, object] = {
        "name": leg.writer.display_name.replace("@", " at ") or _("A member"),
        "community": community.name,
        "count": len(parsed.attachments),
    }
    name = values["name"]
    back = private_replies.pair_address(site.signer, community.slug, site.mail_domain, leg.writer.id, leg.recipient.id)
    if leg.writer_shows_address:
        wrote = _("%(name)s wrote to you privately through %(community)s. Reply to answer %(name)s.")
    else:
        wrote = _(
            "%(name)s wrote to you privately through %(community)s. Reply to answer %(name)s "
            "(your address is not shown to them, nor theirs to you)."
        )
    note = f"\n\n-- \n{wrote % values}\n"
    if parsed.attachments:
        not_passed = speech.ngettext(
            "%(count)s attachment was not passed on: ask %(name)s to share it in the community.",
            "%(count)s attachments were not passed on: ask %(name)s to share them in the community.",
            len(parsed.attachments),
        )
        note += f"{not_passed % values}\n"
    payload = {
        "subject": parsed.subject or _("(no subject)"),
        "text": parsed.text.rstrip() + note,
        "from_name": sender_name(str(name), community.name, language),
        "from_address": back,
        "relayed": True,
    }
    if leg.writer_shows_address:
        payload["reply_to"] = _primary(leg.writer)
    outbox.enqueue_notice(
        session,
        dedupe_key=f"private:{inbound_id}:{community.id}",
        address=_primary(leg.recipient),
        user_id=leg.recipient.id,
        payload=payload,
    )
    log.info(
        "private message relayed in %s from member %s to member %s", community.slug, leg.writer.id, leg.recipient.id
    )
    return f"private message of member {leg.writer.id} relayed to member {leg.recipient.id}"


def _may_relay(session: Session, site: Site, writer: User) -> bool:
    """Count one more private message of ``writer``; False (nothing counted) past :data:`RELAYED`."""
    try:
        count_against(session, site, [(RELAYED, f"user:{writer.id}")])
    except RateLimited:
        log.info("member %s: %d private messages this hour, the most relayed", writer.id, RELAYED.count)
        return False
    return True


def _tell_limited(
    session: Session, site: Site, community: Community, writer: User, parsed: ParsedMail, inbound_id: int
) -> None:
    """Say once in a while (the answer limit) that a private message was not passed on."""
    address = _primary(writer)
    if may_answer(session, site, address, community_id=community.id):
        _ = translations(mail_language(writer.language, community.language)).gettext
        values = {"subject": parsed.subject or _("(no subject)"), "name": community.name, "count": RELAYED.count}
        outbox.enqueue_notice(
            session,
            dedupe_key=f"private-limited:{inbound_id}",
            address=address,
            user_id=writer.id,
            payload={
                "subject": _("Not passed on: %(subject)s") % values,
                "text": _(
                    "Your private message through %(name)s was not passed on: you have sent %(count)s in the "
                    "last hour. Please send it again later."
                )
                % values
                + "\n",
                "in_reply_to": parsed.message_id or "",
            },
        )


def _primary(user: User) -> str:
    return next(e.email for e in user.emails if e.is_primary)
