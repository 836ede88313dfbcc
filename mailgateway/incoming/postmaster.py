"""Mail for the site's operators: ``postmaster@`` (which every mail domain must accept,
RFC 5321 §4.5.1) and ``abuse@`` (RFC 2142), passed on to ``[site] operators``."""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from forum import outbox
from forum.site import Site
from mailgateway.addresses import Route
from mailgateway.text.parsing import ParsedMail

log = logging.getLogger(__name__)


def forward(session: Session, site: Site, route: Route, parsed: ParsedMail, inbound_id: int) -> str:
    """Pass the message on to every operator; the outcome, for the spool row and the log.
    With no operator configured it stays in the database only, and the log says so."""
    operators = site.settings.site.operators
    address = f"{route.slug}@{site.mail_domain}"
    if not operators:
        log.warning("mail to %s kept, not forwarded: no [site] operators configured", address)
        return "kept: no [site] operators configured"
    sender = f"{parsed.from_name} <{parsed.from_addr}>" if parsed.from_name else (parsed.from_addr or "unknown")
    for operator in operators:
        outbox.enqueue_notice(
            session,
            dedupe_key=f"postmaster:{inbound_id}:{operator.lower()}",
            address=operator,
            payload={
                "subject": f"[{address}] {parsed.subject or '(no subject)'}",
                "text": f"{sender} wrote to {address}:\n\n{parsed.text}",
                "reply_to": parsed.from_addr or "",
            },
        )
    return f"forwarded to {len(operators)} operator(s)"
