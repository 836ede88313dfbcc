"""The answer at DATA, for each recipient, while the sender waits: the gateway's second step.

Only the header block is read: who sends, to which address, under which rules. So a
non-member hears "550 5.7.1" from us instead of a bounce later, mail that must never be
posted (automatic replies, bounces, our own mail come back) is taken and dropped, and a
From that nothing vouches for hears that its post is held (:func:`authorship`). What
only the body can tell is left to :mod:`.processing`, which tells the sender by mail.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.orm import Session

from forum import confirmations
from forum.access import Action, membership_by_email
from forum.errors import ListbridgeError, MalformedMessage, NotPermitted, TooLarge
from forum.models import Community, InboundMessage, MemberStatus
from forum.posting import check_post, community_by_slug
from forum.site import Site
from mailgateway.addresses import Form, Route, reverse_path
from mailgateway.incoming import authenticity, decisions, moderating, private_relay
from mailgateway.incoming.recipients import recipient, reply_target, token_author
from mailgateway.text.parsing import HeaderTooLarge, MailHeaders, MalformedMail, ParsedMail, parse_headers

log = logging.getLogger(__name__)

POSTING = (Form.post, Form.reply)


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


@dataclass(frozen=True)
class Envelope:
    """A message as received: its bytes and what the transport said about it."""

    raw: bytes
    mail_from: str
    client_ip: str | None = None  # the SMTP client (for SPF); None behind a relay or from IMAP


def judge(
    session: Session,
    site: Site,
    raw: bytes,
    mail_from: str,
    rcpts: list[str],
    client_ip: str | None = None,
    known: Mapping[str, tuple[Route, Community | None]] | None = None,
) -> list[Reply]:
    """The answer for each recipient, before anything is stored (no writes).

    The sender's connection waits for this, so it reads the header block only: who sends,
    to which address, under which rules (a small part of what the full parse and reply
    trimming take). What needs the body (is there any new text?) is found by
    :func:`.processing.process`, which tells the sender by mail. ``known`` has the
    recipients found at RCPT in this same SMTP transaction (:func:`.recipients.recipient`),
    not looked up again.
    """
    try:
        headers = parse_headers(raw)
    except HeaderTooLarge as exc:
        return [Reply.of(TooLarge(str(exc)))] * len(rcpts)
    except MalformedMail as exc:
        return [Reply.of(MalformedMessage(str(exc)))] * len(rcpts)
    envelope = Envelope(raw, reverse_path(mail_from), client_ip)
    return [_judge_one(session, site, headers, envelope, rcpt, (known or {}).get(rcpt)) for rcpt in rcpts]


def _judge_one(
    session: Session,
    site: Site,
    headers: MailHeaders,
    envelope: Envelope,
    rcpt: str,
    known: tuple[Route, Community | None] | None,
) -> Reply:
    try:
        route, community = known or recipient(session, site, rcpt, envelope.mail_from)
        if drop_reason(site, headers, envelope.mail_from, route):
            return ACCEPTED
        if route.form is Form.private and community is not None:
            private_relay.check(session, site, route, community, headers.from_addr or "")
            if authorship(session, site, headers, Route(Form.post, route.slug), envelope, community).hold:
                raise NotPermitted(
                    "a private message is passed on only when its sender's domain shows it sent it (DKIM, SPF or DMARC)"
                )
        if route.form is Form.decide and community is not None:
            decisions.check(
                session,
                site,
                route,
                community,
                headers.from_addr or "",
                envelope.raw,
                envelope.mail_from,
                envelope.client_ip,
            )
        if route.form is Form.moderate and community is not None:
            moderating.check(session, site, route, community, headers.from_addr or "")
            if authorship(session, site, headers, Route(Form.post, route.slug), envelope, community).hold:
                raise NotPermitted(
                    "a decision on a held post is taken only when the moderator's domain shows it sent it "
                    "(DKIM, SPF or DMARC)"
                )
        if route.form not in POSTING or community is None:
            return ACCEPTED
        author = headers.from_addr or ""
        if route.form is Form.reply:
            author = token_author(session, reply_target(session, site, route, community)[0], author)
        verdict = check_post(session, community, author, site)
        verdict.raise_if_refused()
        if verdict.action is Action.hold:
            return Reply(250, f"2.6.0 held for moderation: {verdict.reason}")
        judged = authorship(session, site, headers, route, envelope, community)
        if judged.author_confirms:
            return Reply(
                250,
                "2.6.0 held until the member it names as author confirms it (we mail them a link), "
                f"or a moderator approves it: {judged.hold}",
            )
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


def authorship(
    session: Session,
    site: Site,
    headers: MailHeaders,
    route: Route,
    envelope: Envelope,
    community: Community | None = None,
) -> Authorship:
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
        user, _post = reply_target(session, site, route, community)
        sender = author.lower()
        policy = site.settings.smtp_in.token_reply_from_other
        if policy == "accept" or sender in {e.email for e in user.emails}:
            return Authorship(answerable=answerable)
        if policy == "refuse":
            raise NotPermitted(
                f"replies to this address are accepted only from the member it was sent to, not {sender}"
            )
        return Authorship(
            f"sent from {sender}, which is not an address of the member this reply address belongs to",
            author_confirms=True,
            answerable=answerable,
        )
    if finding.holds:
        return Authorship(f"the sender's domain could not be verified ({finding.reason})", answerable=False)
    if finding.authenticated or not confirmations.authentication_required(site.settings, community):
        return Authorship(answerable=answerable)
    membership = membership_by_email(session, author, community) if author else None
    return Authorship(
        f"nothing shows that {author or 'its sender'} sent it ({finding.reason})",
        author_confirms=membership is not None and membership.status is MemberStatus.active,
        answerable=answerable,
    )


def drop_reason(site: Site, headers: MailHeaders, mail_from: str, route: Route) -> str | None:
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


def answerable(site: Site, parsed: ParsedMail, row: InboundMessage) -> bool:
    """May the sender of this message be mailed? Not when its From fails SPF/DMARC: the
    answer would go to someone who never wrote."""
    return not authenticity.check(
        row.raw, row.mail_from, row.client_ip, site.settings.smtp_in, parsed.from_addr or ""
    ).failed
