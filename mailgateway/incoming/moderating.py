"""A moderator's answer to a held-post notice, ``SLUG-moderate+TOKEN@``: approve or reject by mail.

The token (:mod:`forum.moderation_replies`) names the held post and the moderator the
notice went to. The answer is acted on only from that moderator's own address, while they
still moderate the community, and (checked by the caller, as for a post: :mod:`.judging`)
only when nothing says its From is forged. Its first word decides; the moderator gets a
short confirmation, or a note saying why nothing happened (decided already, no decision
word), counted against :func:`forum.rate_limits.may_answer` like every answer.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from forum import moderation, moderation_replies, outbox
from forum.access import can_moderate, membership_of
from forum.errors import NotFound, NotPermitted
from forum.mail_language import mail_language, translations
from forum.models import Community, Post, PostStatus, User
from forum.moderation_replies import APPROVE
from forum.rate_limits import may_answer
from forum.site import Site
from forum.tokens import BadToken
from mailgateway.addresses import Route
from mailgateway.text.parsing import ParsedMail


def target(session: Session, site: Site, route: Route, community: Community) -> tuple[Post, User]:
    """The held post and the moderator a moderation address names; NotFound if we did not make it."""
    try:
        post_id, user_id = moderation_replies.read_token(site.signer, route.detail)
    except BadToken:
        raise NotFound(
            f"the moderation address {route.slug}{moderation_replies.SUFFIX}+{route.detail} is not one we issued, "
            "or it has expired: decide on the web instead"
        ) from None
    post, user = session.get(Post, post_id), session.get(User, user_id)
    if post is None or post.community_id != community.id or user is None:
        raise NotFound("the held post this address answers no longer exists")
    return post, user


def check(session: Session, site: Site, route: Route, community: Community, from_addr: str) -> tuple[Post, User]:
    """:func:`target`, and NotPermitted unless ``from_addr`` is an address of the moderator
    the notice went to, who moderates the community still."""
    post, moderator = target(session, site, route, community)
    sender = from_addr.strip().lower()
    if sender not in {address.email for address in moderator.emails}:
        raise NotPermitted(
            "a decision on a held post is taken only from the moderator the notice was sent to, "
            f"not from {sender or 'an unnamed sender'}"
        )
    if not can_moderate(membership_of(session, moderator, community)):
        raise NotPermitted(f"{sender} no longer moderates {community.name}")
    return post, moderator


def handle(session: Session, site: Site, route: Route, community: Community, parsed: ParsedMail, new_text: str) -> str:
    """Carry out the decision an answer's ``new_text`` (its quotes and signature removed)
    starts with; the outcome, for the spool row and the log."""
    sender = (parsed.from_addr or "").lower()
    post, moderator = check(session, site, route, community, sender)
    _ = translations(mail_language(moderator.language, community.language)).gettext
    values: dict[str, object] = {"subject": post.subject, "name": community.name}
    chosen = moderation_replies.decision(new_text)
    if post.status is not PostStatus.held:
        outcome = f"post {post.id} decided already ({post.status.value}); nothing changed"
        subject = _("Already decided: %(subject)s") % values
        if post.status is PostStatus.published:
            text = _('"%(subject)s" in %(name)s was published already: nothing changed.') % values
        else:
            text = _('"%(subject)s" in %(name)s was turned down already: nothing changed.') % values
    elif chosen is None:
        outcome = f"no decision word from {sender}; post {post.id} still held"
        subject = _("Not understood: %(subject)s") % values
        text = (
            _(
                '"%(subject)s" in %(name)s is still waiting. To publish it, reply to the notice with the word '
                "approve as the first word; to turn it down, with the word reject, and after it any reason."
            )
            % values
        )
    elif chosen.action == APPROVE:
        copies = moderation.approve(session, site, post.id)
        outcome = f"post {post.id} approved by {sender}: {copies} copies"
        subject = _("Approved: %(subject)s") % values
        text = _('"%(subject)s" is published in %(name)s and on its way to its members.') % values
    else:
        moderation.reject(session, post.id, chosen.reason)
        outcome = f"post {post.id} rejected by {sender}"
        subject = _("Rejected: %(subject)s") % values
        text = _('"%(subject)s" is not published in %(name)s; its author has been told.') % values
    if may_answer(session, site, sender, community_id=community.id):
        outbox.enqueue_notice(
            session,
            dedupe_key=f"moderated:{post.id}:{moderator.id}:{parsed.message_id or ''}"[:200],
            address=sender,
            user_id=moderator.id,
            payload={"slug": community.slug, "subject": subject, "text": text + "\n", "in_reply_to": parsed.message_id},
        )
    return outcome
