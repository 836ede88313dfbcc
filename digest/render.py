"""The pieces a digest is made of, each as plain text and as HTML (a :class:`Block`).

What a block says and how it looks is in the templates beside this module
(``templates/digest.txt`` and ``templates/digest.html``, a macro per block); here is what
the blocks are made from: the words people wrote made safe, links, relay addresses. The
templates mark every phrase for gettext (``jinja2.ext.i18n``); a :class:`Renderer` writes
in one language, its phrases from mail's catalogue (:mod:`forum.mail_language`), its dates
in that language's words. A bilingual renderer says each phrase in Welsh, then English,
except where phrases are built of phrases (the subject, the opening, a community's
heading): those are written whole in Welsh, then whole in English, so that neither
language's sentence is cut into the other's.
The HTML is escaped by Jinja2's autoescaping, the plain text not at all.

Nothing here knows a member: what differs between members (their reply and unsubscribe
tokens) is left at :data:`forum.digests.SLOT`, filled in per member.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cache
from gettext import NullTranslations
from typing import Any, TypeVar
from urllib.parse import quote
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from jinja2.environment import TemplateModule
from markupsafe import escape

from digest.excerpt import UNPRINTABLE, excerpt
from forum import mail_links, private_replies
from forum.digests import SLOT, Block, CommunityRef, NewPost
from forum.languages import BILINGUAL
from forum.mail_language import ENGLISH, SEPARATOR, long_date
from forum.mail_language import locale as date_locale
from forum.mail_language import translations as mail_translations
from forum.models import Delivery
from forum.posting import NO_SUBJECT
from forum.times import readable
from forum.tokens import Signer

_T = TypeVar("_T")
# Where a post block's time goes: a post is rendered once, then put in each reader's zone.
# A private-use character, like forum.digests.SLOT, so nothing people wrote can carry it.
WHEN = "\ue001"


def one_line(value: str) -> str:
    """Text people wrote, safe to render: no line breaks, control or slot characters."""
    return " ".join(UNPRINTABLE.sub(" ", value).split())


@dataclass(frozen=True)
class Templates:
    """The plain text and HTML templates' macros, one per block."""

    text: TemplateModule
    html: TemplateModule


def load_templates(translations: NullTranslations | None = None) -> Templates:
    """The templates, their phrases translated by ``translations`` (none: as written)."""
    environment = Environment(
        loader=PackageLoader("digest"),
        autoescape=select_autoescape(["html"], default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
        extensions=["jinja2.ext.i18n"],
    )
    install = environment.install_gettext_translations  # type: ignore[attr-defined]  # by the i18n extension
    install(translations or NullTranslations(), newstyle=True)
    environment.filters["grouped"] = "{:,}".format
    return Templates(environment.get_template("digest.txt").module, environment.get_template("digest.html").module)


@cache
def templates(language: str = ENGLISH) -> Templates:
    """Compiled once per process and language: rendering a run's blocks calls their macros directly."""
    return load_templates(mail_translations(language))


@dataclass(frozen=True)
class Renderer:
    """Renders blocks with the site's links; see the module docstring."""

    site_name: str
    base_url: str
    mail_domain: str
    signer: Signer | None = None  # makes the "reply privately" relay addresses; None: no such links
    language: str = ENGLISH  # "en", "cy" or "bilingual" (forum.mail_language)
    templates: Templates | None = None  # None: the language's own, from mail's catalogue

    @property
    def macros(self) -> Templates:
        return self.templates or templates(self.language)

    def subject(self, period: Delivery, posts: int, communities: int) -> str:
        """``Daily digest: 12 new posts in 3 communities``."""
        if self.language == BILINGUAL and self.templates is None:
            return SEPARATOR.join(self._in_turn(lambda each: each.subject(period, posts, communities)))
        subject = self.macros.text.subject  # type: ignore[attr-defined]  # a macro: made when the template loads
        return str(subject(period.value, posts, communities))

    def opening(self, period: Delivery, posts: int, communities: int, day: datetime, zone: str) -> Block:
        if self.language == BILINGUAL and self.templates is None:
            return _joined(self._in_turn(lambda each: each.opening(period, posts, communities, day, zone)))
        return self._render(
            "opening",
            period=period.value,
            posts=posts,
            communities=communities,
            site=one_line(self.site_name),
            day=long_date(day, self.language),
            zone=zone,
        )

    def community_heading(self, community: CommunityRef, posts: int, threads: int) -> Block:
        if self.language == BILINGUAL and self.templates is None:
            return _joined(self._in_turn(lambda each: each.community_heading(community, posts, threads)))
        return self._render(
            "community_heading",
            name=one_line(community.name),
            url=self.community_url(community),
            posts=posts,
            threads=threads,
        )

    def thread_heading(self, community: CommunityRef, post: NewPost, new: bool) -> Block:
        """A thread's subject, marked when the thread started in this digest."""
        return self._render(
            "thread_heading", title=_subject(post), url=self.thread_url(community, post.thread_id), new=new
        )

    def post_body(self, community: CommunityRef, post: NewPost) -> Block:
        """A post's opening words and where to read on: the same in every time zone."""
        words, cut = excerpt(post.body)
        return self._render("post_body", words=words, cut=cut, url=self.post_url(community, post))

    def post(self, community: CommunityRef, post: NewPost, body: Block) -> Block:
        """Who wrote ``body`` and how to answer them privately (through the relay: a digest
        never shows an address); when, is left at :data:`WHEN` for :meth:`in_zone`."""
        author = one_line(post.author)
        address = mailto = None
        if self.signer is not None and post.author_id is not None:
            address = private_replies.post_address(
                self.signer, community.slug, self.mail_domain, post.id, self.language
            )
            mailto = f"mailto:{address}?subject={quote('Re: ' + _subject(post))}"
        shown = "" if "@" in author else author  # the templates say "Someone" for no name, never an address
        return self._render("post", author=shown, when=WHEN, body=body, private_address=address, private_mailto=mailto)

    def in_zone(self, block: Block, post: NewPost, zone: ZoneInfo) -> Block:
        """A :meth:`post` block with the time it was written in the reader's time zone."""
        when = readable(post.created_at, zone, date_locale(self.language))
        return Block(block.text.replace(WHEN, when), block.html.replace(WHEN, str(escape(when))))

    def reply(self, community: CommunityRef, post: NewPost) -> Block:
        """Reply by email: the member's reply token, at the slot, names the thread's newest
        post, so the reply lands in the thread wherever it is written."""
        address = f"{community.slug}+{SLOT}@{self.mail_domain}"
        mailto = f"mailto:{address}?subject={quote('Re: ' + _subject(post))}"
        return self._render("reply", address=address, mailto=mailto)

    def community_footing(self, community: CommunityRef) -> Block:
        """Change delivery, or leave: the member's unsubscribe token goes at the slot."""
        return self._render(
            "community_footing",
            name=one_line(community.name),
            membership=self.membership_url(community),
            leave=self._link(mail_links.unsubscribe_path(SLOT, self.language)),
        )

    def closing(self, period: Delivery) -> Block:
        return self._render("closing", period=period.value, site=one_line(self.site_name))

    def _in_turn(self, write: Callable[[Renderer], _T]) -> list[_T]:
        """What ``write`` makes in Welsh, then in English."""
        return [write(replace(self, language=language)) for language in ("cy", ENGLISH)]

    @property
    def base(self) -> str:
        return self.base_url.rstrip("/")

    def _link(self, path: str) -> str:
        """The page at ``path``, opening in the digest's language (:mod:`forum.mail_links`)."""
        return mail_links.in_language(f"{self.base}{path}", self.language)

    def community_url(self, community: CommunityRef) -> str:
        return self._link(f"/c/{community.slug}/")

    def thread_url(self, community: CommunityRef, thread_id: int) -> str:
        return self._link(f"/c/{community.slug}/t/{thread_id}")

    def post_url(self, community: CommunityRef, post: NewPost) -> str:
        return self._link(mail_links.post_path(community.slug, post.thread_id, post.id, self.language))

    def membership_url(self, community: CommunityRef) -> str:
        return self._link(mail_links.membership_path(community.slug, self.language))

    def _render(self, block: str, **values: Any) -> Block:
        """The block's macro in both templates, with the same values."""
        return Block(getattr(self.macros.text, block)(**values), str(getattr(self.macros.html, block)(**values)))


def _joined(blocks: list[Block]) -> Block:
    return Block("".join(block.text for block in blocks), "".join(block.html for block in blocks))


def _subject(post: NewPost) -> str:
    return one_line(post.thread_subject) or NO_SUBJECT
