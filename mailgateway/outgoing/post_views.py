"""A post as mail needs it, detached from the database, so rendering is a pure function."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from forum import private_replies
from forum.errors import NotFound
from forum.models import Attachment, Community, Post, PostStatus
from forum.quoting import QuotedParent
from forum.site import Site
from forum.text import text_to_html

MAX_REFERENCES = 20  # the thread's root plus the nearest ancestors, as RFC 5322 §3.6.4 suggests


@dataclass(frozen=True)
class CommunityInfo:
    """What mail headers need to know about a community."""

    id: int
    slug: str
    name: str
    subject_prefix: str = ""
    language: str = "en"  # "en", "cy" or "bilingual": of our own text in its mail


@dataclass(frozen=True)
class AttachmentInfo:
    id: int
    filename: str
    content_type: str
    size: int
    sha256: str
    inline: bool = False
    content_id: str | None = None


@dataclass(frozen=True)
class PostView:
    """A post as mail needs it."""

    id: int
    community: CommunityInfo
    thread_id: int
    author_name: str
    author_email: str
    message_id: str
    subject: str
    created_at: datetime
    text: str
    html: str
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    attachments: tuple[AttachmentInfo, ...] = ()
    author_id: int | None = None
    author_shows_address: bool = False  # the author chose to show their address to members
    quoted_parent: QuotedParent | None = None  # what a web reply's copy quotes of the post it answers


def _community_info(community: Community) -> CommunityInfo:
    return CommunityInfo(community.id, community.slug, community.name, community.subject_prefix, community.language)


def load_community(session: Session, slug: str) -> CommunityInfo:
    community = session.scalar(select(Community).where(Community.slug == slug))
    if community is None:
        raise NotFound(f'there is no community "{slug}" here')
    return _community_info(community)


def load_post(session: Session, post_id: int) -> PostView:
    """Everything needed to mail ``post_id``, in three queries (post, thread, attachments;
    a web reply a fourth, for the post it quotes).

    Raises :class:`NotFound` when the post is gone or no longer published (deleted, or
    held again by a moderator): such a copy must not be sent.
    """
    row = session.execute(
        select(Post, Community).join(Community, Community.id == Post.community_id).where(Post.id == post_id)
    ).first()
    if row is None or row[0].status is not PostStatus.published:
        raise NotFound(f"post {post_id} is no longer published")
    post, community = row
    in_reply_to, references = _thread_ids(session, post)
    attachments = session.scalars(select(Attachment).where(Attachment.post_id == post_id).order_by(Attachment.id))
    return PostView(
        id=post.id,
        community=_community_info(community),
        thread_id=post.thread_id,
        author_name=post.author_name,
        author_email=post.author_email,
        author_id=post.author_id,
        author_shows_address=private_replies.shows_address(session, post.author_id, community.id),
        message_id=post.message_id,
        subject=post.subject,
        created_at=post.created_at,
        text=post.body,
        html=post.html if post.html is not None else text_to_html(post.body),
        in_reply_to=in_reply_to,
        references=references,
        quoted_parent=_quoted_parent(session, post),
        attachments=tuple(
            AttachmentInfo(a.id, a.filename, a.content_type, a.size, a.sha256, a.inline, a.content_id)
            for a in attachments
        ),
    )


def _thread_ids(session: Session, post: Post) -> tuple[str | None, tuple[str, ...]]:
    """(In-Reply-To, References): the parent and the chain of ancestors, oldest first.

    One query loads the thread's (id, parent, Message-ID) triples and the chain is walked
    in memory. A post whose parent never arrived still names what it answered.
    """
    if post.parent_id is None:
        return post.reply_to_message_id, ((post.reply_to_message_id,) if post.reply_to_message_id else ())
    links = {
        pid: (parent, mid)
        for pid, parent, mid in session.execute(
            select(Post.id, Post.parent_id, Post.message_id).where(Post.thread_id == post.thread_id)
        )
    }
    chain: list[str] = []
    current: int | None = post.parent_id
    while current is not None and current in links and len(chain) < len(links):
        current, mid = links[current]
        chain.append(mid)
    chain.reverse()
    if len(chain) > MAX_REFERENCES:
        chain = chain[:1] + chain[-(MAX_REFERENCES - 1) :]
    return (chain[-1] if chain else post.reply_to_message_id), tuple(chain)


def _quoted_parent(session: Session, post: Post) -> QuotedParent | None:
    """The published post a web reply answers, to quote in its copy (``forum.quoting``);
    None for a post by mail, whose sender's client quoted what it wanted to."""
    if post.source != "web" or post.parent_id is None:
        return None
    parent = session.get(Post, post.parent_id)
    if parent is None or parent.status is not PostStatus.published:
        return None
    return QuotedParent.of(parent)


def archived_at(view: PostView, site: Site) -> str:
    return site.url(f"/c/{view.community.slug}/t/{view.thread_id}#post-{view.id}")
