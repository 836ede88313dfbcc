"""Held posts: the queue a facilitator works through, and what approving or rejecting does.

Approval publishes the post exactly as if it had been accepted on arrival (the same
fan-out through :func:`forum.posting.publish`); rejection keeps the post out of sight and
tells its author why. Shared by the command line and the web moderation page.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from forum import mail_links, moderation_replies, outbox
from forum.directory import moderators
from forum.errors import InvalidInput, NotFound
from forum.mail_language import language_for, translations, translations_for
from forum.models import Community, Post, PostStatus
from forum.moderation_log import OPERATOR, Actor, LogAction, record
from forum.posting import publish
from forum.rate_limits import FACILITATORS, may_answer, normalize_address
from forum.site import Site
from forum.translatable import N_, Message


def held_posts(session: Session, community: Community) -> list[Post]:
    return list(
        session.scalars(
            select(Post).where(Post.community_id == community.id, Post.status == PostStatus.held).order_by(Post.id)
        )
    )


def _held(session: Session, post_id: int) -> Post:
    post = session.get(Post, post_id)
    if post is None:
        raise NotFound(Message(N_("there is no post %(id)s"), {"id": post_id}))
    if post.status is not PostStatus.held:
        raise InvalidInput(Message(N_("post %(id)s is not awaiting moderation"), {"id": post_id}))
    return post


def approve(session: Session, site: Site, post_id: int, *, by: Actor = OPERATOR) -> int:
    """Publish a held post; returns the number of personal copies queued."""
    post = _held(session, post_id)
    copies = publish(session, post, site)
    record(session, by, LogAction.approve, post.community_id, post=post)
    return copies


def reject(session: Session, post_id: int, reason: str, *, by: Actor = OPERATOR) -> Post:
    """Refuse a held post for good and mail the reason to its author."""
    post = _held(session, post_id)
    post.status = PostStatus.rejected
    post.hold_reason = reason
    record(session, by, LogAction.reject, post.community_id, post=post, detail=reason)
    community = session.get(Community, post.community_id)
    if post.author_email and community is not None:
        _ = translations_for(session, post.author_id, community.language).gettext
        values = {"subject": post.subject, "name": community.name, "reason": reason or _("(none given)")}
        outbox.enqueue_notice(
            session,
            dedupe_key=f"rejected:{post.id}",
            address=post.author_email,
            user_id=post.author_id,
            payload={
                "slug": community.slug,
                "subject": _("Your message to %(name)s was not posted") % values,
                "text": (
                    _('Your message "%(subject)s" to %(name)s was not posted.') % values
                    + "\n\n"
                    + _("The moderator's reason: %(reason)s") % values
                    + "\n"
                ),
                "in_reply_to": post.message_id,
            },
        )
    return post


def notify_held(session: Session, site: Site, post: Post, *, tell_author: bool = True) -> None:
    """Tell the author their post awaits approval, and the facilitators that it waits.

    A flood of forged mail to a moderated community must not turn the site into a source
    of backscatter, nor bury its facilitators: the author hears at most once a day per
    community (and not at all when ``tell_author`` is False: a From that fails SPF/DMARC),
    and every mail counts against :func:`forum.rate_limits.may_answer`; past its limit a
    facilitator is not mailed, and the next notice they get says how many posts wait.
    """
    community = session.get(Community, post.community_id)
    if community is None:
        return
    author = normalize_address(post.author_email) if post.author_email else ""
    if author and tell_author and may_answer(session, site, author, community_id=community.id):
        _ = translations_for(session, post.author_id, community.language).gettext
        values = {"subject": post.subject, "name": community.name, "reason": post.hold_reason}
        outbox.enqueue_notice(
            session,
            dedupe_key=f"held:{community.id}:{author}:{date.today().isoformat()}",
            address=post.author_email,
            user_id=post.author_id,
            payload={
                "slug": community.slug,
                "subject": _("Your message to %(name)s is awaiting approval") % values,
                "text": (
                    _('Your message "%(subject)s" to %(name)s will appear once a moderator approves it.') % values
                    + "\n\n"
                    + _("Why: %(reason)s") % values
                    + "\n"
                ),
                "in_reply_to": post.message_id,
            },
        )
    queue = site.url(f"/c/{community.slug}/manage/held")
    waiting = (
        session.scalar(
            select(func.count())
            .select_from(Post)
            .where(Post.community_id == community.id, Post.status == PostStatus.held)
        )
        or 0
    )
    for email, user_id in moderators(session, community):
        if not may_answer(session, site, email, purpose=FACILITATORS, community_id=community.id):
            continue
        language = language_for(session, user_id, community.language)
        speech = translations(language)
        _ = speech.gettext
        about: dict[str, object] = {
            "name": community.name,
            "subject": post.subject,
            "author": post.author_name,
            "email": post.author_email,
            "reason": post.hold_reason,
            "count": waiting - 1,
            "queue": mail_links.in_language(queue, language),
        }
        others = ""
        if waiting > 1:
            others = speech.ngettext(
                "%(count)s other post is waiting too.", "%(count)s other posts are waiting too.", waiting - 1
            )
            others = f"\n{others % about}\n"
        outbox.enqueue_notice(
            session,
            dedupe_key=f"held-owner:{post.id}:{user_id}",
            address=email,
            user_id=user_id,
            payload={
                "slug": community.slug,
                "subject": _("[%(name)s] awaiting your approval: %(subject)s") % about,
                "text": (
                    _("%(author)s <%(email)s> wrote to %(name)s:") % about
                    + f"\n\n{post.body}\n\n-- \n"
                    + _("Held because: %(reason)s") % about
                    + f"\n{others}\n"
                    + _(
                        "To publish it, reply to this email with the word approve. To turn it down, reply "
                        "with the word reject, and after it any reason: the author is sent it."
                    )
                    + "\n"
                    + _("Or approve or reject it on the web: %(queue)s") % about
                    + "\n"
                ),
                "reply_to": moderation_replies.address(site.signer, community.slug, site.mail_domain, post.id, user_id),
            },
        )
