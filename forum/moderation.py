"""Held posts: the queue a facilitator works through, and what approving or rejecting does.

Approval publishes the post exactly as if it had been accepted on arrival (the same
fan-out through :func:`forum.posting.publish`); rejection keeps the post out of sight and
tells its author why. Shared by the command line and the web moderation page.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from forum import outbox
from forum.errors import InvalidInput, NotFound
from forum.directory import moderators
from forum.models import Community, Post, PostStatus
from forum.posting import publish
from forum.site import Site


def held_posts(session: Session, community: Community) -> list[Post]:
    return list(session.scalars(
        select(Post).where(Post.community_id == community.id, Post.status == PostStatus.held).order_by(Post.id)
    ))


def _held(session: Session, post_id: int) -> Post:
    post = session.get(Post, post_id)
    if post is None:
        raise NotFound(f"there is no post {post_id}")
    if post.status is not PostStatus.held:
        raise InvalidInput(f"post {post_id} is not awaiting moderation (it is {post.status.value})")
    return post


def approve(session: Session, site: Site, post_id: int) -> int:
    """Publish a held post; returns the number of personal copies queued."""
    return publish(session, _held(session, post_id), site)


def reject(session: Session, post_id: int, reason: str) -> Post:
    """Refuse a held post for good and mail the reason to its author."""
    post = _held(session, post_id)
    post.status = PostStatus.rejected
    post.hold_reason = reason
    community = session.get(Community, post.community_id)
    if post.author_email and community is not None:
        outbox.enqueue_notice(
            session, dedupe_key=f"rejected:{post.id}", address=post.author_email, user_id=post.author_id,
            payload={
                "slug": community.slug,
                "subject": f"Your message to {community.name} was not posted",
                "text": (f'Your message "{post.subject}" to {community.name} was not posted.\n\n'
                         f"The moderator's reason: {reason or '(none given)'}\n"),
                "in_reply_to": post.message_id,
            },
        )
    return post


def notify_held(session: Session, site: Site, post: Post) -> None:
    """Tell the author their post awaits approval, and the facilitators that it waits.

    At most one notice per author and community a day: a flood of forged mail to a
    moderated community must not turn the site into a source of backscatter.
    """
    community = session.get(Community, post.community_id)
    if community is None:
        return
    if post.author_email:
        outbox.enqueue_notice(
            session, dedupe_key=f"held:{community.id}:{post.author_email}:{date.today().isoformat()}",
            address=post.author_email, user_id=post.author_id,
            payload={
                "slug": community.slug,
                "subject": f"Your message to {community.name} is awaiting approval",
                "text": (f'Your message "{post.subject}" to {community.name} will appear once a moderator '
                         f"approves it.\n\nWhy: {post.hold_reason}\n"),
                "in_reply_to": post.message_id,
            },
        )
    queue = site.url(f"/c/{community.slug}/manage/held")
    for email, user_id in moderators(session, community):
        outbox.enqueue_notice(
            session, dedupe_key=f"held-owner:{post.id}:{user_id}", address=email, user_id=user_id,
            payload={
                "slug": community.slug,
                "subject": f"[{community.name}] awaiting your approval: {post.subject}",
                "text": (f"{post.author_name} <{post.author_email}> wrote to {community.name}:\n\n"
                         f"{post.body}\n\n-- \nHeld because: {post.hold_reason}\n"
                         f"Approve or reject it: {queue}\n"),
            },
        )
