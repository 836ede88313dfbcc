"""A facilitator's reply to a request to join: ``SLUG-decide+TOKEN@``.

The notice of a request (:mod:`forum.join_requests`) is mailed to each facilitator with a
Reply-To whose token names the request and that facilitator. Replying ``approve`` or
``decline`` (``cymeradwyo``, ``gwrthod``) as the first word decides it; what follows is
passed on to the requester. The token alone is not enough, since a copy of the notice may
be forwarded: the reply must come from one of that facilitator's own addresses, and its
From must stand the trust rules' test (:mod:`.authenticity`): a From its domain's DMARC
or SPF calls forged is refused at DATA, and where the community requires authentication
(:func:`forum.confirmations.authentication_required`) a reply nothing vouches for decides
nothing; the facilitator is told to use the web page instead.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from forum import join_requests, outbox
from forum.confirmations import authentication_required
from forum.errors import ListbridgeError, NotFound, NotPermitted
from forum.mail_language import translations_for
from forum.models import Community, InboundMessage, JoinRequest, User
from forum.rate_limits import may_answer
from forum.site import Site
from forum.tokens import BadToken
from mailgateway.addresses import Route
from mailgateway.incoming import authenticity
from mailgateway.text.parsing import ParsedMail
from mailgateway.text.trimming import trim_reply

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Target:
    request: JoinRequest
    facilitator: User
    finding: authenticity.Finding | None = None  # what the trust rules found of the reply's From


def target(session: Session, site: Site, route: Route, community: Community) -> Target:
    """The request and facilitator a decision address names; NotFound unless we made it."""
    try:
        request_id, facilitator_id = join_requests.read_decision_token(site, route.detail)
    except BadToken:
        raise NotFound(f"the address {route.slug}-decide+{route.detail} is not one we issued") from None
    request, facilitator = session.get(JoinRequest, request_id), session.get(User, facilitator_id)
    if request is None or facilitator is None or request.community_id != community.id:
        raise NotFound("the request this answers no longer exists")
    return Target(request, facilitator)


def check(
    session: Session,
    site: Site,
    route: Route,
    community: Community,
    sender: str,
    raw: bytes,
    mail_from: str,
    client_ip: str | None,
) -> Target:
    """The reply's target, if its From is the facilitator's and not forged; NotPermitted otherwise."""
    found = target(session, site, route, community)
    if sender.lower() not in {e.email for e in found.facilitator.emails}:
        raise NotPermitted("a decision on a request to join is accepted only from the facilitator it was sent to")
    finding = authenticity.check(raw, mail_from, client_ip, site.settings.smtp_in, sender)
    if finding.failed:
        raise NotPermitted("the sender's domain says this message is not from it (DMARC/SPF): nothing was decided")
    return Target(found.request, found.facilitator, finding)


def handle(
    session: Session, site: Site, route: Route, community: Community, parsed: ParsedMail, row: InboundMessage
) -> str:
    """Decide the request as the reply says; the outcome, for the spool row and the log."""
    sender = (parsed.from_addr or "").lower()
    try:
        found = check(session, site, route, community, sender, row.raw, row.mail_from, row.client_ip)
    except ListbridgeError as exc:
        return f"decision from {sender} refused: {exc.message}"
    facilitator, request, finding = found.facilitator, found.request, found.finding
    assert finding is not None
    _ = translations_for(session, facilitator.id, community.language).gettext
    values = {"url": site.url(f"/c/{community.slug}/manage/requests"), "name": community.name}
    if not finding.authenticated and authentication_required(site.settings, community):
        _answer(
            session,
            site,
            community,
            sender,
            parsed,
            row,
            _(
                "We could not check that your reply about a request to join %(name)s came from you, so "
                "nothing was decided. Please decide on the web: %(url)s"
            )
            % values,
            _,
        )
        return f"decision from {sender}: not authenticated ({finding.reason}); nothing decided"
    new_text = trim_reply(parsed.text).body
    approve = join_requests.reply_word(new_text)
    if approve is None:
        _answer(
            session,
            site,
            community,
            sender,
            parsed,
            row,
            _("Start your reply with approve or decline (cymeradwyo or gwrthod), or decide on the web: %(url)s")
            % values,
            _,
        )
        return f"decision from {sender}: neither approve nor decline; nothing decided"
    try:
        join_requests.decide(
            session, site, request, facilitator, approve=approve, message=join_requests.reply_message(new_text)
        )
    except ListbridgeError as exc:
        _answer(session, site, community, sender, parsed, row, f"{exc.message[:1].upper()}{exc.message[1:]}.", _)
        return f"decision from {sender}: {exc.message}"
    verdict = "approved" if approve else "declined"
    log.info("join request %s %s by reply", request.id, verdict, extra={"community": community.slug})
    return f"join request {request.id} {verdict} by {sender}"


def _answer(
    session: Session,
    site: Site,
    community: Community,
    sender: str,
    parsed: ParsedMail,
    row: InboundMessage,
    text: str,
    _: Callable[[str], str],
) -> None:
    """Tell the facilitator why their reply decided nothing (``_``: in their language)."""
    if not may_answer(session, site, sender, community_id=community.id):
        return
    outbox.enqueue_notice(
        session,
        dedupe_key=f"decision:{row.id}",
        address=sender,
        payload={
            "slug": community.slug,
            "subject": _("%(name)s: your reply about a request to join") % {"name": community.name},
            "text": text + "\n",
            "in_reply_to": parsed.message_id or "",
        },
    )
