"""Replies to the site's own mail: digests and notices come from ``noreply@``.

A member who answers a whole digest means one of its threads. Where what they send names
exactly one thread (they kept only its part of the digest, with its "reply to this
thread" address or its link), the reply is posted there; otherwise they are told which
threads their digest held and the address that answers each one. Only members hear
back, at most a few times an hour (:func:`forum.rate_limits.may_answer`); automatic mail never
gets here.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from forum import outbox
from forum.access import can_read, membership_of, user_by_email
from forum.mail_language import mail_language, translations
from forum.models import Community, Membership, MemberStatus, Post, PostStatus, Thread, User
from forum.rate_limits import may_answer
from forum.site import Site
from forum.tokens import BadToken
from mailgateway.addresses import post_address, read_reply_token, reply_address
from mailgateway.text.parsing import ParsedMail

log = logging.getLogger(__name__)

MAX_LISTED = 30  # threads listed in one answer


@dataclass(frozen=True)
class ThreadReply:
    """The one thread a reply to a digest names: post it there, as a reply to ``parent_id``."""

    slug: str
    parent_id: int
    subject: str


def handle(session: Session, site: Site, parsed: ParsedMail, inbound_id: int) -> str | ThreadReply:
    """The thread to post in, or else the outcome of answering (for the spool row and log)."""
    sender = (parsed.from_addr or "").lower()
    user = user_by_email(session, sender)
    if user is None:
        log.info("mail to noreply@ from %s, who is no member: dropped", sender)
        return "not from a member: dropped"
    threads = _threads_named(session, site, user, parsed)
    if len(threads) == 1:
        thread, community = threads[0]
        return ThreadReply(community.slug, _newest_post(session, thread), f"Re: {thread.subject}")
    if not may_answer(session, site, sender):
        return f"a reply from {sender} naming {len(threads)} threads: too many answers this hour; no answer"
    _ = translations(mail_language(user.language, None)).gettext
    outbox.enqueue_notice(
        session,
        dedupe_key=f"noreply:{inbound_id}",
        address=sender,
        user_id=user.id,
        payload={
            "subject": _("Not posted: %(subject)s") % {"subject": parsed.subject or _("(no subject)")},
            "text": _help(session, site, user, threads, _),
            "in_reply_to": parsed.message_id or "",
        },
    )
    return f"a reply from {sender} naming {len(threads)} threads: answered with their reply addresses"


def _threads_named(session: Session, site: Site, user: User, parsed: ParsedMail) -> list[tuple[Thread, Community]]:
    """The threads the message names, in the order it names them: by the reply addresses it
    quotes (the sender's own: a digest forwarded to them names nobody's) and by the links."""
    text = parsed.text + "\n" + (parsed.html or "")
    domain, base = re.escape(site.mail_domain), re.escape(site.url("/").rstrip("/"))
    named: dict[int, int] = {}  # thread id → position
    for _slug, token in re.findall(rf"\b([a-z0-9][a-z0-9-]*)\+([a-z2-7]{{8,}})@{domain}", text, re.IGNORECASE):
        try:
            user_id, post_id = read_reply_token(site.signer, token)
        except BadToken:
            continue
        post = session.get(Post, post_id) if user_id == user.id else None
        if post is not None:
            named.setdefault(post.thread_id, len(named))
    for _slug, thread_id in re.findall(rf"{base}/c/([a-z0-9-]+)/t/(\d+)", text, re.IGNORECASE):
        named.setdefault(int(thread_id), len(named))
    found = []
    for thread_id in sorted(named, key=named.__getitem__):
        row = session.execute(
            select(Thread, Community).join(Community, Community.id == Thread.community_id).where(Thread.id == thread_id)
        ).first()
        if row is not None and can_read(row[1], membership_of(session, user, row[1])):
            found.append((row[0], row[1]))
    return found


def _newest_post(session: Session, thread: Thread) -> int:
    return (
        session.scalar(
            select(Post.id)
            .where(Post.thread_id == thread.id, Post.status == PostStatus.published)
            .order_by(Post.created_at.desc(), Post.id.desc())
            .limit(1)
        )
        or 0
    )


def _help(
    session: Session, site: Site, user: User, threads: list[tuple[Thread, Community]], _: Callable[[str], str]
) -> str:
    """What to do instead, in the member's language (``_``, their gettext)."""
    domain = site.mail_domain
    text = (
        _(
            "Your message was not posted: a digest holds several conversations, and we could not tell which "
            "one you meant."
        )
        + "\n\n"
    )
    if threads:
        text += _("To answer one of those in your digest, write to its own address:") + "\n"
        for thread, community in threads[:MAX_LISTED]:
            address = reply_address(site.signer, community.slug, domain, user.id, _newest_post(session, thread))
            text += (
                f"\n  {thread.subject} ({community.name})\n    {address}\n"
                f"    {site.url(f'/c/{community.slug}/t/{thread.id}')}\n"
            )
    else:
        text += _('Under each conversation in your digest, "Reply to this thread by email" answers it.') + "\n"
    communities = session.scalars(
        select(Community)
        .join(Membership, Membership.community_id == Community.id)
        .where(Membership.user_id == user.id, Membership.status == MemberStatus.active)
        .order_by(Community.name)
    )
    starts = [f"  {c.name}: {post_address(c.slug, domain)}" for c in communities]
    if starts:
        text += "\n" + _("To start a new conversation, write to the community's address:") + "\n"
        text += "\n".join(starts) + "\n"
    return text
