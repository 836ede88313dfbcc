"""Posts that wait for their author to say "yes, I sent this".

Anyone can write a member's address in a From line. Where a post's From cannot be shown to
be genuine (no aligned DKIM signature, no SPF pass, no trusted upstream saying so) and the
community requires it (:func:`authentication_required`), the post is held, and the member
is mailed at their own address, not the From line's, a link that publishes it: a person
who really sent it confirms with one press; a forger never sees the link. A moderator may
approve it from the queue as well.

The link names the post and its author and expires; the page it opens changes nothing on
GET (mail scanners follow links) and publishes on POST. Confirmation mails count against
:func:`forum.rate_limits.may_answer`, so forged mail cannot flood a member with them.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from forum import mail_links, outbox, rate_limits
from forum.access import Action, membership_of
from forum.config import Settings
from forum.errors import NotFound
from forum.mail_language import language_for, translations
from forum.models import Community, Post, PostStatus, User, UserEmail, Visibility
from forum.posting import publish, verdict_for
from forum.site import Site
from forum.tokens import BadToken
from forum.translatable import N_, Message

CONFIRM_POST = "confirm-post"  # "yes, I sent this": (post id, author's user id, expiry)
CONFIRM_POST_TTL = timedelta(days=7)
CONFIRM_POST_PATH = "/posts/confirm/"


def authentication_required(settings: Settings, community: Community) -> bool:
    """Must a post by email to ``community`` prove its From domain to be published at once?

    The community's own choice, else the site's; ``auto`` requires it where the archive is
    not public, and everywhere once the site names a trusted upstream (which then checks
    every message, so a genuine sender always passes)."""
    choice = community.require_authentication or settings.smtp_in.require_authentication
    if choice == "auto":
        return community.visibility is not Visibility.public or bool(settings.smtp_in.trusted_authserv_ids)
    return choice == "always"


_CONFIRMED_POST_GONE = Message(N_("the post this link confirms no longer exists"))


def confirm_url(site: Site, token: str) -> str:
    return site.url(f"{CONFIRM_POST_PATH}{token}")


def ask_author(session: Session, site: Site, post: Post, sent_from: str) -> bool:
    """Mail the held post's author, at their own main address, the link that publishes it.

    ``sent_from`` is the address the message came from by its envelope (said in the mail,
    so that a member who did not send it may learn who uses their name). False when nothing was sent:
    no author account, or the author has had enough of these mails this hour."""
    community = session.get(Community, post.community_id)
    address = session.scalar(
        select(UserEmail.email).where(UserEmail.user_id == post.author_id, UserEmail.is_primary.is_(True))
    )
    if community is None or address is None:
        return False
    if not rate_limits.may_answer(session, site, address, purpose=rate_limits.VERIFY, community_id=community.id):
        return False
    token = site.signer.make(
        CONFIRM_POST, post.id, post.author_id or 0, ttl_seconds=int(CONFIRM_POST_TTL.total_seconds())
    )
    excerpt = "\n".join(f"> {line}" for line in post.body.strip().splitlines()[:8])
    language = language_for(session, post.author_id, community.language)
    _ = translations(language).gettext
    values = {
        "name": community.name,
        "subject": post.subject,
        "sender": sent_from or _("an unknown address"),
        "url": mail_links.in_language(confirm_url(site, token), language),
        "days": CONFIRM_POST_TTL.days,
    }
    names_you = _(
        "A message to %(name)s names you as its author, but we could not check that it came "
        "from you (it was sent from %(sender)s):"
    )
    publish_it = _("If you sent it, publish it: %(url)s")
    ignore = _(
        "If you did not, ignore this message: it will not be published unless a facilitator "
        "approves it. The link works for %(days)s days."
    )
    return outbox.enqueue_notice(
        session,
        dedupe_key=f"confirm-post:{post.id}",
        address=address,
        user_id=post.author_id,
        payload={
            "slug": community.slug,
            "subject": _("Did you send this to %(name)s? %(subject)s") % values,
            "text": (
                f"{names_you % values}\n\n  {post.subject}\n\n{excerpt}\n\n{publish_it % values}\n\n{ignore % values}\n"
            ),
        },
    )


def post_to_confirm(session: Session, site: Site, token: str) -> Post:
    """The held post a confirmation link is for; :class:`NotFound` saying why not."""
    try:
        post_id, user_id = site.signer.verify(CONFIRM_POST, token, count=2, expires=True)
    except BadToken:
        raise NotFound(
            Message(
                N_(
                    "this confirmation link is not valid or has expired: the post waits for a facilitator "
                    "instead, or send it again"
                )
            )
        ) from None
    post = session.get(Post, post_id)
    if post is None or post.author_id != user_id:
        raise NotFound(_CONFIRMED_POST_GONE)
    if post.status is not PostStatus.held:
        if post.status is PostStatus.published:
            raise NotFound(Message(N_("this post has already been published")))
        raise NotFound(Message(N_("this post has already been dealt with")))
    return post


def confirm(session: Session, site: Site, token: str) -> tuple[Post, int | None]:
    """Publish the post a confirmation link names, if its author may still post unmoderated.

    Returns the post and the personal copies queued, or None when the community's rules
    now ask a moderator to look first (the post stays in their queue)."""
    post = post_to_confirm(session, site, token)
    community = session.get(Community, post.community_id)
    author = session.get(User, post.author_id)
    if community is None or author is None:
        raise NotFound(_CONFIRMED_POST_GONE)
    verdict = verdict_for(session, community, membership_of(session, author, community), post.author_email, site)
    verdict.raise_if_refused()
    if verdict.action is not Action.accept:
        post.hold_reason = f"confirmed by its author; {verdict.reason}"
        return post, None
    return post, publish(session, post, site)
