"""Mail for a community's facilitators, ``SLUG-owner@``, passed on to them."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from forum import outbox
from forum.directory import moderators
from forum.errors import Dropped, RateLimited
from forum.mail_language import translations_for
from forum.models import InboundMessage
from forum.posting import community_by_slug
from forum.rate_limits import FACILITATORS, RateLimit, count_against, may_answer, normalize_address
from forum.site import Site
from mailgateway.incoming.judging import answerable
from mailgateway.text.parsing import ParsedMail


def forward_to_owners(session: Session, site: Site, slug: str, parsed: ParsedMail, row: InboundMessage) -> str:
    """Pass a message for SLUG-owner@ on to the community's facilitators and moderators.

    Under the rules posts keep (the gateway already dropped automatic mail, and the size
    limit held at DATA): nothing whose From fails SPF/DMARC, at most ``[smtp_in]
    owner_mail_per_sender_per_hour`` messages from one sender, and each facilitator's
    copy counts against :func:`forum.rate_limits.may_answer`."""
    community = community_by_slug(session, slug)
    sender_address = (parsed.from_addr or row.mail_from).lower()
    if not answerable(site, parsed, row):
        raise Dropped(f"not passed on to the facilitators: the From of {sender_address} fails SPF/DMARC")
    per_sender = RateLimit("owner-sender", site.settings.smtp_in.owner_mail_per_sender_per_hour, timedelta(hours=1))
    try:
        count_against(session, site, [(per_sender, normalize_address(sender_address))])
    except RateLimited:
        raise Dropped(
            f"not passed on to the facilitators: {sender_address} has written to them too often in the last hour"
        ) from None
    sender = f"{parsed.from_name} <{parsed.from_addr}>" if parsed.from_name else (parsed.from_addr or "unknown")
    passed = 0
    for email, user_id in moderators(session, community):
        if not may_answer(session, site, email, purpose=FACILITATORS, community_id=community.id):
            continue
        _ = translations_for(session, user_id, community.language).gettext
        values = {
            "name": community.name,
            "subject": parsed.subject or _("(no subject)"),
            "sender": sender,
            "address": f"{slug}-owner@{site.mail_domain}",
        }
        passed += outbox.enqueue_notice(
            session,
            dedupe_key=f"owner:{row.id}:{user_id}",
            address=email,
            user_id=user_id,
            payload={
                "slug": slug,
                "subject": _("[%(name)s owners] %(subject)s") % values,
                "text": _("%(sender)s wrote to %(address)s:") % values + f"\n\n{parsed.text}",
                "reply_to": parsed.from_addr or "",
            },
        )
    return f"forwarded to {passed} facilitator(s)"
