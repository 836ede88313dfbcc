"""Spooled messages turned into posts: the gateway's last step, after the 250.

:func:`prepare` parses the whole message and drafts its posts outside any transaction,
and :func:`process` turns it into posts in one transaction that also marks it done, so a
crash at any point leaves it either pending (processed on restart) or done — never
half-stored, never posted twice. What only the body can tell (a reply with nothing above
its quote) is refused here and explained to the sender by mail.

Besides posts, a message may be a bounce (:mod:`.bounces`, never posted), mail for the
facilitators (:mod:`.owners`), an email command (:mod:`.commands`), a private message
between members (:mod:`.private_relay`), a facilitator's answer to a request to join
(:mod:`.decisions`), mail for the operators (:mod:`.postmaster`) or a
reply to a digest (:mod:`.noreply`). Mail with the null reverse path is a notification
wherever it arrives and is never posted, forwarded or answered.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from sqlalchemy.orm import Session

from forum import confirmations, outbox
from forum.access import user_by_email
from forum.errors import Dropped, ListbridgeError, NotFound
from forum.mail_language import mail_language, translations
from forum.models import Community, InboundMessage, InboundStatus, utcnow
from forum.moderation import notify_held
from forum.posting import Draft, community_by_slug, submit_post
from forum.rate_limits import may_answer
from forum.site import Site
from mailgateway.addresses import Form, Route, parse_local_part, reverse_path, split_address
from mailgateway.incoming import bounces, commands, decisions, moderating, noreply, postmaster, private_relay
from mailgateway.incoming.drafting import build_draft, tidied
from mailgateway.incoming.judging import POSTING, Authorship, Envelope, answerable, authorship, drop_reason
from mailgateway.incoming.owners import forward_to_owners
from mailgateway.incoming.recipients import check_recipient, recipient, reply_target
from mailgateway.text.parsing import MalformedMail, ParsedMail, parse_message
from mailgateway.text.trimming import trim_reply

log = logging.getLogger(__name__)

COMMANDS = (Form.subscribe, Form.unsubscribe, Form.request, Form.confirm)


@dataclass(frozen=True)
class Prepared:
    """A spooled message read, and its posts drafted, before the transaction that stores
    them: parsing, reply trimming, HTML sanitising and the DMARC lookups take far longer
    than storing, and on SQLite every other writer (the gateway spooling the next message)
    waits while a transaction writes."""

    parsed: ParsedMail | None  # None: unusable (``malformed`` says why)
    malformed: str = ""
    drafts: dict[str, tuple[Draft, Authorship]] = field(default_factory=dict)  # by posting recipient


def prepare(session: Session, site: Site, inbound_id: int) -> Prepared | None:
    """Read and draft a pending message (no writes); None if it is not pending."""
    row = session.get(InboundMessage, inbound_id)
    if row is None or row.status is not InboundStatus.pending:
        return None
    return _prepared(session, site, row)


def _prepared(session: Session, site: Site, row: InboundMessage) -> Prepared:
    try:
        parsed = parse_message(row.raw)
    except MalformedMail as exc:
        return Prepared(None, str(exc))
    drafts = {}
    for rcpt, earlier in zip(row.rcpt_to, _repeats(row.rcpt_to), strict=True):
        if earlier is not None:
            continue
        try:
            made = _posting_draft(session, site, parsed, row, rcpt)
        except ListbridgeError:
            continue  # found again, and answered, in the transaction
        if made is not None:
            made[0].stored_html  # sanitized now, outside the transaction  # noqa: B018
            drafts[rcpt] = made
    return Prepared(parsed, drafts=drafts)


def process(session: Session, site: Site, inbound_id: int, prepared: Prepared | None = None) -> list[str]:
    """Turn a spooled message into posts (idempotent: a processed message is skipped), with
    what :func:`prepare` made of it ahead of the transaction, if anything.

    Returns one outcome line per recipient, also recorded on the spool row. Several
    gateways may process the same spool: the row is locked first (PostgreSQL; skipped
    when another has it), so a message is processed by one of them.
    """
    row = session.get(InboundMessage, inbound_id, with_for_update={"skip_locked": True})
    if row is None or row.status is not InboundStatus.pending:
        return []
    prepared = prepared or _prepared(session, site, row)
    if prepared.parsed is None:
        outcomes = [f"refused: {prepared.malformed}"]
    else:
        outcomes = [
            _process_one(session, site, prepared.parsed, row, rcpt, prepared.drafts.get(rcpt))
            if earlier is None
            else f"{rcpt}: repeats {earlier}, done once"
            for rcpt, earlier in zip(row.rcpt_to, _repeats(row.rcpt_to), strict=True)
        ]
    row.status = InboundStatus.done
    row.outcome = "\n".join(outcomes)
    row.processed_at = utcnow()
    return outcomes


def _repeats(rcpts: Sequence[str]) -> list[str | None]:
    """For each recipient, the earlier one it repeats (None: the first of its kind).

    A message makes at most one post in a community, whatever its envelope says: the same
    address given twice, in another case, or as both the post and a reply address. Other
    forms repeat when they are the same address (the same command, the same token).
    """
    first: dict[tuple[str, ...], str] = {}
    repeats: list[str | None] = []
    for rcpt in rcpts:
        local, domain = split_address(rcpt)
        route = parse_local_part(local)
        key = (domain, route.slug) if route.form in POSTING else (domain, route.form.value, route.slug, route.detail)
        repeats.append(first.get(key))
        first.setdefault(key, rcpt)
    return repeats


def _posting_draft(
    session: Session, site: Site, parsed: ParsedMail, row: InboundMessage, rcpt: str
) -> tuple[Draft, Authorship] | None:
    """The post a recipient address makes of a message (None: it makes none), and what is
    known of its author."""
    route = check_recipient(session, site, rcpt)
    if route.form not in POSTING or drop_reason(site, parsed, row.mail_from, route):
        return None
    return _draft(session, site, parsed, row, route)


def _draft(
    session: Session, site: Site, parsed: ParsedMail, row: InboundMessage, route: Route
) -> tuple[Draft, Authorship]:
    judged = authorship(session, site, parsed, route, Envelope(row.raw, row.mail_from, row.client_ip))
    return replace(build_draft(session, site, parsed, route, row.id), hold_reason=judged.hold), judged


def _thread_reply_draft(
    session: Session, site: Site, parsed: ParsedMail, row: InboundMessage, target: noreply.ThreadReply
) -> tuple[Draft, Authorship]:
    """A reply to a digest that names one thread, as a reply in it. Its From is all that
    says who wrote it, so the rules of a new post apply (authentication included)."""
    draft, judged = _draft(session, site, parsed, row, Route(Form.post, target.slug))
    return replace(
        draft, parent_id=target.parent_id or None, subject=target.subject, references=(), thread_index=None
    ), judged


def _moderation_answer(
    session: Session, site: Site, route: Route, community: Community, parsed: ParsedMail, row: InboundMessage
) -> str:
    """A moderator's answer to a held-post notice, under the trust rules of a post (the
    gateway refused it at DATA already when it came by SMTP)."""
    envelope = Envelope(row.raw, row.mail_from, row.client_ip)
    held = authorship(session, site, parsed, Route(Form.post, route.slug), envelope, community).hold
    if held:
        raise Dropped(f"a decision on a held post whose sender is not shown to be the moderator: {held}")
    return moderating.handle(session, site, route, community, parsed, trim_reply(tidied(site, parsed).text).body)


def _process_one(
    session: Session,
    site: Site,
    parsed: ParsedMail,
    row: InboundMessage,
    rcpt: str,
    prepared: tuple[Draft, Authorship] | None,
) -> str:
    fields: dict[str, object] = {"message_id": parsed.message_id, "recipient": rcpt, "sender": parsed.from_addr}
    route = None
    try:
        route, community = recipient(session, site, rcpt)
        notification = not reverse_path(row.mail_from) and route.form is not Form.bounces
        reason = None if notification else drop_reason(site, parsed, row.mail_from, route)
        if reason:
            raise Dropped(reason)
        with session.begin_nested():
            if notification:
                return f"{rcpt}: " + _notification(session, site, route, community, row.raw)
            if route.form is Form.bounces:
                return f"{rcpt}: " + bounces.process_bounce(session, site, route, row.raw)
            if route.form is Form.owner:
                return f"{rcpt}: " + forward_to_owners(session, site, route.slug, parsed, row)
            if route.form in COMMANDS:
                return f"{rcpt}: " + commands.handle(
                    session, site, route, parsed, row.id, answerable=answerable(site, parsed, row)
                )
            if route.form is Form.decide and community is not None:
                return f"{rcpt}: " + decisions.handle(session, site, route, community, parsed, row)
            if route.form in (Form.private, Form.noreply, Form.moderate) and not answerable(site, parsed, row):
                raise Dropped("its From fails SPF/DMARC: it is passed on and answered only from its real writer")
            if route.form is Form.private and community is not None:
                return f"{rcpt}: " + private_relay.relay(session, site, route, community, parsed, row.id)
            if route.form is Form.moderate and community is not None:
                return f"{rcpt}: " + _moderation_answer(session, site, route, community, parsed, row)
            if route.form is Form.postmaster:
                return f"{rcpt}: " + postmaster.forward(session, site, route, parsed, row.id)
            if route.form is Form.noreply:
                answered = noreply.handle(session, site, parsed, row.id)
                if isinstance(answered, str):
                    return f"{rcpt}: {answered}"
                prepared = _thread_reply_draft(session, site, parsed, row, answered)
            draft, judged = prepared or _draft(session, site, parsed, row, route)
            outcome = submit_post(session, draft, site)
    except Dropped as exc:
        log.info("inbound not posted: %s", exc.message, extra=fields)
        return f"{rcpt}: {type(exc).__name__}: {exc.message}"
    except ListbridgeError as exc:
        log.info("inbound not posted: %s", exc.message, extra=fields)
        told = (
            route is not None and route.form in POSTING and _tell_refused(session, site, parsed, row, route.slug, exc)
        )
        return f"{rcpt}: {type(exc).__name__}: {exc.message}" + ("; the sender was told" if told else "")
    post = outcome.post
    fields.update(post_id=post.id, community=route.slug)
    if outcome.duplicate:
        log.info("inbound duplicate of post %s", post.id, extra=fields)
        return f"{rcpt}: duplicate of post {post.id}"
    if outcome.held:
        asked = (
            judged.author_confirms
            and outcome.reason == judged.hold
            and confirmations.ask_author(session, site, post, row.mail_from or parsed.from_addr or "")
        )
        if not asked:
            notify_held(session, site, post, tell_author=judged.answerable and not judged.author_confirms)
        log.info("inbound held: %s", outcome.reason, extra=fields)
        return f"{rcpt}: held as post {post.id}: {outcome.reason}" + (
            "; the author was asked to confirm it" if asked else ""
        )
    log.info("inbound posted as %s, %s copies queued", post.id, outcome.copies, extra=fields)
    return f"{rcpt}: posted as {post.id} in thread {post.thread_id}, {outcome.copies} copies queued"


def _notification(session: Session, site: Site, route: Route, community: Community | None, raw: bytes) -> str:
    """Mail with the null reverse path that reached an address other than ``-bounces``: a
    notification by definition (RFC 5321 §4.5.5), so never a post, a forward or an answer.
    Read as a bounce where it is one (a report sent to a member's reply address is about
    that member's mail), dropped with a log line otherwise."""
    about = None
    if route.form is Form.reply and community is not None:
        try:
            user, _post = reply_target(session, site, route, community)
        except NotFound:
            user = None
        about = next((e.email for e in user.emails if e.is_primary), None) if user is not None else None
    if community is None:
        log.info("dropped: mail with the null reverse path to %s@", route.slug)
        return "null reverse path (a notification): dropped"
    return "null reverse path (a notification): " + bounces.count_bounce(session, site, community, raw, about)


def _tell_refused(
    session: Session, site: Site, parsed: ParsedMail, row: InboundMessage, slug: str, error: ListbridgeError
) -> bool:
    """Mail the author why a post accepted at DATA was not posted after all (no new text,
    or the rules changed in between): the SMTP reply cannot say it any more.

    At most one notice per message, none to a From that fails SPF/DMARC, and only within
    :func:`forum.rate_limits.may_answer`'s limits: a forged From must not make us mail
    its owner again and again.
    """
    author = (parsed.from_addr or "").lower()
    if not author or not answerable(site, parsed, row):
        return False
    community = community_by_slug(session, slug)
    if not may_answer(session, site, author, community_id=community.id):
        return False
    user = user_by_email(session, author)
    _ = translations(mail_language(user.language if user else None, community.language)).gettext
    values = {"subject": parsed.subject or _("(no subject)"), "name": slug, "reason": error.said.render(_)}
    return outbox.enqueue_notice(
        session,
        dedupe_key=f"refused:{row.id}:{slug}",
        address=author,
        user_id=user.id if user is not None else None,
        payload={
            "slug": slug,
            "subject": _("Not posted: %(subject)s") % values,
            "text": _('Your message "%(subject)s" to %(name)s was not posted.') % values
            + "\n\n"
            + _("Why: %(reason)s") % values
            + "\n",
            "in_reply_to": parsed.message_id or "",
        },
    )
