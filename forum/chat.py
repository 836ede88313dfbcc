"""Which chat channel a community lives in, and which chat message is which post.

Three mappings, all in the database so they survive restarts: community ↔ channel
(:class:`ChatLink`), thread ↔ the chat message that roots it in that channel
(:class:`ChatThread`), post ↔ chat message (:class:`ChatMessage`). Every bridge uses
these functions; none keeps its own map. Chat messages are named by the platform's own
ids (a Slack ``ts``, a Matrix event id), which is what makes echoes recognisable without
markers in the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from forum.config import Settings
from forum.errors import InvalidInput, NotFound
from forum.models import ChatLink, ChatMessage, ChatThread, Community, Post

PLATFORMS = ("slack", "matrix")
# A Slack channel id: C (public) or G (private, older workspaces), then capitals and
# digits. Slack's are 9 to 11 characters today; the shape, not the length, is what tells
# an id from a channel's name, so shorter ids (older workspaces, test doubles) pass.
SLACK_CHANNEL = re.compile(r"[CG][A-Z0-9]{2,20}")
# A Matrix room id: "!" and an opaque part, then the server that made it (room versions
# before 12); from room version 12 the id is only "!" and a hash, without a server.
MATRIX_ROOM = re.compile(r"![^\s:]+(:(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?)?")


@dataclass(frozen=True)
class LinkRow:
    slug: str
    platform: str
    channel: str


def _platform(platform: str) -> str:
    if platform not in PLATFORMS:
        raise InvalidInput(f'unknown chat platform "{platform}" (known: {", ".join(PLATFORMS)})')
    return platform


def channel_problem(platform: str, channel: str) -> str | None:
    """Why ``channel`` cannot be a channel of ``platform``, in a sentence; None if it can.

    Checked here rather than only in a form, so that every way of linking (the web page,
    ``listbridge bridge link``) refuses a channel name or a mistyped id before the bridge
    tries, and fails, to post there.
    """
    if platform == "slack":
        if channel.startswith("#"):
            return "Enter the channel ID, not its name: it looks like C0123ABCD"
        if not SLACK_CHANNEL.fullmatch(channel):
            return "A Slack channel ID is a C or G followed by capital letters and digits, like C0123ABCD"
    elif platform == "matrix":
        if channel.startswith("#"):
            return "Enter the room ID, not an alias: it starts with ! (like !abc:example.org)"
        if not MATRIX_ROOM.fullmatch(channel):
            return "A Matrix room ID starts with ! and names its server, like !abc:example.org"
    return None


def unconfigured(settings: Settings, platform: str) -> str | None:
    """Why this site cannot bridge ``platform``, naming the setting it lacks; None if it can.

    Without it a link would be accepted and its messages would wait for a bridge that
    never starts, so every way of linking asks this first.
    """
    if platform == "slack" and not settings.slack.bot_token:
        return ("Slack is not set up on this site: setting [slack] bot_token is empty "
                "(it needs signing_secret or app_token too)")
    if platform == "matrix" and not settings.matrix.homeserver:
        return ("Matrix is not set up on this site: setting [matrix] homeserver is empty "
                "(it needs user_id and access_token too)")
    return None


def link(session: Session, community: Community, platform: str, channel: str, *, settings: Settings) -> ChatLink:
    """Link ``community`` to ``channel``; linking it again is a no-op, another community's channel an error."""
    channel = channel.strip()
    problem = unconfigured(settings, _platform(platform))
    if problem:
        raise InvalidInput(problem)
    if not channel:
        raise InvalidInput("the channel is empty")
    problem = channel_problem(platform, channel)
    if problem:
        raise InvalidInput(problem)
    existing = link_for_channel(session, _platform(platform), channel)
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
    row = link_for_channel(session, _platform(platform), channel.strip())
    if row is None or row.community_id != community.id:
        raise NotFound(f"{community.slug} is not linked to {platform} channel {channel}")
    session.delete(row)
    session.flush()


def links(session: Session, community: Community | None = None) -> list[LinkRow]:
    query = (select(Community.slug, ChatLink.platform, ChatLink.channel)
             .join(Community, Community.id == ChatLink.community_id)
             .order_by(Community.slug, ChatLink.platform, ChatLink.channel))
    if community is not None:
        query = query.where(ChatLink.community_id == community.id)
    return [LinkRow(*row) for row in session.execute(query)]


def link_for_channel(session: Session, platform: str, channel: str) -> ChatLink | None:
    return session.scalar(select(ChatLink).where(ChatLink.platform == platform, ChatLink.channel == channel))


def platform_links(session: Session, platform: str) -> list[ChatLink]:
    return list(session.scalars(select(ChatLink).where(ChatLink.platform == platform).order_by(ChatLink.id)))


def thread_root(session: Session, link_id: int, thread_id: int) -> str | None:
    """The chat message that roots forum thread ``thread_id`` in the channel, if any."""
    return session.scalar(select(ChatThread.root_ref).where(ChatThread.link_id == link_id,
                                                            ChatThread.thread_id == thread_id))


def thread_for_root(session: Session, link_id: int, root_ref: str) -> int | None:
    return session.scalar(select(ChatThread.thread_id).where(ChatThread.link_id == link_id,
                                                             ChatThread.root_ref == root_ref))


def message_for_post(session: Session, link_id: int, post_id: int) -> ChatMessage | None:
    return session.scalar(select(ChatMessage).where(ChatMessage.link_id == link_id, ChatMessage.post_id == post_id))


def mapped(session: Session, link_id: int, message_ref: str) -> ChatMessage | None:
    """The mapping of a chat message: set for our own copies and for messages already received."""
    return session.scalar(select(ChatMessage).where(ChatMessage.link_id == link_id,
                                                    ChatMessage.message_ref == message_ref))


def post_for_message(session: Session, link_id: int, message_ref: str) -> Post | None:
    return session.scalar(select(Post).join(ChatMessage, ChatMessage.post_id == Post.id)
                          .where(ChatMessage.link_id == link_id, ChatMessage.message_ref == message_ref))


def record(session: Session, link_id: int, post: Post, message_ref: str, *, ours: bool,
           root_ref: str | None = None) -> None:
    """Remember that ``message_ref`` in the channel is ``post``; with ``root_ref``, that
    the post's thread is rooted there (unless it already has a root in this channel)."""
    session.add(ChatMessage(link_id=link_id, post_id=post.id, message_ref=message_ref, ours=ours))
    if root_ref is not None and thread_root(session, link_id, post.thread_id) is None:
        session.add(ChatThread(link_id=link_id, thread_id=post.thread_id, root_ref=root_ref))
    session.flush()
