"""What every chat platform must do for the forum, and how a post looks in chat.

An :class:`Adapter` speaks one platform's API. It is synchronous (the worker calls it in a
thread) and stateless about the forum: the worker decides what to send and records what
came back. Failures are sorted into three kinds the worker knows how to treat; anything
else an adapter raises is a bug or something missing on the server (an attachment's file),
which no retry would mend.
"""

from __future__ import annotations

import http.client
import urllib.error
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from sqlalchemy.orm import Session

from forum.errors import NotFound
from forum.models import Community, Post, Thread
from forum.site import Site

LEAD_LINES = 6  # lines of a thread's first post shown in the chat message that starts it
LEAD_CHARS = 600
MAX_CHARS = 3500  # a little under Slack's 4,000-character limit for a message's text


# What an HTTP exchange that never got the platform's answer raises: a refused or dropped
# connection, a timeout, a name that did not resolve, a response cut short. Worth trying
# again; any other OSError (a file gone from storage) is not.
NETWORK_ERRORS = (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError)


class RateLimited(Exception):
    """The platform asked us to wait ``retry_after`` seconds before the next call."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"rate limited; retry after {retry_after:g} s")
        self.retry_after = retry_after


class TemporaryFailure(Exception):
    """Worth retrying later (a network error, a timeout, a 5xx)."""


class PermanentFailure(Exception):
    """Retrying cannot help (the channel is gone, the bot was removed)."""


@dataclass(frozen=True)
class ChatFile:
    """One of a post's attachments, as chat gets it: its bytes are read from the blob store
    only when an adapter uploads them, so a post with large files costs nothing until sent."""

    filename: str
    content_type: str
    size: int
    path: Path

    def read(self) -> bytes:
        return self.path.read_bytes()


@dataclass(frozen=True)
class ChatPost:
    """A post as chat shows it: who wrote it, what it says, where the full version is."""

    author: str
    subject: str
    text: str
    archive_url: str
    starts_thread: bool  # the first message of this thread in the channel: subject and lead only
    key: str = ""  # the same for every attempt to send this post: lets a platform drop a repeat
    author_key: str = ""  # who wrote it, stably (their address): a platform may post as them
    files: tuple[ChatFile, ...] = field(default=())

    @property
    def body(self) -> str:
        """The message text, without markup (each adapter adds its own)."""
        if self.starts_thread:
            return _clip(self.text, LEAD_CHARS, LEAD_LINES)
        return _clip(self.text, MAX_CHARS)


class Adapter(Protocol):
    """One chat platform, as the outbound worker uses it. Refs are the platform's message ids."""

    platform: str

    def start_thread(self, channel: str, post: ChatPost) -> str:
        """Post a new top-level message, then its files in its thread; the message's ref."""

    def reply(self, channel: str, root_ref: str, post: ChatPost) -> str:
        """Post into the thread rooted at ``root_ref``, then the files; the text message's ref."""

    def edit(self, channel: str, ref: str, post: ChatPost) -> None:
        """Replace the text of a message the bridge wrote."""

    def delete(self, channel: str, ref: str) -> None:
        """Remove a message the bridge wrote."""


def chat_post(session: Session, site: Site, post: Post, *, starts_thread: bool) -> ChatPost:
    thread = session.get(Thread, post.thread_id)
    community = session.get(Community, post.community_id)
    if thread is None or community is None:  # pragma: no cover - foreign keys make this impossible
        raise NotFound(f"post {post.id} has lost its thread or community")
    files = tuple(
        ChatFile(filename=a.filename, content_type=a.content_type, size=a.size, path=site.blobs.path_for(a.sha256))
        for a in post.attachments
    )
    return ChatPost(
        author=post.author_name or post.author_email or "someone",
        subject=thread.subject,
        text=post.body.strip(),
        archive_url=site.url(f"/c/{community.slug}/t/{thread.id}#post-{post.id}"),
        starts_thread=starts_thread,
        key=f"post{post.id}",
        author_key=(post.author_email or post.author_name or "someone").lower(),
        files=files,
    )


def _clip(text: str, chars: int, lines: int | None = None) -> str:
    kept = text.splitlines()[:lines] if lines else text.splitlines()
    clipped = "\n".join(kept)[:chars]
    return clipped if clipped == text else clipped.rstrip() + " …"
