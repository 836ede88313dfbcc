"""The pieces a digest is made of, each as plain text and as HTML (a :class:`Block`).

The HTML is for mail clients, not browsers: no tables, no ``<style>``, no classes, only
simple elements with inline styles that Outlook's Word engine, Gmail and phone clients
all honour, in one fluid column. Every element carries its own font, since Outlook does
not inherit one. The plain text reads on its own, links written out.

Nothing here knows a member: what differs between members (their reply and unsubscribe
tokens) is left at :data:`forum.digests.SLOT`, filled in per member.
"""

from __future__ import annotations

import html
import textwrap
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote
from zoneinfo import ZoneInfo

from digest.excerpt import UNPRINTABLE, excerpt
from forum import private_replies
from forum.digests import SLOT, Block, CommunityRef, NewPost
from forum.models import Delivery
from forum.posting import NO_SUBJECT
from forum.times import readable
from forum.tokens import Signer

FONT = "font-family:Arial,Helvetica,sans-serif;"
INK = "#222222"
MUTED = "#5f6368"
LINK = "#1a5fb4"
RULE = "#d0d7de"
FRESH = "#1a7f37"
WIDTH = 72  # columns of the plain text


def one_line(value: str) -> str:
    """Text people wrote, safe to render: no line breaks, control or slot characters."""
    return " ".join(UNPRINTABLE.sub(" ", value).split())


def plural(count: int, one: str, many: str) -> str:
    return f"{count:,} {one if count == 1 else many}"


def tally(posts: int, communities: int) -> str:
    return f"{plural(posts, 'new post', 'new posts')} in {plural(communities, 'community', 'communities')}"


def subject(period: Delivery, posts: int, communities: int) -> str:
    """``Daily digest: 12 new posts in 3 communities``."""
    return f"{period.value.capitalize()} digest: {tally(posts, communities)}"


@dataclass(frozen=True)
class Renderer:
    """Renders blocks with the site's links; see the module docstring."""

    site_name: str
    base_url: str
    mail_domain: str
    signer: Signer | None = None  # makes the "reply privately" relay addresses; None: no such links

    def opening(self, period: Delivery, posts: int, communities: int, day: datetime, zone: str) -> Block:
        title = f"{period.value.capitalize()} digest"
        counts = tally(posts, communities)
        when = f"{day:%A} {day.day} {day:%B %Y}"
        text = f"{title}: {counts}\n{one_line(self.site_name)}, {when} (times in {zone})\n"
        markup = (
            _HTML_HEAD.format(title=_e(title))
            + f'<h1 style="margin:0 0 4px 0;{FONT}font-size:22px;line-height:1.3;color:{INK};">{_e(title)}</h1>\n'
            + _p(
                "0 0 8px 0",
                14,
                MUTED,
                f"{_e(counts)} &middot; {_e(one_line(self.site_name))} &middot; {_e(when)} &middot; times in {_e(zone)}",
            )
        )
        return Block(text, markup)

    def community_heading(self, community: CommunityRef, posts: int, threads: int) -> Block:
        name = one_line(community.name)
        counts = f"{plural(posts, 'new post', 'new posts')} in {plural(threads, 'thread', 'threads')}"
        line = f"{name}: {counts}"
        text = f"\n\n{line}\n{'=' * min(len(line), WIDTH)}\n"
        markup = (
            f'<h2 style="margin:28px 0 0 0;padding:10px 0 0 0;border-top:3px solid {LINK};{FONT}font-size:19px;'
            f'line-height:1.3;color:{INK};"><a href="{_e(self.community_url(community))}" '
            f'style="color:{INK};text-decoration:none;">{_e(name)}</a></h2>\n' + _p("2px 0 0 0", 13, MUTED, _e(counts))
        )
        return Block(text, markup)

    def thread_heading(self, community: CommunityRef, post: NewPost, new: bool) -> Block:
        """A thread's subject, marked when the thread started in this digest."""
        title = one_line(post.thread_subject) or NO_SUBJECT
        text = f"\n{'[new] ' if new else ''}{title}\n"
        badge = (
            f'<span style="color:{FRESH};font-size:12px;font-weight:bold;letter-spacing:1px;">NEW</span>&nbsp; '
            if new
            else ""
        )
        markup = (
            f'<h3 style="margin:22px 0 8px 0;{FONT}font-size:16px;line-height:1.35;color:{INK};">{badge}'
            f'<a href="{_e(self.thread_url(community, post.thread_id))}" style="color:{INK};text-decoration:none;">'
            f"{_e(title)}</a></h3>\n"
        )
        return Block(text, markup)

    def post_body(self, community: CommunityRef, post: NewPost) -> Block:
        """A post's opening words and where to read on: the same in every time zone."""
        words, cut = excerpt(post.body)
        url = self.post_url(community, post)
        wrapped = textwrap.fill(words, WIDTH, initial_indent="  ", subsequent_indent="  ") if words else ""
        link = f'<a href="{_e(url)}" style="color:{LINK};">{"Read more" if cut else "Read on the web"}</a>'
        return Block(
            (f"{wrapped}\n" if wrapped else "") + f"  {url}\n",
            _p("2px 0 0 0", 15, INK, f"{_e(words)} {link}" if words else link),
        )

    def post(self, community: CommunityRef, post: NewPost, zone: ZoneInfo, body: Block) -> Block:
        """Who wrote ``body`` and when, in the reader's time zone, and how to answer them
        privately (through the relay: a digest never shows an address)."""
        author = one_line(post.author)
        author = "Someone" if not author or "@" in author else author
        when = readable(post.created_at, zone)
        text, privately = "", ""
        if self.signer is not None and post.author_id is not None:
            address = private_replies.post_address(self.signer, community.slug, self.mail_domain, post.id)
            subject = quote("Re: " + (one_line(post.thread_subject) or NO_SUBJECT))
            text = f"  Reply privately to {author}: {address}\n"
            privately = (
                f' &middot; <a href="{_e(f"mailto:{address}?subject={subject}")}" style="color:{MUTED};">'
                f"Reply privately</a>"
            )
        markup = (
            f'<div style="margin:0 0 14px 0;padding:0 0 0 12px;border-left:3px solid {RULE};">\n'
            + _p("0", 13, MUTED, f'<strong style="color:{INK};">{_e(author)}</strong> &middot; {_e(when)}{privately}')
            + body.html
            + "</div>\n"
        )
        return Block(f"\n  {author}, {when}\n{body.text}{text}", markup)

    def reply(self, community: CommunityRef, post: NewPost) -> Block:
        """Reply by email: the member's reply token, at the slot, names the thread's newest
        post, so the reply lands in the thread wherever it is written."""
        address = f"{community.slug}+{SLOT}@{self.mail_domain}"
        mailto = f"mailto:{address}?subject={quote('Re: ' + (one_line(post.thread_subject) or NO_SUBJECT))}"
        text = f"\n  Reply to this thread by email: {address}\n"
        markup = _p(
            "0 0 6px 0", 13, INK, f'<a href="{_e(mailto)}" style="color:{LINK};">Reply to this thread by email</a>'
        )
        return Block(text, markup)

    def community_footing(self, community: CommunityRef) -> Block:
        """Change delivery, or leave: the member's unsubscribe token goes at the slot."""
        name = one_line(community.name)
        membership, leave = self.membership_url(community), f"{self.base}/unsubscribe/{SLOT}"
        text = f"\nChange your delivery for {name}: {membership}\nLeave {name}: {leave}\n"
        markup = _p(
            "16px 0 0 0",
            12,
            MUTED,
            f'<a href="{_e(membership)}" style="color:{MUTED};">Change your delivery for {_e(name)}</a>'
            f' &middot; <a href="{_e(leave)}" style="color:{MUTED};">Leave {_e(name)}</a>',
        )
        return Block(text, markup)

    def closing(self, period: Delivery) -> Block:
        why = (
            f"You get this {period.value} digest from {one_line(self.site_name)} because your delivery is "
            f"{period.value} in the communities above; the links under each one change that."
        )
        text = "\n-- \n" + textwrap.fill(why, WIDTH) + "\n"
        markup = (
            f'<p style="margin:32px 0 0 0;padding:10px 0 0 0;border-top:1px solid {RULE};{FONT}font-size:12px;'
            f'line-height:1.5;color:{MUTED};">{_e(why)}</p>\n' + _HTML_TAIL
        )
        return Block(text, markup)

    @property
    def base(self) -> str:
        return self.base_url.rstrip("/")

    def community_url(self, community: CommunityRef) -> str:
        return f"{self.base}/c/{community.slug}/"

    def thread_url(self, community: CommunityRef, thread_id: int) -> str:
        return f"{self.base}/c/{community.slug}/t/{thread_id}"

    def post_url(self, community: CommunityRef, post: NewPost) -> str:
        return f"{self.thread_url(community, post.thread_id)}#post-{post.id}"

    def membership_url(self, community: CommunityRef) -> str:
        return f"{self.base}/c/{community.slug}/membership"


def _e(value: str) -> str:
    return html.escape(value, quote=True)


def _p(margin: str, size: int, color: str, content: str) -> str:
    return f'<p style="margin:{margin};{FONT}font-size:{size}px;line-height:1.5;color:{color};">{content}</p>\n'


_HTML_HEAD = """<!DOCTYPE html>
<html lang="en">
<head>
<meta http-equiv="Content-Type" content="text/html; charset=utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
</head>
<body style="margin:0;padding:0;background-color:#ffffff;">
<div style="max-width:640px;margin:0 auto;padding:16px;">
"""
_HTML_TAIL = """</div>
</body>
</html>
"""
