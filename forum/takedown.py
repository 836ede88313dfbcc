"""Taking things down: an author's edit or deletion of their own post, a facilitator's
hiding of a post or a thread, and bans.

An author may change what they wrote only for a while after posting (``[posting]
edit_window_minutes``): long enough to mend a typo, not to rewrite what others have since
answered. Facilitators do not rewrite anyone's words; they hide them. A hidden post is out
of every reader's sight (pages, feeds, search, mbox, digests not yet sent) and its chat
copies are removed, but it stays in the database for the record, and its facilitators
still see it, marked, with a way to bring it back. Mail already sent cannot be recalled.

Every action is written to the moderation log (:mod:`forum.moderation_log`) in the same
transaction. The caller owns the transaction; nothing here commits.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from forum import editing, outbox
from forum.access import membership_of, user_by_email
from forum.accounts import last_facilitator_problem
from forum.archive import PostEntry
from forum.config import Settings
from forum.directory import member_row, upsert_members
from forum.errors import InvalidInput, NotFound
from forum.models import Community, Membership, MemberStatus, ModerationEntry, Post, PostStatus, Thread, User, utcnow
from forum.moderation_log import Actor, LogAction, record

# Authors' own changes -------------------------------------------------------------------


def edit_window(settings: Settings) -> timedelta:
    return timedelta(minutes=settings.posting.edit_window_minutes)


def may_change_own(
    post: Post | PostEntry, user_id: int | None, settings: Settings, *, now: datetime | None = None
) -> bool:
    """Whether ``user_id`` may still edit or delete ``post``: theirs, published, and recent."""
    if user_id is None or post.author_id != user_id or post.status is not PostStatus.published:
        return False
    return (now or utcnow()) - post.created_at <= edit_window(settings)


def _own(post: Post, user: User, settings: Settings) -> None:
    # One refusal for "not yours" and "too late": a guessed post id learns nothing.
    if not may_change_own(post, user.id, settings):
        raise NotFound("there is no post of yours here that can still be changed")


def edit_own(session: Session, settings: Settings, user: User, post: Post, body: str) -> int:
    """Replace the text of the author's own post; the old text is kept in the log.

    Returns the number of chat copies queued for updating (copies mailed stay as sent).
    """
    _own(post, user, settings)
    if not body.strip():
        raise InvalidInput("the message has no text")
    previous = post.body
    if body == previous:
        return 0
    changed = editing.edit_post(session, post, body)
    record(session, Actor.of(session, user), LogAction.edit, post.community_id, post=post, detail=previous)
    return changed


def delete_own(session: Session, settings: Settings, user: User, post: Post) -> None:
    """The author takes their post down: the thread shows that a post was deleted, no more."""
    _own(post, user, settings)
    editing.delete_post(session, post)
    record(session, Actor.of(session, user), LogAction.delete, post.community_id, post=post)


# Facilitators hiding posts and threads --------------------------------------------------


def _thread(session: Session, post: Post) -> Thread:
    return session.get_one(Thread, post.thread_id)


def _hide(session: Session, post: Post) -> None:
    """Out of sight and out of the thread's count; chat copies are removed (Matrix redacts
    them, Slack deletes them) through the outbox, so a platform outage only delays it."""
    _thread(session, post).post_count -= 1
    post.status = PostStatus.hidden
    session.flush()
    outbox.queue_chat_change(session, post, "delete")


def _unhide(session: Session, post: Post) -> None:
    _thread(session, post).post_count += 1
    post.status = PostStatus.published
    session.flush()


def hide_post(session: Session, actor: Actor, post: Post, reason: str = "") -> None:
    if post.status is PostStatus.hidden:
        raise InvalidInput("that post is hidden already")
    if post.status is not PostStatus.published:
        raise InvalidInput(f"only a published post can be hidden (this one is {post.status.value})")
    _hide(session, post)
    record(session, actor, LogAction.hide, post.community_id, post=post, detail=reason.strip())


def unhide_post(session: Session, actor: Actor, post: Post) -> None:
    if post.status is not PostStatus.hidden:
        raise InvalidInput("that post is not hidden")
    if _thread(session, post).hidden_at is not None:
        raise InvalidInput("the whole thread is hidden: show the thread again instead")
    _unhide(session, post)
    record(session, actor, LogAction.unhide, post.community_id, post=post)


def hide_thread(session: Session, actor: Actor, thread: Thread, reason: str = "") -> int:
    """Hide a thread and every post in it; replies that still come are hidden with it
    (:func:`forum.posting.publish`). Returns the number of posts hidden."""
    if thread.hidden_at is not None:
        raise InvalidInput("that thread is hidden already")
    thread.hidden_at = utcnow()
    posts = session.scalars(
        select(Post).where(Post.thread_id == thread.id, Post.status == PostStatus.published).order_by(Post.id)
    ).all()
    for post in posts:
        _hide(session, post)
    record(
        session,
        actor,
        LogAction.hide_thread,
        thread.community_id,
        thread_id=thread.id,
        target=thread.subject,
        detail=reason.strip(),
    )
    return len(posts)


def unhide_thread(session: Session, actor: Actor, thread: Thread) -> int:
    """Show a hidden thread again, with its posts, except those a facilitator hid one by one
    (their last own entry in the log is a hide). Returns the number of posts shown."""
    if thread.hidden_at is None:
        raise InvalidInput("that thread is not hidden")
    thread.hidden_at = None
    shown = 0
    for post in session.scalars(
        select(Post).where(Post.thread_id == thread.id, Post.status == PostStatus.hidden).order_by(Post.id)
    ):
        if not _hidden_on_its_own(session, post):
            _unhide(session, post)
            shown += 1
    record(session, actor, LogAction.unhide_thread, thread.community_id, thread_id=thread.id, target=thread.subject)
    return shown


def _hidden_on_its_own(session: Session, post: Post) -> bool:
    last = session.scalar(
        select(ModerationEntry.action)
        .where(
            ModerationEntry.post_id == post.id,
            ModerationEntry.action.in_([LogAction.hide.value, LogAction.unhide.value]),
        )
        .order_by(ModerationEntry.id.desc())
        .limit(1)
    )
    return last == LogAction.hide.value


# Bans -----------------------------------------------------------------------------------


def ban(session: Session, actor: Actor, community: Community, email: str, reason: str = "") -> Membership:
    """Ban the person with address ``email`` from ``community``: no copies, no digests, no
    posting by any door, no joining again. Their posts stay unless hidden one by one.

    Someone who is not a member is banned too (an open community takes posts from anyone),
    with an account made for the address if it has none.
    """
    user = user_by_email(session, email)
    membership = membership_of(session, user, community)
    if membership is None:
        upsert_members(session, community, [member_row(email, status="banned", delivery="none")])
        user = user_by_email(session, email)
        membership = membership_of(session, user, community)
        assert user is not None and membership is not None  # just written
    else:
        assert user is not None  # a membership has its user
        if membership.status is MemberStatus.banned:
            raise InvalidInput(f"{email.strip().lower()} is banned from {community.slug} already")
        if actor.user_id == user.id:
            raise InvalidInput("you cannot ban yourself")
        problem = last_facilitator_problem(session, membership, leaving=False)
        if problem:
            raise InvalidInput(problem)
        membership.status = MemberStatus.banned
    session.flush()
    record(session, actor, LogAction.ban, community.id, member=user, detail=reason.strip())
    return membership


def unban(session: Session, actor: Actor, community: Community, email: str) -> Membership:
    """Lift a ban: they are a member again, with the role and delivery they had."""
    user = user_by_email(session, email)
    membership = membership_of(session, user, community)
    if user is None or membership is None or membership.status is not MemberStatus.banned:
        raise InvalidInput(f"{email.strip().lower()} is not banned from {community.slug}")
    membership.status = MemberStatus.active
    session.flush()
    record(session, actor, LogAction.unban, community.id, member=user)
    return membership
