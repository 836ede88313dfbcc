"""The archive as readers see it: who may see which community, listings, counts, mbox export.

Pure read-side functions that take a session and return plain values, so the web pages,
feeds, and later the digest and the command line show the same things the same way. What
they return is already fit for a reader who is not a member: only published posts, and
authors by name, never by address (:func:`public_name`).

Every listing is shaped for its index: threads by ``(community_id, last_activity_at)``,
a thread's posts by ``(thread_id, created_at)``, a community's posts by
``(community_id, created_at)``; authors and attachments are loaded in bulk, never per row.
"""

from __future__ import annotations

import email.policy
import math
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from sqlalchemy import ColumnElement, ColumnExpressionArgument, Row, Select, and_, bindparam, case, func, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session, selectinload

from forum.access import can_moderate, can_read, is_listed
from forum.blobs import BlobStore
from forum.errors import NotFound
from forum.models import (
    Attachment,
    Community,
    InboundMessage,
    Membership,
    MemberStatus,
    Post,
    PostReference,
    PostStatus,
    Thread,
)
from forum.text import text_to_html
from forum.translatable import N_, Message

PUBLISHED = Post.status == PostStatus.published

# Names ----------------------------------------------------------------------------------

_BRACKETED_ADDRESS = re.compile(r"<[^<>@\s]+@[^<>\s]+>")
_ADDRESS = re.compile(r"(?P<local>[^\s<>@\"',;:()]+)@[\w.-]+\.[A-Za-z]{2,}")


def public_name(author_name: str) -> str:
    """The author as anyone may see them: a name, never an email address.

    Stored names fall back to the sender's address when they gave no name, and some mail
    clients put the address in the name ("Bob <bob@example.org>"); an address is shown by
    its local part only, so an archive open to the public never lists members' addresses.
    """
    name = _ADDRESS.sub(lambda m: m.group("local"), _BRACKETED_ADDRESS.sub(" ", author_name))
    name = " ".join(name.replace('"', " ").split())
    if name:
        return name
    address = _ADDRESS.search(author_name)
    return address.group("local") if address else "Someone"


def human_size(size: int) -> str:
    """A file size as people read it: "512 bytes", "12.3 KB", "4.0 MB"."""
    if size < 1024:
        return "1 byte" if size == 1 else f"{size} bytes"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / (1024 * 1024):.1f} MB"


# Values ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pagination:
    """Page ``number`` (from 1) of ``total`` items shown ``per_page`` at a time."""

    number: int
    per_page: int
    total: int

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.per_page

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages


@dataclass(frozen=True)
class ThreadSummary:
    id: int
    subject: str
    post_count: int
    started_by: str
    replied_by: str | None  # the author of the latest reply; None while nobody has replied
    last_activity_at: datetime
    language: str = ""  # its first post's: "cy", "en" or "" (forum.post_language)
    pinned: bool = False


@dataclass(frozen=True)
class ThreadListPage:
    threads: list[ThreadSummary]
    pagination: Pagination


@dataclass(frozen=True)
class AttachmentEntry:
    id: int
    filename: str
    content_type: str
    size: int
    content_id: str | None

    @property
    def human_size(self) -> str:
        return human_size(self.size)


@dataclass(frozen=True)
class PostEntry:
    """A published post as a reader sees it; ``html`` is sanitized (forum.text)."""

    id: int
    thread_id: int
    subject: str
    author: str
    created_at: datetime
    edited_at: datetime | None
    html: str
    quoted: str
    signature: str
    attachments: tuple[AttachmentEntry, ...]
    parent_id: int | None = None  # the post this one answers
    language: str = ""  # "cy", "en" or "" (forum.post_language)
    status: PostStatus = PostStatus.published  # deleted: a gap in the thread; hidden: facilitators only
    author_id: int | None = None  # who may still edit it (forum.takedown.may_change_own)

    @property
    def deleted(self) -> bool:
        return self.status is PostStatus.deleted

    @property
    def hidden(self) -> bool:
        return self.status is PostStatus.hidden

    @classmethod
    def of_row(cls, row: Row[tuple[object, ...]], attachments: tuple[AttachmentEntry, ...]) -> PostEntry:
        """From a row of :data:`_ENTRY_COLUMNS` (``body`` is there only for a post stored
        before its HTML was). A deleted post keeps nothing of what it said."""
        if row.status is PostStatus.deleted:
            return cls(
                id=row.id,
                thread_id=row.thread_id,
                subject=row.subject,
                author=public_name(row.author_name),
                created_at=row.created_at,
                edited_at=None,
                html="",
                quoted="",
                signature="",
                attachments=(),
                status=row.status,
                author_id=row.author_id,
            )
        return cls(
            id=row.id,
            thread_id=row.thread_id,
            subject=row.subject,
            author=public_name(row.author_name),
            created_at=row.created_at,
            edited_at=row.edited_at,
            html=row.html if row.html is not None else text_to_html(row.body or ""),
            quoted=row.quoted,
            signature=row.signature,
            attachments=attachments,
            parent_id=row.parent_id,
            language=row.language,
            status=row.status,
            author_id=row.author_id,
        )

    @classmethod
    def of(cls, post: Post) -> PostEntry:
        return cls(
            id=post.id,
            thread_id=post.thread_id,
            subject=post.subject,
            author=public_name(post.author_name),
            created_at=post.created_at,
            edited_at=post.edited_at,
            html=post.html if post.html is not None else text_to_html(post.body),
            quoted=post.quoted,
            signature=post.signature,
            attachments=tuple(
                AttachmentEntry(a.id, a.filename, a.content_type, a.size, a.content_id) for a in post.attachments
            ),
            parent_id=post.parent_id,
            language=post.language,
        )


@dataclass(frozen=True)
class Readable:
    """A community the viewer may read, and the viewer's membership of it (if any)."""

    community: Community
    membership: Membership | None

    @property
    def is_member(self) -> bool:
        return self.membership is not None and self.membership.status is MemberStatus.active


# Access ---------------------------------------------------------------------------------


def _membership(session: Session, viewer_id: int | None, community_id: int) -> Membership | None:
    if viewer_id is None:
        return None
    return session.scalar(
        select(Membership).where(Membership.user_id == viewer_id, Membership.community_id == community_id)
    )


def _readable(session: Session, community: Community | None, viewer_id: int | None) -> Readable:
    # One message for "no such community" and "not yours to see": a private community
    # must be indistinguishable from one that does not exist.
    membership = _membership(session, viewer_id, community.id) if community is not None else None
    if community is None or not can_read(community, membership):
        raise NotFound(Message(N_("there is no such community here")))
    return Readable(community, membership)


def listed_community(session: Session, slug: str, viewer_id: int | None) -> tuple[Community, Membership | None]:
    """The community at ``slug`` if the viewer may know of it (:func:`forum.access.is_listed`):
    a restricted community's page shows its name and purpose to anyone, its content to
    members only. NotFound otherwise, exactly as for a missing one."""
    community = session.scalar(select(Community).where(Community.slug == slug.lower()))
    membership = _membership(session, viewer_id, community.id) if community is not None else None
    if community is None or not is_listed(community, membership):
        raise NotFound("there is no such community here")
    return community, membership


def readable_community(session: Session, slug: str, viewer_id: int | None) -> Readable:
    """The community at ``slug`` if the viewer may read it; NotFound otherwise (never "forbidden")."""
    community = session.scalar(select(Community).where(Community.slug == slug.lower()))
    return _readable(session, community, viewer_id)


# Built once: building a statement costs more Python than SQLite takes to run it.
_COMMUNITY_THREAD = (
    select(Community, Thread)
    .outerjoin(Thread, and_(Thread.id == bindparam("thread_id"), Thread.community_id == Community.id))
    .where(Community.slug == bindparam("slug"))
)


def readable_community_thread(
    session: Session, slug: str, thread_id: int, viewer_id: int | None
) -> tuple[Readable, Thread]:
    """The community at ``slug`` as :func:`readable_community` gives it, and its thread
    ``thread_id`` if that has a published post (or, for its facilitators, a hidden one);
    NotFound otherwise. One query: a thread page is the archive's most asked-for page, and
    each query costs more Python than SQL."""
    row = session.execute(_COMMUNITY_THREAD, {"slug": slug.lower(), "thread_id": thread_id}).first()
    readable = _readable(session, row.Community if row else None, viewer_id)
    thread = row.Thread if row else None
    if thread is None or (thread.post_count < 1 and not _hidden_from_others(session, readable, thread)):
        raise NotFound(Message(N_("there is no such thread here")))
    return readable, thread


def _hidden_from_others(session: Session, readable: Readable, thread: Thread) -> bool:
    """Whether ``thread`` has posts hidden by facilitators that this viewer (one of them) may see."""
    if not can_moderate(readable.membership):
        return False
    hidden = select(Post.id).where(Post.thread_id == thread.id, Post.status == PostStatus.hidden).exists()
    return bool(session.scalar(select(hidden)))


def readable_attachment(session: Session, attachment_id: int, viewer_id: int | None) -> Attachment:
    """An attachment of a published post in a community the viewer may read."""
    row = session.execute(
        select(Attachment, Post.status, Community)
        .join(Post, Post.id == Attachment.post_id)
        .join(Community, Community.id == Post.community_id)
        .where(Attachment.id == attachment_id)
    ).first()
    if row is None or row.status is not PostStatus.published:
        raise NotFound(Message(N_("there is no such attachment here")))
    attachment, _status, community = row
    _readable(session, community, viewer_id)
    return attachment


# Listings -------------------------------------------------------------------------------


def _thread_author(thread_id: ColumnExpressionArgument[int], *, latest: bool) -> ColumnElement[str]:
    """The author of a thread's first (or latest) published post: one index probe per thread."""
    return _of_thread_post(Post.author_name, thread_id, latest=latest)


def _of_thread_post(
    column: InstrumentedAttribute[str], thread_id: ColumnExpressionArgument[int], *, latest: bool
) -> ColumnElement[str]:
    """``column`` of a thread's first (or latest) published post."""
    order = (Post.created_at.desc(), Post.id.desc()) if latest else (Post.created_at, Post.id)
    return select(column).where(Post.thread_id == thread_id, PUBLISHED).order_by(*order).limit(1).scalar_subquery()


def thread_list(session: Session, community_id: int, page: int, per_page: int) -> ThreadListPage:
    """One page of a community's threads: pinned ones first, then the most recently active."""
    visible = and_(Thread.community_id == community_id, Thread.post_count > 0)
    total = session.scalar(select(func.count()).select_from(Thread).where(visible)) or 0
    pagination = Pagination(max(1, page), per_page, total)
    rows = session.execute(
        select(
            Thread.id,
            Thread.subject,
            Thread.post_count,
            Thread.last_activity_at,
            Thread.pinned,
            _thread_author(Thread.id, latest=False).label("started_by"),
            _thread_author(Thread.id, latest=True).label("replied_by"),
            _of_thread_post(Post.language, Thread.id, latest=False).label("language"),
        )
        .where(visible)
        .order_by(Thread.pinned.desc(), Thread.last_activity_at.desc(), Thread.id.desc())
        .limit(per_page)
        .offset(pagination.offset)
    ).all()
    threads = [
        ThreadSummary(
            id=r.id,
            subject=r.subject,
            post_count=r.post_count,
            started_by=public_name(r.started_by or ""),
            replied_by=public_name(r.replied_by or "") if r.post_count > 1 else None,
            last_activity_at=r.last_activity_at,
            language=r.language or "",
            pinned=r.pinned,
        )
        for r in rows
    ]
    return ThreadListPage(threads, pagination)


# What a page shows of a post, read as plain rows: building ORM objects (identity map,
# attribute instrumentation, a collection per post) cost more than the page's queries.
# Attachments are read only for pages that have any (one index probe per post says so).
_ENTRY_COLUMNS = (
    Post.id,
    Post.thread_id,
    Post.subject,
    Post.author_name,
    Post.created_at,
    Post.edited_at,
    Post.html,
    Post.quoted,
    Post.signature,
    Post.parent_id,
    Post.language,
    Post.status,
    Post.author_id,
    case((Post.html.is_(None), Post.body), else_=None).label("body"),
    select(Attachment.id).where(Attachment.post_id == Post.id).exists().label("has_attachments"),
)
_THREAD_POSTS = (
    select(*_ENTRY_COLUMNS)
    .where(Post.thread_id == bindparam("thread_id"), Post.status.in_(bindparam("shown", expanding=True)))
    .order_by(Post.created_at, Post.id)
)
_ATTACHMENT_COLUMNS = (
    Attachment.id,
    Attachment.filename,
    Attachment.content_type,
    Attachment.size,
    Attachment.content_id,
)


def thread_posts(
    session: Session, thread_id: int, *, deleted_too: bool = False, hidden_too: bool = False
) -> list[PostEntry]:
    """A thread's published posts in the order they were written (one query, two with
    attachments); with ``deleted_too`` the places of posts their authors deleted, and with
    ``hidden_too`` (for its facilitators) the posts they hid."""
    shown = [PostStatus.published]
    if deleted_too:
        shown.append(PostStatus.deleted)
    if hidden_too:
        shown.append(PostStatus.hidden)
    return _entries(session, _THREAD_POSTS, {"thread_id": thread_id, "shown": [s.value for s in shown]})


def latest_posts(session: Session, community_id: int, limit: int) -> list[PostEntry]:
    """A community's newest published posts, newest first (for its feed; one or two queries)."""
    return _entries(
        session,
        select(*_ENTRY_COLUMNS)
        .where(Post.community_id == community_id, PUBLISHED)
        .order_by(Post.created_at.desc(), Post.id.desc())
        .limit(limit),
    )


def _entries(session: Session, posts: Select[Any], parameters: dict[str, Any] | None = None) -> list[PostEntry]:
    """The posts ``posts`` selects (as :data:`_ENTRY_COLUMNS`), then all their attachments at once."""
    rows = session.execute(posts, parameters).all()
    files: dict[int, list[AttachmentEntry]] = {}
    if any(r.has_attachments for r in rows):
        for post_id, file_id, filename, content_type, size, content_id in session.execute(
            select(Attachment.post_id, *_ATTACHMENT_COLUMNS)
            .where(Attachment.post_id.in_([r.id for r in rows if r.has_attachments]))
            .order_by(Attachment.id)
        ):
            files.setdefault(post_id, []).append(AttachmentEntry(file_id, filename, content_type, size, content_id))
    return [PostEntry.of_row(r, tuple(files.get(r.id, ()))) for r in rows]


# mbox export ----------------------------------------------------------------------------

MBOX_BATCH = 200
_FROM_LINE = re.compile(rb"^(>*From )", re.MULTILINE)
# Lines may be as long as SMTP allows, so the library never folds an id header.
_MBOX_POLICY = email.policy.SMTP.clone(max_line_length=998)


def thread_mbox(session: Session, thread_id: int, blobs: BlobStore, *, originals: bool = False) -> Iterator[bytes]:
    return _mbox(session, Post.thread_id == thread_id, blobs, originals)


def community_mbox(
    session: Session, community_id: int, blobs: BlobStore, *, originals: bool = False
) -> Iterator[bytes]:
    return _mbox(session, Post.community_id == community_id, blobs, originals)


def _mbox(session: Session, scope: ColumnElement[bool], blobs: BlobStore, originals: bool) -> Iterator[bytes]:
    """Published posts of ``scope`` as mbox, oldest first, one message at a time.

    With ``originals`` (for the community's facilitators) a post that came by email is
    the message exactly as received; otherwise every post is written from what the
    archive shows. An original carries what was taken out for display: a replier's
    quoted copy with their personal unsubscribe link and reply address, others' addresses.

    Memory stays flat however large the community: posts come in batches by keyset
    (``created_at, id``), each raw message is read on its own, and the session is closed
    after each batch, which also ends the read transaction so a slow download holds no
    snapshot open (on SQLite that would stop the write-ahead log from being checkpointed).
    """
    after: tuple[datetime, int] | None = None
    while True:
        query = select(Post).where(scope, PUBLISHED).options(selectinload(Post.attachments))
        if after is not None:
            query = query.where(or_(Post.created_at > after[0], and_(Post.created_at == after[0], Post.id > after[1])))
        posts = session.scalars(query.order_by(Post.created_at, Post.id).limit(MBOX_BATCH)).all()
        if not posts:
            return
        references = _references(session, [p.id for p in posts if p.inbound_id is None or not originals])
        for post in posts:
            original = _original(session, post) if originals else None
            message = original or _generated(post, references.get(post.id, []), blobs)
            yield mbox_entry(post.created_at, message)
        after = (posts[-1].created_at, posts[-1].id)
        session.close()


def mbox_entry(received: datetime, message: bytes) -> bytes:
    """One message in mboxrd form: a "From " separator line, then the message with every
    line that starts with ">*From " given one more ">" (readers remove it again), then a
    blank line. Line endings are kept as they are: the original bytes stay the original."""
    stamp = time.asctime(received.astimezone(UTC).timetuple())
    body = _FROM_LINE.sub(rb">\1", message)
    if not body.endswith(b"\n"):
        body += b"\n"
    return b"From MAILER-DAEMON " + stamp.encode("ascii") + b"\n" + body + b"\n"


def _original(session: Session, post: Post) -> bytes | None:
    """The message exactly as it was received, for a post that came by email."""
    if post.inbound_id is None:
        return None
    return session.scalar(select(InboundMessage.raw).where(InboundMessage.id == post.inbound_id))


def _references(session: Session, post_ids: list[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    if post_ids:
        for post_id, message_id in session.execute(
            select(PostReference.post_id, PostReference.message_id)
            .where(PostReference.post_id.in_(post_ids))
            .order_by(PostReference.post_id, PostReference.position)
        ):
            found.setdefault(post_id, []).append(message_id)
    return found


def _generated(post: Post, references: list[str], blobs: BlobStore) -> bytes:
    """An RFC 5322 message for a post that did not come by email (web, chat, import)."""
    msg = EmailMessage(policy=_MBOX_POLICY)
    msg["From"] = _sender(post)
    msg["Date"] = format_datetime(post.created_at)
    msg["Subject"] = " ".join(post.subject.split())
    msg["Message-ID"] = f"<{post.message_id}>"
    if post.reply_to_message_id:
        msg["In-Reply-To"] = f"<{post.reply_to_message_id}>"
        msg["References"] = " ".join(f"<{r}>" for r in references or [post.reply_to_message_id])
    msg.set_content(post.body)
    for att in post.attachments:
        maintype, _, subtype = att.content_type.partition("/")
        if not subtype:
            maintype, subtype = "application", "octet-stream"
        msg.add_attachment(blobs.get(att.sha256), maintype, subtype, filename=att.filename)
    return msg.as_bytes()


def _sender(post: Post) -> Address:
    name = " ".join(post.author_name.split())
    try:
        return Address(display_name=name, addr_spec=post.author_email)
    except (HeaderParseError, ValueError, IndexError):
        # No usable address (a chat post): the reserved .invalid domain says so (RFC 2606).
        return Address(display_name=name, username="unknown", domain="invalid")
