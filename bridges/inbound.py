"""Chat events into the forum, the same for every platform.

Each platform parses its own events into :class:`ChatEvent` values and calls these
functions inside one short transaction. A message is known by its platform id: one the
bridge wrote, or one already received (platforms retry), is mapped and therefore ignored —
that is the whole of loop prevention on this side, with no marker in any text.

A message the community's posting policy refuses or holds is answered in chat (each
platform says it its own way, to the author only where it can), because unlike an email
sender a chat author gets no bounce and would otherwise never know.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from forum import chat
from forum.editing import delete_post, edit_post
from forum.errors import InvalidInput, NotFound, NotPermitted
from forum.models import ChatLink, Community, Post, Thread
from forum.posting import AttachmentData, Draft, Outcome, submit_post
from forum.site import Site

log = logging.getLogger(__name__)
SUBJECT_CHARS = 80


@dataclass(frozen=True)
class ChatAuthor:
    name: str
    email: str = ""  # matched to a member's address; empty when the platform does not say


@dataclass(frozen=True)
class Refused:
    """A message the community's posting policy refused: nothing was stored."""

    reason: str


@dataclass(frozen=True)
class ChatEvent:
    """A new message in a linked channel."""

    platform: str
    channel: str
    ref: str  # the message's platform id
    author: ChatAuthor
    text: str
    root_ref: str | None = None  # the thread it was posted in, if any
    attachments: tuple[AttachmentData, ...] = field(default=())


def receive_message(session: Session, site: Site, event: ChatEvent) -> Outcome | Refused | None:
    """Store a chat message as a post (a new thread, or a reply in the mapped thread).

    :class:`Refused` when the author may not post (the community's posting policy decides,
    as for email); None when the channel is not linked, the message is already known or
    has nothing in it. A reply that races
    the worker recording the message it answers fails on the thread map's unique key; the
    transaction rolls back and the platform's redelivery finds the thread.
    """
    link = chat.link_for_channel(session, event.platform, event.channel)
    if link is None or chat.mapped(session, link.id, event.ref) is not None:
        return None
    community = session.get(Community, link.community_id)
    assert community is not None
    thread_id = chat.thread_for_root(session, link.id, event.root_ref) if event.root_ref else None
    thread = session.get(Thread, thread_id) if thread_id else None
    parent = _thread_parent(session, link, thread.id, event.root_ref) if thread else None
    # A file shared without a word is named by its file.
    subject = (
        f"Re: {thread.subject}" if thread else _subject(event.text or " ".join(a.filename for a in event.attachments))
    )
    draft = Draft(
        community=community.slug,
        author_email=event.author.email,
        author_name=event.author.name,
        subject=subject,
        body=event.text,
        parent_id=parent.id if parent else None,
        message_id=_message_id(site, event),
        source=event.platform,
        source_ref=f"{event.channel}/{event.ref}",
        attachments=event.attachments,
    )
    try:
        outcome = submit_post(session, draft, site)
    except (NotPermitted, InvalidInput, NotFound) as exc:
        log.info(
            "chat message not posted platform=%s channel=%s ref=%s: %s",
            event.platform,
            event.channel,
            event.ref,
            exc.message,
        )
        return Refused(exc.message) if isinstance(exc, NotPermitted) else None
    if not outcome.duplicate:
        # A message in a thread we do not know roots a new forum thread at that chat thread.
        chat.record(
            session,
            link.id,
            outcome.post,
            event.ref,
            ours=False,
            root_ref=None if thread else (event.root_ref or event.ref),
        )
    return outcome


def author_notice(session: Session, event: ChatEvent, result: Outcome | Refused | None) -> str:
    """What to tell the author of ``event`` whose message was refused or held; empty if it was
    published, or is a copy of a message already stored (that one was answered)."""
    if not isinstance(result, Refused) and not (result is not None and result.held and not result.duplicate):
        return ""
    link = chat.link_for_channel(session, event.platform, event.channel)
    community = session.get(Community, link.community_id) if link else None
    name = community.name if community else event.channel
    if isinstance(result, Refused):
        return f"Your message was not posted to {name}: {result.reason}."
    return f"Your message to {name} is waiting for a moderator: {result.reason}."


def too_large_note(filename: str, limit: int, size: int | None = None) -> str:
    """Said in the post in place of a file bigger than the site accepts, so readers know it exists."""
    how_big = f" ({_size(size)})" if size else ""
    return f'[The file "{filename}"{how_big} was not kept: files larger than {_size(limit)} are not accepted here.]'


def unfetched_note(filename: str) -> str:
    """Said in the post in place of a file the platform would not hand over (deleted, or refused)."""
    return f'[The file "{filename}" could not be fetched.]'


def _size(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB" if size >= 1_000_000 else f"{size / 1000:.0f} kB"


def receive_edit(session: Session, platform: str, channel: str, ref: str, text: str) -> bool:
    """A person edited their chat message: edit its post. Our own copies are ignored."""
    post = _their_post(session, platform, channel, ref)
    if post is None or not text.strip():
        return False
    edit_post(session, post, text)
    return True


def receive_deletion(session: Session, platform: str, channel: str, ref: str) -> bool:
    """A person deleted their chat message: delete its post. Our own copies are ignored."""
    post = _their_post(session, platform, channel, ref)
    if post is None:
        return False
    delete_post(session, post)
    return True


def _their_post(session: Session, platform: str, channel: str, ref: str) -> Post | None:
    link = chat.link_for_channel(session, platform, channel)
    mapping = chat.mapped(session, link.id, ref) if link else None
    if mapping is None or mapping.ours:
        return None
    return session.get(Post, mapping.post_id)


def _thread_parent(session: Session, link: ChatLink, thread_id: int, root_ref: str | None) -> Post | None:
    """The post a chat thread reply answers: the root's post (chat threads are flat)."""
    root = chat.post_for_message(session, link.id, root_ref) if root_ref else None
    return root or session.scalar(select(Post).where(Post.thread_id == thread_id).order_by(Post.id).limit(1))


def _subject(text: str) -> str:
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return first if len(first) <= SUBJECT_CHARS else first[:SUBJECT_CHARS].rsplit(" ", 1)[0] + " …"


def _message_id(site: Site, event: ChatEvent) -> str:
    """Stable for one chat message, so a redelivered event is a duplicate by Message-ID too."""
    digest = hashlib.sha256(f"{event.platform}\0{event.channel}\0{event.ref}".encode()).hexdigest()[:32]
    return f"{event.platform}.{digest}@{site.mail_domain}"
