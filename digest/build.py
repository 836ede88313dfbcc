"""One run's digests: the new posts by community, rendered once, and each member's digest
assembled from them.

Most members' digests share most of their content: the same communities, the same posts
since the same high-water mark, in the same time zone. An :class:`Edition` renders every
block once (a post's words and heading, then that heading in each time zone, a thread's
heading …) and builds each community's :class:`Section` once per high-water mark and
zone. A member's digest is an opening, their communities' sections and a closing:
building one costs a sort and a few lookups. Each block is rendered once per language it
is read in (the member's, else their communities': :mod:`forum.mail_language`). The
member's own tokens are not made here but when the digest is sent
(``forum.digests.assemble``).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from digest.render import Renderer
from digest.slots import Schedule
from forum import tokens
from forum.digests import Block, CommunityRef, NewPost, Value
from forum.mail_language import gathered_language
from forum.models import Delivery
from forum.site import Site


@dataclass(frozen=True)
class Recipient:
    """A member owed a digest, and what it covers."""

    user_id: int
    address: str
    schedule: Schedule
    slot_at: datetime
    after: int  # the high-water mark: the digest shows publications after it
    communities: tuple[int, ...]
    language: str | None = None  # their own choice for mail; None: their communities'


@dataclass(frozen=True, eq=False)  # hashed by identity: an Edition makes each section once
class Section:
    """A community's part of a digest; shared by every member with the same mark and zone."""

    community: CommunityRef
    posts: int
    parts: tuple[tuple[Block, Value | None], ...]


@dataclass(frozen=True)
class Digest:
    recipient: Recipient
    subject: str
    opening: Block
    sections: tuple[Section, ...]
    closing: Block

    @property
    def slug(self) -> str:
        """The community it opens with, whose list headers the mail carries."""
        return self.sections[0].community.slug

    def parts(self) -> Iterator[tuple[Block, Value | None]]:
        yield self.opening, None
        for section in self.sections:
            yield from section.parts
        yield self.closing, None


class Edition:
    """Everything one run renders once; see the module docstring.

    ``posts`` in order of publication, ``first_posts`` maps each of their threads to its
    first published post, and ``communities`` holds every community they are in.
    """

    def __init__(
        self,
        site: Site,
        period: Delivery,
        posts: Sequence[NewPost],
        first_posts: Mapping[int, int],
        communities: Mapping[int, CommunityRef],
    ) -> None:
        self.period = period
        self.renderer = Renderer(site.settings.site.name, site.settings.site.base_url, site.mail_domain, site.signer)
        self._renderers = {self.renderer.language: self.renderer}
        self.communities = communities
        self._posts: dict[int, list[NewPost]] = {}
        for post in posts:
            self._posts.setdefault(post.community_id, []).append(post)
        self._publications = {cid: [post.publication for post in listed] for cid, listed in self._posts.items()}
        published = {post.id: post.publication for post in posts}
        # A thread is new to a member when its first post's publication is in their digest.
        self._first = {thread: published[post] for thread, post in first_posts.items() if post in published}
        names = sorted(self._posts, key=lambda cid: (communities[cid].name.casefold(), cid))
        self._rank = {cid: rank for rank, cid in enumerate(names)}
        self._sections: dict[tuple[int, int, str, str], Section | None] = {}
        self._blocks: dict[tuple[Any, ...], Block] = {}
        self._subjects: dict[tuple[str, int, int], str] = {}  # by (language, posts, communities)

    def digest_for(self, recipient: Recipient) -> Digest | None:
        """The member's digest, or None when nothing is new in their communities."""
        zone = recipient.schedule.zone
        shown = sorted((cid for cid in recipient.communities if cid in self._rank), key=self._rank.__getitem__)
        shown = [cid for cid in shown if self._has_news(cid, recipient.after)]
        if not shown:
            return None
        language = gathered_language(recipient.language, [self.communities[cid].language for cid in shown])
        render = self._renderer(language)
        sections = tuple(section for cid in shown if (section := self._section(cid, recipient.after, zone, language)))
        posts = sum(section.posts for section in sections)
        day = recipient.schedule.local(recipient.slot_at)
        opening = self._block(
            (language, "opening", posts, len(sections), day.date(), zone.key),
            render.opening,
            self.period,
            posts,
            len(sections),
            day,
            zone.key,
        )
        counts = (language, posts, len(sections))
        if counts not in self._subjects:
            self._subjects[counts] = render.subject(self.period, posts, len(sections))
        closing = self._block((language, "closing"), render.closing, self.period)
        return Digest(recipient, self._subjects[counts], opening, sections, closing)

    def _renderer(self, language: str) -> Renderer:
        if language not in self._renderers:
            self._renderers[language] = replace(self.renderer, language=language)
        return self._renderers[language]

    def _has_news(self, community_id: int, after: int) -> bool:
        publications = self._publications[community_id]
        return bool(publications) and publications[-1] > after

    def _section(self, community_id: int, after: int, zone: ZoneInfo, language: str) -> Section | None:
        key = (community_id, after, zone.key, language)
        if key not in self._sections:
            self._sections[key] = self._new_section(community_id, after, zone, language)
        return self._sections[key]

    def _new_section(self, community_id: int, after: int, zone: ZoneInfo, language: str) -> Section | None:
        """Grouped by thread, threads in the order they first appear, posts in order."""
        chosen = self._posts[community_id][bisect_right(self._publications[community_id], after) :]
        if not chosen:
            return None
        community, render = self.communities[community_id], self._renderer(language)
        threads: dict[int, list[NewPost]] = {}
        for post in chosen:
            threads.setdefault(post.thread_id, []).append(post)
        heading = self._block(
            (language, "community", community_id, len(chosen), len(threads)),
            render.community_heading,
            community,
            len(chosen),
            len(threads),
        )
        parts: list[tuple[Block, Value | None]] = [(heading, None)]
        for thread_id, posts in threads.items():
            new = self._first.get(thread_id, 0) > after
            parts.append(
                (
                    self._block((language, "thread", thread_id, new), render.thread_heading, community, posts[0], new),
                    None,
                )
            )
            for post in posts:
                body = self._block((language, "body", post.id), render.post_body, community, post)
                written = self._block((language, "post", post.id), render.post, community, post, body)
                parts.append(
                    (self._block((language, "post", post.id, zone.key), render.in_zone, written, post, zone), None)
                )
            parts.append(
                (
                    self._block((language, "reply", thread_id), render.reply, community, posts[0]),
                    (tokens.REPLY, posts[-1].id),
                )
            )
        parts.append(
            (
                self._block((language, "leave", community_id), render.community_footing, community),
                (tokens.UNSUBSCRIBE, community_id),
            )
        )
        return Section(community, len(chosen), tuple(parts))

    def _block(self, key: tuple[Any, ...], render: Callable[..., Block], *args: Any) -> Block:
        block = self._blocks.get(key)
        if block is None:
            block = self._blocks[key] = render(*args)
        return block
