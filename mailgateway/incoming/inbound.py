"""From raw bytes to posts: judging mail at SMTP time, spooling it, and processing it.

The gateway's promise is "250 means stored". So the order is:

1. at RCPT: :func:`recipient` refuses what cannot be delivered (unknown community,
   unknown address form, forged reply, relay or confirmation token) — cheap, no writes.
   A private community answers a sender who is not its member exactly as a community
   that does not exist, at every address form;
2. at DATA: :func:`judge` reads the header block and applies the posting rules for every
   recipient, so a non-member hears "550 5.7.1" from us instead of a bounce later, and a
   From that nothing vouches for hears that the post is held (:func:`authorship`);
3. :func:`spool` commits the raw bytes (the 250 is sent only after this returns);
4. :func:`prepare` parses the whole message and drafts its posts, and :func:`process`
   turns it into posts in one transaction that also marks it done, so a crash at any
   point leaves it either pending (processed on restart) or done — never half-stored,
   never posted twice. What only the body can tell (a reply with nothing above its
   quote) is refused here and explained to the sender by mail.

Steps 2 and 4 read the same bytes twice, the header only while the sender waits; keeping
the spool as raw bytes means what we store is exactly what we were sent.

Besides posts, the gateway takes bounces (:mod:`mailgateway.incoming.bounces`, never posted), mail
for the facilitators (``-owner``), email commands (:mod:`mailgateway.incoming.commands`), private
messages between members (:mod:`mailgateway.incoming.private_relay`), mail for the operators
(:mod:`mailgateway.incoming.postmaster`) and replies to digests (:mod:`mailgateway.incoming.noreply`). Mail
with the null reverse path is a notification wherever it arrives and is never posted,
forwarded or answered. The IMAP poller feeds the same steps, so a mailbox routes mail
exactly as SMTP does.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta

from sqlalchemy import and_, bindparam, insert, select
from sqlalchemy.orm import Session

from forum import confirmations, outbox
from forum.access import Action, membership_by_email, user_by_email
from forum import subscriptions
from forum.errors import Dropped, ListbridgeError, MalformedMessage, NotFound, NotPermitted, RateLimited, TooLarge
from forum.directory import moderators
from forum.models import (
    Community,
    InboundMessage,
    InboundStatus,
    Membership,
    MemberStatus,
    Post,
    User,
    UserEmail,
    utcnow,
)
from forum.moderation import notify_held
from forum.posting import AttachmentData, Draft, check_post, community_by_slug, no_community, submit_post
from forum.rate_limits import FACILITATORS, RateLimit, count_against, may_answer, normalize_address
from forum.site import Site
from forum.text import html_within_bounds
from forum.tokens import BadToken
from mailgateway.addresses import (
    SITE_FORMS,
    Form,
    Route,
    parse_local_part,
    post_address,
    read_reply_token,
    reverse_path,
    split_address,
    verp_recipient,
)
from mailgateway.incoming import authenticity, bounces, commands, noreply, postmaster, private_relay
from mailgateway.text import clutter
from mailgateway.text.htmltext import cut_at_text, drop_tracking_pixels, html_to_text
from mailgateway.text.own_links import OwnLinks
from mailgateway.text.parsing import (
    HeaderTooLarge,
    MailHeaders,
    MalformedMail,
    ParsedMail,
    parse_headers,
    parse_message,
)
from mailgateway.text.quoted_addresses import hide_quoted_addresses, hide_quoted_addresses_html
from mailgateway.text.signatures import split_signature
from mailgateway.text.trimming import trim_html, trim_reply

log = logging.getLogger(__name__)

POSTING = (Form.post, Form.reply)
COMMANDS = (Form.subscribe, Form.unsubscribe, Form.request, Form.confirm)


@dataclass(frozen=True)
class Reply:
    """One SMTP/LMTP answer for one recipient."""

    code: int
    text: str

    @property
    def line(self) -> str:
        return f"{self.code} {self.text}"

    @classmethod
    def of(cls, error: ListbridgeError) -> Reply:
        return cls(error.smtp_code, f"{error.smtp_status} {error.message}")


ACCEPTED = Reply(250, "2.0.0 message accepted for delivery")


def check_recipient(session: Session, site: Site, address: str) -> Route:
    """The route of a recipient address, or the error to answer RCPT with."""
    return recipient(session, site, address)[0]


def recipient(session: Session, site: Site, address: str, sender: str | None = None) -> tuple[Route, Community | None]:
    """:func:`check_recipient`, with the community the address belongs to (None for the
    site's own addresses).

    With ``sender`` (the envelope sender, "" for the null reverse path) the answer is the
    one that sender may hear: a private community is, to a sender who is not its active
    member, a community that does not exist, at every address form and whatever the token
    says (same code, same text, and the same one query: the community with the sender's
    standing in it). A token we made (a reply, relay or confirmation address) or a bounce naming a member is the
    credential instead; without ``sender``, after the message was accepted, nothing is
    hidden.
    """
    local, domain = split_address(address)
    if domain != site.mail_domain:
        raise NotFound(f"<{address}> is not an address of {site.mail_domain}; this server does not relay")
    route = parse_local_part(local)
    if route.form in SITE_FORMS:
        return route, None
    if sender is None:
        community, standing = community_by_slug(session, route.slug), None
    else:
        found = session.execute(_WITH_STANDING, {"slug": route.slug, "sender": sender.strip().lower()}).first()
        if found is None:
            raise no_community(route.slug)
        community, standing = found
    if sender is None or not community.is_private:
        _check_detail(session, site, route, community)
        return route, community
    try:
        _check_detail(session, site, route, community)
    except NotFound:
        raise no_community(route.slug) from None
    if not _may_know(session, route, community, standing):
        raise no_community(route.slug)
    return route, community


# A community and the sender's standing in it, in one query whether or not either exists,
# so that a private community and a missing one take the same work to refuse.
_WITH_STANDING = (
    select(Community, Membership.status)
    .outerjoin(Membership, and_(
        Membership.community_id == Community.id,
        Membership.user_id == select(UserEmail.user_id).where(UserEmail.email == bindparam("sender")).scalar_subquery()))
    .where(Community.slug == bindparam("slug"))
)


def _check_detail(session: Session, site: Site, route: Route, community: Community) -> None:
    """NotFound unless the token in the address is one we made for this community."""
    if route.form is Form.reply:
        _reply_target(session, site, route, community)
    elif route.form is Form.confirm:
        subscriptions.pending_request(session, site, route.detail)
    elif route.form is Form.private:
        private_relay.target(session, site, route, community)


def _may_know(session: Session, route: Route, community: Community, standing: MemberStatus | None) -> bool:
    """Whether a sender of this ``standing`` may learn that the private ``community``
    exists at this address."""
    if route.form in (Form.reply, Form.confirm, Form.private):
        return True  # the token, checked already, was made for a member (or for this request)
    if route.form is Form.bounces:
        about = verp_recipient(route.detail)
        return about is not None and membership_by_email(session, about, community) is not None
    return standing is MemberStatus.active


def _reply_target(session: Session, site: Site, route: Route, community: Community | None = None) -> tuple[User, Post]:
    try:
        user_id, post_id = read_reply_token(site.signer, route.detail)
    except BadToken:
        raise NotFound(f"the reply address {route.slug}+{route.detail} is not one we issued") from None
    user, post = session.get(User, user_id), session.get(Post, post_id)
    community = community or community_by_slug(session, route.slug)
    if user is None or post is None or post.community_id != community.id:
        raise NotFound("the message this replies to, or its recipient, no longer exists")
    days = site.settings.smtp_in.reply_token_days
    if post.created_at < utcnow() - timedelta(days=days):
        raise NotPermitted(
            f"this reply address has expired (reply addresses work for {days} days after the message they "
            f"answer); to take part, write to {post_address(community.slug, site.mail_domain)} or reply on the "
            f"web at {site.url(f'/c/{community.slug}/')}")
    return user, post


def _token_author(session: Session, user: User, sent_from: str) -> str:
    """Whom a reply to a member's reply address is shown as: the member, by their main
    address, whichever of their addresses it came from. Whether it may be published as
    theirs at once is :func:`authorship`'s question."""
    primary = session.scalar(
        select(UserEmail.email).where(UserEmail.user_id == user.id, UserEmail.is_primary.is_(True))
    )
    return primary or sent_from


@dataclass(frozen=True)
class Envelope:
    """A message as received: its bytes and what the transport said about it."""

    raw: bytes
    mail_from: str
    client_ip: str | None = None  # the SMTP client (for SPF); None behind a relay or from IMAP


def judge(session: Session, site: Site, raw: bytes, mail_from: str, rcpts: list[str],
          client_ip: str | None = None, known: Mapping[str, tuple[Route, Community | None]] | None = None
          ) -> list[Reply]:
    """The answer for each recipient, before anything is stored (no writes).

    The sender's connection waits for this, so it reads the header block only: who sends,
    to which address, under which rules (about 0.1 ms, where the full parse and reply
    trimming take several). What needs the body (is there any new text?) is found by
    :func:`process`, which tells the sender by mail. ``known`` has the recipients found at
    RCPT in this same SMTP transaction (:func:`recipient`), not looked up again.
    """
    try:
        headers = parse_headers(raw)
    except HeaderTooLarge as exc:
        return [Reply.of(TooLarge(str(exc)))] * len(rcpts)
    except MalformedMail as exc:
        return [Reply.of(MalformedMessage(str(exc)))] * len(rcpts)
    envelope = Envelope(raw, reverse_path(mail_from), client_ip)
    return [_judge_one(session, site, headers, envelope, rcpt, (known or {}).get(rcpt)) for rcpt in rcpts]


def _judge_one(session: Session, site: Site, headers: MailHeaders, envelope: Envelope, rcpt: str,
               known: tuple[Route, Community | None] | None) -> Reply:
    try:
        route, community = known or recipient(session, site, rcpt, envelope.mail_from)
        if _drop_reason(site, headers, envelope.mail_from, route):
            return ACCEPTED
        if route.form is Form.private and community is not None:
            private_relay.check(session, site, route, community, headers.from_addr or "")
            if authorship(session, site, headers, Route(Form.post, route.slug), envelope, community).hold:
                raise NotPermitted("a private message is passed on only when its sender's domain shows it sent it "
                                   "(DKIM, SPF or DMARC)")
        if route.form not in POSTING or community is None:
            return ACCEPTED
        author = headers.from_addr or ""
        if route.form is Form.reply:
            author = _token_author(session, _reply_target(session, site, route, community)[0], author)
        verdict = check_post(session, community, author)
        verdict.raise_if_refused()
        if verdict.action is Action.hold:
            return Reply(250, f"2.6.0 held for moderation: {verdict.reason}")
        judged = authorship(session, site, headers, route, envelope, community)
        if judged.author_confirms:
            return Reply(250, "2.6.0 held until the member it names as author confirms it (we mail them a link), "
                              f"or a moderator approves it: {judged.hold}")
        if judged.hold:
            return Reply(250, f"2.6.0 held for moderation: {judged.hold}")
        return ACCEPTED
    except ListbridgeError as exc:
        return Reply.of(exc)


@dataclass(frozen=True)
class Authorship:
    """What the gateway can tell of who wrote a message, and what follows for its post."""

    hold: str = ""  # why it must wait before it is published ("" if it need not)
    author_confirms: bool = False  # the member it names may publish it ("yes, I sent this")
    answerable: bool = True  # its sender may be mailed: its From does not fail SPF/DMARC


def authorship(session: Session, site: Site, headers: MailHeaders, route: Route, envelope: Envelope,
               community: Community | None = None) -> Authorship:
    """Whether a post the community's rules accept may be published as its author's at once.

    The From line proves nothing by itself. A new post is held when its From domain's
    DMARC policy says the message is forged; and where the community requires
    authentication (:func:`forum.confirmations.authentication_required`), also when nothing
    (aligned DKIM, SPF, a trusted upstream) shows that domain sent it: then a member named
    as author may confirm it, and anyone else waits for a moderator. A reply to a member's
    reply address from one of the member's own (proven) addresses is theirs, as the token
    proves; from any other address, ``[smtp_in] token_reply_from_other`` decides.
    """
    community = community or community_by_slug(session, route.slug)
    author = headers.from_addr or ""
    finding = authenticity.check(envelope.raw, envelope.mail_from, envelope.client_ip, site.settings.smtp_in, author)
    log.debug("authenticity %s for %s: %s", finding.result, headers.message_id, finding.reason)
    answerable = not finding.failed
    if route.form is Form.reply:
        user, _post = _reply_target(session, site, route, community)
        sender = author.lower()
        policy = site.settings.smtp_in.token_reply_from_other
        if policy == "accept" or sender in {e.email for e in user.emails}:
            return Authorship(answerable=answerable)
        if policy == "refuse":
            raise NotPermitted(f"replies to this address are accepted only from the member it was sent to, not {sender}")
        return Authorship(f"sent from {sender}, which is not an address of the member this reply address belongs to",
                          author_confirms=True, answerable=answerable)
    if finding.holds:
        return Authorship(f"the sender's domain could not be verified ({finding.reason})", answerable=False)
    if finding.authenticated or not confirmations.authentication_required(site.settings, community):
        return Authorship(answerable=answerable)
    membership = membership_by_email(session, author, community) if author else None
    return Authorship(f"nothing shows that {author or 'its sender'} sent it ({finding.reason})",
                      author_confirms=membership is not None and membership.status is MemberStatus.active,
                      answerable=answerable)


def _drop_reason(site: Site, headers: MailHeaders, mail_from: str, route: Route) -> str | None:
    """Why this message must never become a post (auto-replies, bounces, our own mail)."""
    if route.form is Form.bounces:
        return None
    if headers.auto_reason:
        return headers.auto_reason
    if not reverse_path(mail_from):
        return "empty envelope sender (a bounce or an automatic notice)"
    if headers.list_id and headers.list_id.endswith("." + site.mail_domain):
        return f"our own mail came back (List-Id {headers.list_id})"
    return None


def build_draft(session: Session, site: Site, parsed: ParsedMail, route: Route, inbound_id: int | None = None) -> Draft:
    """The draft a parsed message makes for one post or reply address."""
    parent_id = None
    author_email = parsed.from_addr or ""
    author_name = parsed.from_name
    if route.form is Form.reply:
        user, post = _reply_target(session, site, route)
        parent_id = post.id
        author_email = _token_author(session, user, author_email)
        author_name = author_name or user.display_name
    parsed = tidied(site, parsed)
    html = trim_html(parsed.html) if parsed.html and html_within_bounds(parsed.html) else None
    # HTML-only mail is trimmed on its HTML first: quote containers and signatures are
    # marked up there (gmail_quote, divRplyFwdMsg…) and lost in the plain-text rendering.
    trimmed = trim_reply(html_to_text(html) if html is not None and parsed.text_from_html else parsed.text)
    split = split_signature(trimmed.body)
    body = split.body
    signature = "\n\n".join(part for part in (split.signature, trimmed.signature) if part)
    if signature and html is not None:
        # The HTML shown loses the signature too. A signature found in the text that
        # cannot be found in the HTML leaves the post to be shown from its text; a "-- "
        # one may simply not be there (Gmail marks it up, and it was removed with quotes).
        kept = body.rstrip().rsplit("\n", 1)[-1]
        cut = cut_at_text(html, signature.split("\n", 1)[0], kept)
        html = cut if cut is not None or not split.signature else None
    # Quoted header blocks and attributions, after trimming: it reads their addresses.
    html = hide_quoted_addresses_html(html) if html is not None else None
    references = tuple(dict.fromkeys((*parsed.references, *parsed.in_reply_to)))
    return Draft(
        community=route.slug,
        author_email=author_email,
        author_name=author_name,
        subject=parsed.subject,
        body=hide_quoted_addresses(body),
        quoted=hide_quoted_addresses(trimmed.quoted),
        signature=signature,
        html=html,
        parent_id=parent_id,
        references=references,
        thread_index=parsed.thread_index,
        message_id=parsed.message_id,
        source="email",
        attachments=tuple(
            AttachmentData(a.filename, a.content_type, a.data, a.inline, a.content_id) for a in parsed.attachments
        ),
        inbound_id=inbound_id,
    )


def tidied(site: Site, parsed: ParsedMail) -> ParsedMail:
    """``parsed`` as it may be shown and sent on: without what mail filters added
    (:mod:`mailgateway.text.clutter`), without our own footers and personal tokens quoted back
    (:mod:`mailgateway.text.own_links`) and without tracking pixels. HTML past the bounds of
    :func:`forum.text.html_within_bounds` is left alone: it is never shown (the post shows
    its text), and parsing it is what the bounds avoid. The raw message, kept for the
    facilitators, is not changed."""
    own = OwnLinks.of(site)
    html = parsed.html
    if html and html_within_bounds(html):  # HTML past the bounds is never shown: its text is
        html = drop_tracking_pixels(own.clean_html(clutter.clean_html(html)))
    # A copy forwarded "as attachment" is published with the post: it is cleaned too.
    attachments = tuple(replace(a, data=own.clean_message(a.data)) if a.content_type == "message/rfc822" else a
                        for a in parsed.attachments)
    return replace(parsed, subject=clutter.clean_subject(parsed.subject),
                   text=own.clean_text(clutter.clean_text(parsed.text)), html=html, attachments=attachments)


def spool(session: Session, raw: bytes, mail_from: str, rcpts: list[str], channel: str, *,
          client_ip: str | None = None, source_ref: str | None = None, refused: Sequence[str] = ()) -> int:
    """Store a message exactly as received; its id is what :func:`process` takes.

    ``source_ref`` names where it was fetched from (unique: never stored twice). A message
    no recipient accepted (``refused`` says why) is stored as done, as the record of it.
    """
    values = {"raw": raw, "mail_from": mail_from or "", "rcpt_to": list(rcpts), "channel": channel,
              "client_ip": client_ip, "source_ref": source_ref}
    if not rcpts:
        values.update(status=InboundStatus.done, outcome="\n".join(refused), processed_at=utcnow())
    # A plain INSERT, built once: the gateway stores every message while its sender waits.
    # Through the unit of work, or with the values in the statement (the raw message then
    # part of the statement's cache key), storing cost a fifth of the listener's CPU.
    return session.connection().execute(_SPOOL, values).scalar_one()


_SPOOL = insert(InboundMessage.__table__).returning(InboundMessage.__table__.c.id)


def pending(session: Session) -> list[int]:
    """Spooled messages not processed yet (after a crash or a stop), oldest first."""
    return list(session.scalars(
        select(InboundMessage.id).where(InboundMessage.status == InboundStatus.pending).order_by(InboundMessage.id)
    ))


def shunt(session: Session, inbound_id: int, reason: str) -> None:
    """Set a pending message aside: processing it took too long. It stays as it was sent,
    for :func:`unshunt` once its cause is dealt with."""
    row = session.get(InboundMessage, inbound_id)
    if row is not None and row.status is InboundStatus.pending:
        row.status = InboundStatus.shunted
        row.outcome = reason
        log.warning("inbound message %s shunted: %s", inbound_id, reason)


def shunted(session: Session) -> list[InboundMessage]:
    """The messages set aside, oldest first."""
    return list(session.scalars(
        select(InboundMessage).where(InboundMessage.status == InboundStatus.shunted).order_by(InboundMessage.id)
    ))


def unshunt(session: Session, inbound_id: int) -> None:
    """Put a message set aside back in the queue, to be processed again."""
    row = session.get(InboundMessage, inbound_id)
    if row is None or row.status is not InboundStatus.shunted:
        raise NotFound(f"no message {inbound_id} is set aside (see listbridge shunt list)")
    row.status = InboundStatus.pending
    row.outcome = ""


@dataclass(frozen=True)
class Prepared:
    """A spooled message read, and its posts drafted, before the transaction that stores
    them: parsing, reply trimming, HTML sanitising and the DMARC lookups take ten times as
    long as storing, and on SQLite every other writer (the gateway spooling the next
    message) waits while a transaction writes."""

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
    for rcpt, earlier in zip(row.rcpt_to, _repeats(row.rcpt_to)):
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
        outcomes = [_process_one(session, site, prepared.parsed, row, rcpt, prepared.drafts.get(rcpt))
                    if earlier is None else f"{rcpt}: repeats {earlier}, done once"
                    for rcpt, earlier in zip(row.rcpt_to, _repeats(row.rcpt_to))]
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


def _posting_draft(session: Session, site: Site, parsed: ParsedMail, row: InboundMessage,
                   rcpt: str) -> tuple[Draft, Authorship] | None:
    """The post a recipient address makes of a message (None: it makes none), and what is
    known of its author."""
    route = check_recipient(session, site, rcpt)
    if route.form not in POSTING or _drop_reason(site, parsed, row.mail_from, route):
        return None
    return _draft(session, site, parsed, row, route)


def _draft(session: Session, site: Site, parsed: ParsedMail, row: InboundMessage,
           route: Route) -> tuple[Draft, Authorship]:
    judged = authorship(session, site, parsed, route, Envelope(row.raw, row.mail_from, row.client_ip))
    return replace(build_draft(session, site, parsed, route, row.id), hold_reason=judged.hold), judged


def _thread_reply_draft(session: Session, site: Site, parsed: ParsedMail, row: InboundMessage,
                        target: noreply.ThreadReply) -> tuple[Draft, Authorship]:
    """A reply to a digest that names one thread, as a reply in it. Its From is all that
    says who wrote it, so the rules of a new post apply (authentication included)."""
    draft, judged = _draft(session, site, parsed, row, Route(Form.post, target.slug))
    return replace(draft, parent_id=target.parent_id or None, subject=target.subject, references=(),
                   thread_index=None), judged


def _process_one(session: Session, site: Site, parsed: ParsedMail, row: InboundMessage, rcpt: str,
                 prepared: tuple[Draft, Authorship] | None) -> str:
    fields = {"message_id": parsed.message_id, "recipient": rcpt, "sender": parsed.from_addr}
    route = None
    try:
        route, community = recipient(session, site, rcpt)
        notification = not reverse_path(row.mail_from) and route.form is not Form.bounces
        reason = None if notification else _drop_reason(site, parsed, row.mail_from, route)
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
                return f"{rcpt}: " + commands.handle(session, site, route, parsed, row.id,
                                                     answerable=_answerable(site, parsed, row))
            if route.form in (Form.private, Form.noreply) and not _answerable(site, parsed, row):
                raise Dropped("its From fails SPF/DMARC: it is passed on and answered only from its real writer")
            if route.form is Form.private and community is not None:
                return f"{rcpt}: " + private_relay.relay(session, site, route, community, parsed, row.id)
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
        told = route is not None and route.form in POSTING and _tell_refused(session, site, parsed, row, route.slug, exc)
        return f"{rcpt}: {type(exc).__name__}: {exc.message}" + ("; the sender was told" if told else "")
    post = outcome.post
    fields.update(post_id=post.id, community=route.slug)
    if outcome.duplicate:
        log.info("inbound duplicate of post %s", post.id, extra=fields)
        return f"{rcpt}: duplicate of post {post.id}"
    if outcome.held:
        asked = judged.author_confirms and outcome.reason == judged.hold and \
            confirmations.ask_author(session, site, post, row.mail_from or parsed.from_addr or "")
        if not asked:
            notify_held(session, site, post, tell_author=judged.answerable and not judged.author_confirms)
        log.info("inbound held: %s", outcome.reason, extra=fields)
        return f"{rcpt}: held as post {post.id}: {outcome.reason}" + ("; the author was asked to confirm it" if asked else "")
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
            user, _post = _reply_target(session, site, route, community)
        except NotFound:
            user = None
        about = next((e.email for e in user.emails if e.is_primary), None) if user is not None else None
    if community is None:
        log.info("dropped: mail with the null reverse path to %s@", route.slug)
        return "null reverse path (a notification): dropped"
    return "null reverse path (a notification): " + bounces.count_bounce(session, site, community, raw, about)


def _answerable(site: Site, parsed: ParsedMail, row: InboundMessage) -> bool:
    """May the sender of this message be mailed? Not when its From fails SPF/DMARC: the
    answer would go to someone who never wrote."""
    return not authenticity.check(row.raw, row.mail_from, row.client_ip, site.settings.smtp_in,
                                  parsed.from_addr or "").failed


def _tell_refused(session: Session, site: Site, parsed: ParsedMail, row: InboundMessage, slug: str,
                  error: ListbridgeError) -> bool:
    """Mail the author why a post accepted at DATA was not posted after all (no new text,
    or the rules changed in between): the SMTP reply cannot say it any more.

    At most one notice per message, none to a From that fails SPF/DMARC, and only within
    :func:`forum.rate_limits.may_answer`'s limits: a forged From must not make us mail
    its owner again and again.
    """
    author = (parsed.from_addr or "").lower()
    if not author or not _answerable(site, parsed, row):
        return False
    community = community_by_slug(session, slug)
    if not may_answer(session, site, author, community_id=community.id):
        return False
    user = user_by_email(session, author)
    subject = parsed.subject or "(no subject)"
    return outbox.enqueue_notice(
        session, dedupe_key=f"refused:{row.id}:{slug}", address=author,
        user_id=user.id if user is not None else None,
        payload={
            "slug": slug,
            "subject": f"Not posted: {subject}",
            "text": f'Your message "{subject}" to {slug} was not posted.\n\nWhy: {error.message}\n',
            "in_reply_to": parsed.message_id or "",
        },
    )


def forward_to_owners(session: Session, site: Site, slug: str, parsed: ParsedMail, row: InboundMessage) -> str:
    """Pass a message for SLUG-owner@ on to the community's facilitators and moderators.

    Under the rules posts keep (the gateway already dropped automatic mail, and the size
    limit held at DATA): nothing whose From fails SPF/DMARC, at most ``[smtp_in]
    owner_mail_per_sender_per_hour`` messages from one sender, and each facilitator's
    copy counts against :func:`forum.rate_limits.may_answer`."""
    community = community_by_slug(session, slug)
    sender_address = (parsed.from_addr or row.mail_from).lower()
    if not _answerable(site, parsed, row):
        raise Dropped(f"not passed on to the facilitators: the From of {sender_address} fails SPF/DMARC")
    per_sender = RateLimit("owner-sender", site.settings.smtp_in.owner_mail_per_sender_per_hour, timedelta(hours=1))
    try:
        count_against(session, site, [(per_sender, normalize_address(sender_address))])
    except RateLimited:
        raise Dropped(f"not passed on to the facilitators: {sender_address} has written to them too often "
                      "in the last hour") from None
    sender = f"{parsed.from_name} <{parsed.from_addr}>" if parsed.from_name else (parsed.from_addr or "unknown")
    passed = 0
    for email, user_id in moderators(session, community):
        if not may_answer(session, site, email, purpose=FACILITATORS, community_id=community.id):
            continue
        passed += outbox.enqueue_notice(
            session, dedupe_key=f"owner:{row.id}:{user_id}", address=email, user_id=user_id,
            payload={
                "slug": slug,
                "subject": f"[{community.name} owners] {parsed.subject or '(no subject)'}",
                "text": f"{sender} wrote to {slug}-owner@{site.mail_domain}:\n\n{parsed.text}",
                "reply_to": parsed.from_addr or "",
            },
        )
    return f"forwarded to {passed} facilitator(s)"
