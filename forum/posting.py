"""The one door for new posts.

Email, the web form, Slack, Matrix and imports all build a :class:`Draft` and call
:func:`submit_post`. It applies the community's rules, de-duplicates by Message-ID, finds
or creates the thread, stores the post with its attachments and — in the same
transaction — queues the outbox rows that fan it out. The caller owns the transaction:
nothing here commits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from forum import outbox, threads
from forum.access import Action, Verdict, membership_by_email, membership_of, posting_verdict, user_by_email
from forum.errors import InvalidInput, NotFound, NotPermitted
from forum.models import Attachment, Community, Membership, Post, PostStatus, Thread, User, utcnow
from forum.post_language import post_language
from forum.site import Site
from forum.subjects import strip_prefixes, subject_key
from forum.text import html_within_bounds, markdown_to_html, markdown_to_text, sanitize, text_to_html
from forum.translatable import N_, Message

NO_SUBJECT = "(no subject)"


@dataclass(frozen=True)
class AttachmentData:
    filename: str
    content_type: str
    data: bytes
    inline: bool = False
    content_id: str | None = None


@dataclass(frozen=True)
class Draft:
    """A post as a channel received it, before any rule has been applied."""

    community: str  # slug
    author_email: str
    author_name: str = ""
    subject: str = ""
    body: str = ""  # the new text: plain text, or Markdown when body_format == "markdown"
    quoted: str = ""  # what trimming removed (quotes), kept for "show quoted text"
    signature: str = ""  # the sender's signature and disclaimers, kept for "show signature"
    html: str | None = None  # untrusted HTML of the new text, sanitized before it is stored
    body_format: str = "text"
    parent_id: int | None = None  # the post replied to, when the channel knows it for sure
    references: tuple[str, ...] = ()  # Message-IDs this replies to, nearest last
    thread_index: str | None = None  # Outlook's Thread-Index header
    message_id: str | None = None  # bare; generated when absent
    source: str = "email"
    source_ref: str | None = None
    attachments: tuple[AttachmentData, ...] = field(default=())
    inbound_id: int | None = None
    created_at: datetime | None = None  # defaults to now; archive imports keep the original date
    trusted: bool = False  # already authorised (an archive import): skip the posting policy
    fan_out: bool = True  # False for history (an archive import): stored, but nobody is sent a copy
    hold_reason: str = ""  # the channel's own reason to hold an acceptable post (a From nothing vouches for)

    @cached_property
    def stored_body(self) -> str:
        """The text stored for the post: what every text rendering of it shows (plain-text
        mail, digests, chat, search), so Markdown is stored as the text it reads as; its
        formatting lives on in the HTML."""
        return markdown_to_text(self.body) if self.body_format == "markdown" else self.body

    @cached_property
    def stored_html(self) -> str:
        """The HTML stored for the post: the sanitized mail HTML, or the body rendered (also
        for mail HTML too large or deep to parse in good time: the text says it better).
        Sanitizing costs milliseconds; a channel may ask for it before its transaction."""
        if self.html and html_within_bounds(self.html):
            return sanitize(self.html)
        if self.body_format == "markdown":
            return markdown_to_html(self.body)
        return text_to_html(self.body)


@dataclass(frozen=True)
class Outcome:
    """What :func:`submit_post` did."""

    post: Post
    held: bool = False
    duplicate: bool = False
    reason: str = ""
    copies: int = 0  # personal copies queued


def community_by_slug(session: Session, slug: str) -> Community:
    community = session.scalar(select(Community).where(Community.slug == slug.lower()))
    if community is None:
        raise no_community(slug)
    return community


def no_community(slug: str) -> NotFound:
    """The error for a community that does not exist, and for a private one to an outsider."""
    return NotFound(f'there is no community "{slug}" here')


def check_post(session: Session, community: Community, author_email: str, site: Site | None = None) -> Verdict:
    """The cheap early check (no writes) a channel may make before it has the whole post
    (``site`` completes the addresses its reasons name)."""
    membership = membership_by_email(session, author_email, community) if author_email else None
    return verdict_for(session, community, membership, author_email or "an anonymous sender", site)


def verdict_for(
    session: Session, community: Community, membership: Membership | None, who: str, site: Site | None = None
) -> Verdict:
    """:func:`forum.access.posting_verdict` with what it asks of the database and the site:
    how many of the author's posts the community has published (counted only where a
    newcomer's first posts are reviewed) and the facilitators' address."""
    published = 0
    if community.moderate_new and membership is not None:
        published = (
            session.scalar(
                select(func.count())
                .select_from(Post)
                .where(
                    Post.community_id == community.id,
                    Post.author_id == membership.user_id,
                    Post.status == PostStatus.published,
                )
            )
            or 0
        )
    return posting_verdict(
        community, membership, who, published_posts=published, owners=site.owner_address(community.slug) if site else ""
    )


def submit_post(session: Session, draft: Draft, site: Site) -> Outcome:
    """Store ``draft`` as a post (published or held) and queue its fan-out.

    Raises :class:`NotFound` / :class:`NotPermitted` / :class:`InvalidInput` with a message
    for the sender. A draft whose Message-ID is already stored in the community returns
    the stored post with ``duplicate=True`` and queues nothing.
    """
    community = community_by_slug(session, draft.community)
    if draft.message_id:
        existing = session.scalar(
            select(Post).where(Post.community_id == community.id, Post.message_id == draft.message_id)
        )
        if existing is not None:
            return Outcome(existing, held=existing.status is PostStatus.held, duplicate=True)
    if not draft.body.strip() and not draft.attachments:
        raise InvalidInput(Message(N_("the message has no text (was the reply written below the quoted message?)")))

    user = user_by_email(session, draft.author_email) if draft.author_email else None
    membership = membership_of(session, user, community)
    verdict = (
        Verdict(Action.accept)
        if draft.trusted and not community.is_archived  # an archive is closed to imports too
        else verdict_for(session, community, membership, draft.author_email or "an anonymous sender", site)
    )
    if verdict.refused:
        raise NotPermitted(verdict.said or verdict.reason)
    if draft.hold_reason and verdict.action is Action.accept:
        verdict = Verdict(Action.hold, draft.hold_reason)

    placement = threads.place(
        session,
        community,
        parent_id=draft.parent_id,
        references=draft.references,
        thread_index=draft.thread_index,
        subject=draft.subject,
        subject_match_days=site.settings.threading.subject_match_days,
        at=draft.created_at,
    )
    now = utcnow()
    created = draft.created_at or now
    thread = placement.thread or _new_thread(session, community, draft, created)
    reply_to = draft.references[-1] if draft.references else (placement.parent.message_id if placement.parent else None)
    subject = (draft.subject.strip() or thread.subject)[:500]
    post = Post(
        community_id=community.id,
        thread_id=thread.id,
        parent_id=placement.parent.id if placement.parent else None,
        author_id=user.id if user else None,
        author_name=shown_name(draft, user)[:200],
        author_email=draft.author_email,
        message_id=draft.message_id or site.new_message_id(),
        reply_to_message_id=reply_to,
        subject=subject,
        body=draft.stored_body,
        language=post_language(subject, draft.stored_body, user.language if user else None, community.language),
        quoted=draft.quoted,
        signature=draft.signature,
        html=draft.stored_html,
        source=draft.source,
        source_ref=draft.source_ref,
        inbound_id=draft.inbound_id,
        status=PostStatus.held if verdict.action is Action.hold else PostStatus.published,
        hold_reason=verdict.reason if verdict.action is Action.hold else "",
        created_at=created,
    )
    session.add(post)
    session.flush()
    for att in draft.attachments:
        session.add(
            Attachment(
                post_id=post.id,
                filename=att.filename[:255],
                content_type=att.content_type[:255],
                size=len(att.data),
                sha256=site.blobs.put(att.data),
                inline=att.inline,
                content_id=att.content_id,
            )
        )
    threads.record_references(session, post, draft.references)
    held = post.status is PostStatus.held
    copies = 0 if held else publish(session, post, site, fan_out=draft.fan_out)
    # After publish(): merging threads recounts their posts, and must count this one once.
    threads.relink_early_replies(session, post)
    return Outcome(post, held=held, reason=verdict.reason if held else "", copies=copies)


def shown_name(draft: Draft, user: User | None) -> str:
    """The name a post shows its author by, on the web, in copies and in chat.

    Someone with an account is shown by the name on their profile, never by the one their
    mail client wrote, which anyone can set ("Alice Adviser" <bob@…>). Anyone else shows
    the name they gave with their address's domain beside it, so that a stranger in an open
    community cannot pass for a member. An imported archive keeps its names: it is history.
    """
    local, _, domain = draft.author_email.rpartition("@")
    if draft.trusted:
        return draft.author_name or (user.display_name if user else "") or draft.author_email
    if user is not None:
        return user.display_name or local
    name = " ".join(draft.author_name.split()) or local
    return f"{name} ({domain})" if domain else name


def publish(session: Session, post: Post, site: Site, *, fan_out: bool = True) -> int:
    """Make a stored post visible and queue its personal copies and chat copies (also used
    on approval); returns the number of personal copies. A reply to a thread a facilitator
    has hidden is hidden with it (forum.takedown), and goes to nobody."""
    post.hold_reason = ""
    thread = session.get(Thread, post.thread_id)
    if thread is None:  # pragma: no cover - foreign keys make this impossible
        raise NotFound("the thread of this post no longer exists")
    if thread.hidden_at is not None:
        post.status = PostStatus.hidden
        session.flush()
        return 0
    post.status = PostStatus.published
    thread.post_count += 1
    thread.last_activity_at = max(thread.last_activity_at, post.created_at)
    session.flush()
    if not fan_out:
        return 0
    outbox.fan_out_chat(session, post)
    return outbox.fan_out_post(session, post, include_author=site.settings.delivery.send_to_author)


def _new_thread(session: Session, community: Community, draft: Draft, created: datetime) -> Thread:
    subject = strip_prefixes(draft.subject) or NO_SUBJECT
    key, _ = threads.conversation_key(draft.thread_index)
    thread = Thread(
        id=threads.unused_thread_id(session),
        community_id=community.id,
        subject=subject[:500],
        subject_key=subject_key(subject)[:500],
        conversation_index=key,
        created_at=created,
        last_activity_at=created,
    )
    session.add(thread)
    session.flush()
    return thread
