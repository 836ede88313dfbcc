"""Which chat channel a community lives in, and which chat message is which post.

Three mappings, all in the database so they survive restarts: community ↔ channel
(:class:`ChatLink`), thread ↔ the chat message that roots it in that channel
(:class:`ChatThread`), post ↔ chat message (:class:`ChatMessage`). Every bridge uses
these functions; none keeps its own map. Chat messages are named by the platform's own
ids (a Slack ``ts``, a Matrix event id), which is what makes echoes recognisable without
markers in the text.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from forum import chat_platforms
from forum.config import Settings
from forum.errors import InvalidInput, NotFound
from forum.models import ChatLink, ChatMessage, ChatThread, Community, Post


@dataclass(frozen=True)
class LinkRow:
    slug: str
    platform: str
    channel: str


def channel_problem(platform: str, channel: str) -> str | None:
    """Why ``channel`` cannot be a channel of ``platform``, in a sentence; None if it can
    (or the platform is unknown: that is said of the platform).

    Checked here rather than only in a form, so that every way of linking (the web page,
    ``listbridge bridge link``) refuses a channel name or a mistyped id before the bridge
    tries, and fails, to post there.
    """
    if platform not in chat_platforms.names():
        return None
    return chat_platforms.named(platform).channel_problem(channel)


def unconfigured(settings: Settings, platform: str) -> str | None:
    """Why this site cannot bridge ``platform``, naming the setting it lacks; None if it can.

    Without it a link would be accepted and its messages would wait for a bridge that
    never starts, so every way of linking asks this first.
    """
    described = chat_platforms.named(platform)
    missing = described.unconfigured(described.options(settings))
    return f"{described.label} is not set up on this site: {missing}" if missing else None


def link(session: Session, community: Community, platform: str, channel: str, *, settings: Settings) -> ChatLink:
    """Link ``community`` to ``channel``; linking it again is a no-op, another community's channel an error."""
    channel = channel.strip()
    problem = unconfigured(settings, platform)
    if problem:
        raise InvalidInput(problem)
    if not channel:
        raise InvalidInput("the channel is empty")
    problem = channel_problem(platform, channel)
    if problem:
        raise InvalidInput(problem)
    existing = link_for_channel(session, platform, channel)
    if existing is not None:
        if existing.community_id != community.id:
            owner = session.get(Community, existing.community_id)
            raise InvalidInput(f"{platform} channel {channel} is already linked to {owner.slug if owner else '?'}")
        return existing
    row = ChatLink(community_id=community.id, platform=platform, channel=channel)
    session.add(row)
    session.flush()
    return row


def unlink(session: Session, community: Community, platform: str, channel: str) -> None:
    """Remove the link and its maps (the chat messages themselves stay where they are)."""
    row = link_for_channel(session, platform, channel.strip())
    if row is None or row.community_id != community.id:
        raise NotFound(f"{community.slug} is not linked to {platform} channel {channel}")
    session.delete(row)
    session.flush()


def links(session: Session, community: Community | None = None) -> list[LinkRow]:
    query = (
        select(Community.slug, ChatLink.platform, ChatLink.channel)
        .join(Community, Community.id == ChatLink.community_id)
        .order_by(Community.slug, ChatLink.platform, ChatLink.channel)
    )
    if community is not None:
        query = query.where(ChatLink.community_id == community.id)
    return [LinkRow(*row) for row in session.execute(query)]


def link_for_channel(session: Session, platform: str, channel: str) -> ChatLink | None:
    return session.scalar(select(ChatLink).where(ChatLink.platform == platform, ChatLink.channel == channel))


def platform_links(session: Session, platform: str) -> list[ChatLink]:
    return list(session.scalars(select(ChatLink).where(ChatLink.platform == platform).order_by(ChatLink.id)))


def thread_root(session: Session, link_id: int, thread_id: int) -> str | None:
    """The chat message that roots forum thread ``thread_id`` in the channel, if any."""
    return session.scalar(
        select(ChatThread.root_ref).where(ChatThread.link_id == link_id, ChatThread.thread_id == thread_id)
    )


def thread_for_root(session: Session, link_id: int, root_ref: str) -> int | None:
    return session.scalar(
        select(ChatThread.thread_id).where(ChatThread.link_id == link_id, ChatThread.root_ref == root_ref)
    )


def message_for_post(session: Session, link_id: int, post_id: int) -> ChatMessage | None:
    return session.scalar(select(ChatMessage).where(ChatMessage.link_id == link_id, ChatMessage.post_id == post_id))


def mapped(session: Session, link_id: int, message_ref: str) -> ChatMessage | None:
    """The mapping of a chat message: set for our own copies and for messages already received."""
    return session.scalar(
        select(ChatMessage).where(ChatMessage.link_id == link_id, ChatMessage.message_ref == message_ref)
    )


def post_for_message(session: Session, link_id: int, message_ref: str) -> Post | None:
    return session.scalar(
        select(Post)
        .join(ChatMessage, ChatMessage.post_id == Post.id)
        .where(ChatMessage.link_id == link_id, ChatMessage.message_ref == message_ref)
    )


def record(
    session: Session, link_id: int, post: Post, message_ref: str, *, ours: bool, root_ref: str | None = None
) -> None:
    """Remember that ``message_ref`` in the channel is ``post``; with ``root_ref``, that
    the post's thread is rooted there (unless it already has a root in this channel)."""
    session.add(ChatMessage(link_id=link_id, post_id=post.id, message_ref=message_ref, ours=ours))
    if root_ref is not None and thread_root(session, link_id, post.thread_id) is None:
        session.add(ChatThread(link_id=link_id, thread_id=post.thread_id, root_ref=root_ref))
    session.flush()
