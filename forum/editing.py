"""Changing a post after it was published: an edit or a deletion that came from a channel.

Email cannot recall a message already delivered, so these change what the archive shows
and follow the copies the chat bridges wrote, through the outbox like any other work.
The caller owns the transaction.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from forum import outbox
from forum.models import Post, PostStatus, Thread, utcnow
from forum.post_language import post_language
from forum.text import text_to_html


def edit_post(session: Session, post: Post, body: str) -> int:
    """Replace the text of ``post``; returns the number of chat copies queued for updating."""
    if body == post.body:
        return 0
    post.body = body
    post.html = text_to_html(body)
    post.language = post_language(post.subject, body, post.language)  # short now: as it was
    post.edited_at = utcnow()
    session.flush()
    return outbox.queue_chat_change(session, post, "edit")


def delete_post(session: Session, post: Post) -> int:
    """Take ``post`` out of the archive; returns the number of chat copies queued for deletion."""
    if post.status is PostStatus.deleted:
        return 0
    if post.status is PostStatus.published:
        thread = session.get(Thread, post.thread_id)
        if thread is not None:
            thread.post_count = max(0, thread.post_count - 1)
    post.status = PostStatus.deleted
    post.edited_at = utcnow()
    session.flush()
    return outbox.queue_chat_change(session, post, "delete")
