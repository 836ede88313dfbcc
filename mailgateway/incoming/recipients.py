"""Who a message may be for, answered at RCPT: the first of the gateway's steps.

An address is refused before anything is stored when it cannot be delivered: not of our
mail domain, an unknown community or address form, a reply, relay, confirmation or
decision token we did not make. It costs no writes, one query. A private community answers a sender who
is not its member exactly as a community that does not exist, at every address form, so
the answers tell nobody it is there.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import and_, bindparam, select
from sqlalchemy.orm import Session

from forum import subscriptions
from forum.access import membership_by_email
from forum.errors import NotFound, NotPermitted
from forum.models import Community, Membership, MemberStatus, Post, User, UserEmail, utcnow
from forum.posting import community_by_slug, no_community
from forum.site import Site
from forum.tokens import BadToken
from mailgateway.addresses import (
    SITE_FORMS,
    Form,
    Route,
    parse_local_part,
    post_address,
    read_reply_token,
    split_address,
    verp_recipient,
)
from mailgateway.incoming import decisions, moderating, private_relay


def check_recipient(session: Session, site: Site, address: str) -> Route:
    """The route of a recipient address, or the error to answer RCPT with."""
    return recipient(session, site, address)[0]


def recipient(session: Session, site: Site, address: str, sender: str | None = None) -> tuple[Route, Community | None]:
    """:func:`check_recipient`, with the community the address belongs to (None for the
    site's own addresses).

    With ``sender`` (the envelope sender, "" for the null reverse path) the answer is the
    one that sender may hear: a private community is, to a sender who is not its active
    member, a community that does not exist, at every address form and whatever the token
    says (same code, same text, and the same one query: the community with the sender's
    standing in it). A token we made (a reply, relay or confirmation address) or a bounce naming a member is the
    credential instead; without ``sender``, after the message was accepted, nothing is
    hidden.
    """
    local, domain = split_address(address)
    if domain != site.mail_domain:
        raise NotFound(f"<{address}> is not an address of {site.mail_domain}; this server does not relay")
    route = parse_local_part(local)
    if route.form in SITE_FORMS:
        return route, None
    if sender is None:
        community, standing = community_by_slug(session, route.slug), None
    else:
        found = session.execute(_WITH_STANDING, {"slug": route.slug, "sender": sender.strip().lower()}).first()
        if found is None:
            raise no_community(route.slug)
        community, standing = found
    if sender is None or not community.is_private:
        _check_detail(session, site, route, community)
        return route, community
    try:
        _check_detail(session, site, route, community)
    except NotFound:
        raise no_community(route.slug) from None
    if not _may_know(session, route, community, standing):
        raise no_community(route.slug)
    return route, community


# A community and the sender's standing in it, in one query whether or not either exists,
# so that a private community and a missing one take the same work to refuse.
_WITH_STANDING = (
    select(Community, Membership.status)
    .outerjoin(
        Membership,
        and_(
            Membership.community_id == Community.id,
            Membership.user_id
            == select(UserEmail.user_id).where(UserEmail.email == bindparam("sender")).scalar_subquery(),
        ),
    )
    .where(Community.slug == bindparam("slug"))
)


def _check_detail(session: Session, site: Site, route: Route, community: Community) -> None:
    """NotFound unless the token in the address is one we made for this community."""
    if route.form is Form.reply:
        reply_target(session, site, route, community)
    elif route.form is Form.confirm:
        subscriptions.pending_request(session, site, route.detail)
    elif route.form is Form.private:
        private_relay.target(session, site, route, community)
    elif route.form is Form.decide:
        decisions.target(session, site, route, community)
    elif route.form is Form.moderate:
        moderating.target(session, site, route, community)


def _may_know(session: Session, route: Route, community: Community, standing: MemberStatus | None) -> bool:
    """Whether a sender of this ``standing`` may learn that the private ``community``
    exists at this address."""
    if route.form in (Form.reply, Form.confirm, Form.private, Form.decide, Form.moderate):
        return True  # the token, checked already, was made for a member (or for this request)
    if route.form is Form.bounces:
        about = verp_recipient(route.detail)
        return about is not None and membership_by_email(session, about, community) is not None
    return standing is MemberStatus.active


def reply_target(session: Session, site: Site, route: Route, community: Community | None = None) -> tuple[User, Post]:
    try:
        user_id, post_id = read_reply_token(site.signer, route.detail)
    except BadToken:
        raise NotFound(f"the reply address {route.slug}+{route.detail} is not one we issued") from None
    user, post = session.get(User, user_id), session.get(Post, post_id)
    community = community or community_by_slug(session, route.slug)
    if user is None or post is None or post.community_id != community.id:
        raise NotFound("the message this replies to, or its recipient, no longer exists")
    days = site.settings.smtp_in.reply_token_days
    if post.created_at < utcnow() - timedelta(days=days):
        raise NotPermitted(
            f"this reply address has expired (reply addresses work for {days} days after the message they "
            f"answer); to take part, write to {post_address(community.slug, site.mail_domain)} or reply on the "
            f"web at {site.url(f'/c/{community.slug}/')}"
        )
    return user, post


def token_author(session: Session, user: User, sent_from: str) -> str:
    """Whom a reply to a member's reply address is shown as: the member, by their main
    address, whichever of their addresses it came from. Whether it may be published as
    theirs at once is :func:`.judging.authorship`'s question."""
    primary = session.scalar(
        select(UserEmail.email).where(UserEmail.user_id == user.id, UserEmail.is_primary.is_(True))
    )
    return primary or sent_from
