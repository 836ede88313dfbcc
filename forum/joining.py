"""Joining a community from its web page: an address, then the link mailed to it.

A visitor types an address and a delivery choice; nothing happens until the link mailed
to that address is followed and its button pressed (double opt-in): anyone can type
anyone's address. The request is a :class:`forum.models.SubscriptionRequest`, confirmed
by :func:`forum.subscriptions.confirm` like one made by email, which creates the account
when the address has none.

The page answers the same whatever the address is, so it tells nobody who is a member;
the mail says it instead, to the address's owner: a member is told so, with a sign-in
link, rather than asked to join again. Every request counts against the answer limits for
the address and against a limit per client, so the form cannot be used to flood a mailbox.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy.orm import Session

from forum import outbox, rate_limits, subscriptions
from forum.access import user_by_email
from forum.accounts import sign_in_link, sign_in_works
from forum.directory import normalize_email
from forum.list_addresses import post_address
from forum.mail_language import mail_language, translations
from forum.models import Community, Delivery
from forum.posting import no_community
from forum.rate_limits import RateLimit, answer_checks, count_against
from forum.site import Site
from forum.subscriptions import Standing

# As for sign-in links: a council's staff may share one NAT address.
JOIN_PER_CLIENT = RateLimit("join-client", 30, timedelta(hours=1))


def ask_to_join(
    session: Session,
    site: Site,
    community: Community,
    address: str,
    delivery: Delivery,
    client: str,
    language: str | None = None,
) -> None:
    """Mail ``address`` a link confirming it joins ``community`` with ``delivery``, or, when
    it is a member already, a mail saying so; :class:`forum.errors.RateLimited` past the
    limits. ``language``: the asker's page's, for an address with no account yet.

    A private community is joined by invitation or request, never from a form anyone can
    fill in: it is not found here, as on its page.
    """
    if community.is_private:
        raise no_community(community.slug)
    address = normalize_email(address)
    count_against(
        session,
        site,
        [
            *answer_checks(site, address, purpose=rate_limits.JOIN, community_id=community.id),
            (JOIN_PER_CLIENT, client),
        ],
    )
    user = user_by_email(session, address)
    _ = translations(mail_language(user.language if user else language, community.language)).gettext
    values = {"email": address, "name": community.name, "days": subscriptions.CONFIRM_TTL.days}
    asked = subscriptions.ask(session, site, community, address, subscriptions.SUBSCRIBE, delivery=delivery)
    if asked.token is not None:
        subject = _("Confirm: join %(name)s") % values
        text = (
            _("Someone, probably you, asked for %(email)s to join %(name)s.") % values
            + "\n\n"
            + _("To join, open this link and press the button on the page:")
            + f"\n{subscriptions.confirm_url(site, asked.token)}\n\n"
            + _("If you did not ask, ignore this message and nothing will change. The request lapses in %(days)s days.")
            % values
            + "\n"
        )
    elif asked.standing is Standing.member and user is not None:
        subject = _("%(name)s: you are already a member") % values
        text = (
            _("Someone, probably you, asked for %(email)s to join %(name)s, but it is a member already.") % values
            + "\n\n"
            + _("To post, write to %(address)s.") % {"address": post_address(community.slug, site.mail_domain)}
            + "\n\n"
            + _("To change how much mail you get, sign in:")
            + f"\n{sign_in_link(site, user, f'/c/{community.slug}/membership')}\n\n"
            + sign_in_works(_)
            + "\n"
        )
    else:  # waiting for its facilitators, or banned: they know where they stand
        return
    outbox.enqueue_notice(
        session,
        dedupe_key=f"web-join:{community.id}:{secrets.token_hex(8)}",
        address=address,
        payload={"slug": community.slug, "subject": subject, "text": text},
    )
