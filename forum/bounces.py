"""Addresses that bounce: a score per membership, mail stopped past a threshold, re-enabled in one click.

Councils' addresses go stale (people leave, mailboxes are deleted) and a list that keeps
mailing them hurts everyone's deliverability. Each bounce a member's copy causes adds to
their membership's ``bounce_score``: 2 for a hard bounce (the address does not exist), 1
for a soft one (mailbox full, refused as spam, a temporary failure that gave up). At most
one bounce counts per day, so a busy day on the list cannot stop someone's mail over a
passing problem, and a score with no bounce for ``[bounces] forget_after_days`` starts
again from zero. At ``[bounces] threshold`` their delivery becomes ``none`` (their own
choice is kept, to be restored), the facilitators are told by mail, and the member sees
why the next time they sign in on the web (:func:`stopped_deliveries`).

Re-enabling is one click on a link (:func:`reenable_url`, purpose :data:`REENABLE`): the
web route that serves it calls :func:`membership_for_link` to show what it would do and
:func:`reenable` when confirmed, as mail scanners follow links before people do.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from forum import mail_links, outbox, tokens
from forum.directory import moderators
from forum.errors import NotFound
from forum.mail_language import language_for, translations
from forum.models import Community, Delivery, Membership, User, UserEmail, utcnow
from forum.site import Site
from forum.translatable import N_, Message

HARD_SCORE = 2.0
SOFT_SCORE = 1.0
REENABLE = "bounce-reenable"  # link that turns a member's mail back on: (membership id)
REENABLE_PATH = "/bounces/reenable/"


def record_bounce(
    session: Session, site: Site, membership: Membership, *, permanent: bool, reason: str, now: datetime | None = None
) -> str:
    """Count one bounce of a copy sent to ``membership``; says what happened, for the log."""
    now = now or utcnow()
    settings = site.settings.bounces
    if membership.bounce_disabled_at is not None:
        return "mail already stopped for this member"
    last = membership.last_bounce_at
    if last is not None and now - last > timedelta(days=settings.forget_after_days):
        membership.bounce_score = 0.0
    elif last is not None and last.date() == now.date():
        return f"a bounce was already counted today (score {membership.bounce_score:g})"
    membership.bounce_score += HARD_SCORE if permanent else SOFT_SCORE
    membership.last_bounce_at = now
    membership.bounce_reason = reason[:1000]
    if membership.bounce_score < settings.threshold:
        return f"bounce score {membership.bounce_score:g} of {settings.threshold:g}"
    _stop(session, site, membership, now)
    return f"bounce score {membership.bounce_score:g} reached {settings.threshold:g}: mail stopped"


def _stop(session: Session, site: Site, membership: Membership, now: datetime) -> None:
    membership.delivery_before_bounces = membership.delivery
    membership.delivery = Delivery.none
    membership.bounce_disabled_at = now
    session.flush()
    community = session.get(Community, membership.community_id)
    user = session.get(User, membership.user_id)
    assert community is not None and user is not None
    address = _primary_email(session, user.id)
    who = f"{user.display_name} <{address}>" if user.display_name else address
    for email, moderator_id in moderators(session, community):
        if moderator_id == user.id:
            continue  # their own address is the one bouncing
        language = language_for(session, moderator_id, community.language)
        _ = translations(language).gettext
        values = {
            "name": community.name,
            "email": address,
            "who": who,
            "reason": membership.bounce_reason,
            "url": mail_links.in_language(reenable_url(site, membership), language),
        }
        outbox.enqueue_notice(
            session,
            dedupe_key=f"bounce-stop:{membership.id}:{int(now.timestamp())}:{moderator_id}",
            address=email,
            user_id=moderator_id,
            payload={
                "slug": community.slug,
                "subject": _("[%(name)s] mail to %(email)s stopped: it keeps bouncing") % values,
                "text": "\n\n".join(
                    (
                        _(
                            "Messages from %(name)s to %(who)s have been bouncing, so listbridge has "
                            "stopped sending them mail."
                        )
                        % values,
                        _("The last bounce said: %(reason)s") % values,
                        _("If the address works again, turn their mail back on with one click:") + f"\n{values['url']}",
                        _("They will also be told the next time they sign in on the web.") + "\n",
                    )
                ),
            },
        )


def reenable_url(site: Site, membership: Membership) -> str:
    token = site.signer.make(REENABLE, membership.id)
    return site.url(f"{REENABLE_PATH}{token}")


def membership_for_link(session: Session, site: Site, token: str) -> Membership:
    """The membership a re-enable link is for, without changing it (the page shows it first)."""
    try:
        (membership_id,) = site.signer.verify(REENABLE, token, count=1)
    except tokens.BadToken:
        raise NotFound(Message(N_("this link is not valid: check that the whole link was copied"))) from None
    membership = session.get(Membership, membership_id)
    if membership is None:
        raise NotFound(Message(N_("this link is for a membership that no longer exists")))
    return membership


def reenable(session: Session, membership: Membership) -> Membership:
    """Send mail again as the member had chosen, with a clean score. Doing it twice is harmless."""
    if membership.bounce_disabled_at is not None:
        membership.delivery = membership.delivery_before_bounces or Delivery.each
    membership.delivery_before_bounces = None
    membership.bounce_disabled_at = None
    membership.bounce_score = 0.0
    membership.last_bounce_at = None
    membership.bounce_reason = ""
    session.flush()
    return membership


def stopped_deliveries(session: Session, user: User) -> list[Membership]:
    """The user's memberships whose mail bounces stopped: what the web tells them at sign-in."""
    return list(
        session.scalars(
            select(Membership)
            .options(joinedload(Membership.community))
            .where(Membership.user_id == user.id, Membership.bounce_disabled_at.is_not(None))
            .order_by(Membership.bounce_disabled_at)
        )
    )


def _primary_email(session: Session, user_id: int) -> str:
    return (
        session.scalar(select(UserEmail.email).where(UserEmail.user_id == user_id, UserEmail.is_primary.is_(True)))
        or ""
    )
