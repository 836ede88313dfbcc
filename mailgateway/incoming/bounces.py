"""Reading bounces: what failed, for whom, and whether the address itself is bad.

Every copy goes out with a VERP envelope sender (``housing-bounces+alice=council.example@``),
so a bounce names the member it is about by the address it comes back to, whatever the
report inside says; the report still tells a failure from a delay warning or an
out-of-office reply, and a hard failure (no such mailbox: stop soon) from a soft one
(mailbox full, refused as spam: give it time).

Formats read:

* **RFC 3464 delivery status notifications** (``multipart/report``): Postfix, Exim 4,
  Sendmail, Gmail, Microsoft 365 and Exchange all send these; the ``Action`` and
  ``Status`` of each recipient decide.
* **Plain-text bounces** that predate DSNs or ignore them: qmail's QSBMF, old Exim and
  Sendmail texts, ``X-Failed-Recipients``. Here the text above the returned message is
  searched for an enhanced status code, an SMTP reply code and the usual phrases.

Bounces are never posted: the gateway routes them here and only here.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from email.message import Message
from email.parser import BytesParser, HeaderParser
from email.policy import compat32
from email.utils import getaddresses

from sqlalchemy.orm import Session

from forum.access import membership_of, user_by_email
from forum.bounces import record_bounce
from forum.models import Community
from forum.posting import community_by_slug
from forum.site import Site
from mailgateway.addresses import Route, verp_recipient

log = logging.getLogger(__name__)

_STATUS = re.compile(r"\b([45])\.(\d{1,3})\.(\d{1,3})\b")
_SMTP_REPLY = re.compile(r"\b([45])\d\d[ -]")
# The address itself is bad: wording of Postfix, Exim, Sendmail, qmail, Gmail, Exchange and
# Microsoft 365 ("Access denied. AS(201806281)" is its unknown-recipient refusal).
_ADDRESS_GONE = re.compile(
    r"user unknown|unknown user|no such (?:user|mailbox|recipient|address|account)|does(?: not|n't) exist"
    r"|recipient not found|recipientnotfound|unknown recipient|invalid recipient|recipient address rejected"
    r"|mailbox (?:unavailable|not found|is disabled|disabled)|no mailbox|account (?:is )?(?:disabled|inactive|closed)"
    r"|address not found|couldn't be found|not a valid mailbox|unrouteable address|user not found"
    r"|no longer (?:active|available|exists)|as\(201806281\)",
    re.IGNORECASE,
)
_ADDRESS_STATUS = ("5.1.", "5.2.1")  # bad destination address; mailbox disabled
_DELAY = re.compile(
    r"\bdelay(?:ed)?\b|still (?:not been delivered|undelivered)|will (?:be )?retr(?:y|ied)"
    r"|not yet been delivered|could not send message for past",
    re.IGNORECASE,
)
_FAILED = re.compile(
    r"could not be delivered|couldn't be delivered|undeliverable|undelivered mail|delivery (?:has )?failed"
    r"|returned mail|failure notice|permanent (?:fatal )?error|wasn't able to deliver|was not delivered"
    r"|delivery status notification \(failure\)|mail delivery failed|address not found",
    re.IGNORECASE,
)
_TEMPORARY = re.compile(
    r"temporary (?:failure|error|problem)|this is a temporary|try again later|over quota"
    r"|quota exceeded|mailbox (?:is )?full|insufficient (?:storage|system storage)",
    re.IGNORECASE,
)
# Where a plain-text bounce starts quoting the message it returns: the report is above.
_RETURNED = re.compile(
    r"^[-\s]*(?:this is a copy of|below this line is a copy|original message|"
    r"message header follows|unsent message below|undelivered message)",
    re.IGNORECASE | re.MULTILINE,
)
_ADDRESS_LINE = re.compile(r"^\s*<?([^\s<>@]+@[^\s<>@:]+?)>?:?\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Failure:
    recipient: str  # as the report names it; "" when it names none
    status: str  # enhanced status code (5.1.1), "" when none was given
    diagnostic: str  # what the remote server said, on one line
    permanent: bool  # hard: the address itself is bad


@dataclass(frozen=True)
class Report:
    """A delivery report: its failures, or only delays (``failures`` empty)."""

    failures: tuple[Failure, ...]
    kind: str  # "dsn" or "text"

    @property
    def delayed_only(self) -> bool:
        return not self.failures


def read_report(raw: bytes) -> Report | None:
    """What a bounce says; None when the message is no delivery report at all."""
    message = BytesParser(policy=compat32).parsebytes(raw)
    for part in message.walk():
        if part.get_content_type() in ("message/delivery-status", "message/global-delivery-status"):
            return _from_dsn(part)
    return _from_text(message)


# RFC 3464 -----------------------------------------------------------------------------


def _dsn_fields(part: Message) -> list[dict[str, str]]:
    """The status groups of a delivery-status part, as lowercased field dicts."""
    payload = part.get_payload()
    if isinstance(payload, list):
        groups = [
            {k.lower(): " ".join(str(v).split()) for k, v in p.items()} for p in payload if isinstance(p, Message)
        ]
    else:
        blocks = re.split(r"\r?\n\s*\r?\n", _decoded(part).decode("utf-8", "replace"))
        groups = [
            {k.lower(): " ".join(v.split()) for k, v in HeaderParser().parsestr(b.strip()).items()}
            for b in blocks
            if b.strip()
        ]
    return [g for g in groups if "action" in g or "final-recipient" in g]


def _decoded(part: Message) -> bytes:
    """A leaf part's body, its transfer encoding undone."""
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


def _from_dsn(part: Message) -> Report:
    failures = []
    for fields in _dsn_fields(part):
        action = fields.get("action", "failed").lower()
        if action != "failed":
            continue  # delayed, delivered, relayed, expanded: nothing failed
        status_match = _STATUS.search(fields.get("status", ""))
        status = ".".join(status_match.groups()) if status_match else ""
        diagnostic = fields.get("diagnostic-code", "").partition(";")[2].strip() or fields.get("status", "")
        recipient = (fields.get("final-recipient") or fields.get("original-recipient") or "").partition(";")[2]
        failures.append(
            Failure(
                recipient.strip().strip("<>").lower(),
                status,
                diagnostic,
                _permanent(status or _status_in(diagnostic), diagnostic),
            )
        )
    return Report(tuple(failures), "dsn")


# Plain text ---------------------------------------------------------------------------


def _from_text(message: Message) -> Report | None:
    text = _report_text(message)
    failed_header = message.get_all("X-Failed-Recipients", [])
    subject = str(message.get("Subject", ""))
    if not failed_header and not _FAILED.search(text) and not _FAILED.search(subject):
        if _DELAY.search(subject) and _STATUS.search(text) is None:
            return Report((), "text")
        return None  # an auto-reply, a human, a newsletter: not a bounce
    if (
        not failed_header
        and (_DELAY.search(subject) or _DELAY.search(text))
        and not re.search(r"permanent|fatal|giving up|gave up|not going to try again", text, re.IGNORECASE)
    ):
        return Report((), "text")
    recipients = [a.lower() for _, a in getaddresses([str(h) for h in failed_header]) if "@" in a]
    recipients += [m.group(1).lower() for m in _ADDRESS_LINE.finditer(text) if m.group(1).lower() not in recipients]
    status = _status_in(text)
    diagnostic = _diagnostic_line(text, status)
    permanent = (
        _permanent(status, diagnostic or text)
        if status
        else (not _TEMPORARY.search(text) and bool(_ADDRESS_GONE.search(text)))
    )
    return Report(tuple(Failure(r, status, diagnostic, permanent) for r in recipients or [""]), "text")


def _report_text(message: Message) -> str:
    """The human-readable report, without the returned message below it."""
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            text = _decoded(part).decode(part.get_content_charset() or "utf-8", "replace")
            cut = _RETURNED.search(text)
            return text[: cut.start()] if cut else text
    return ""


def _status_in(text: str) -> str:
    match = _STATUS.search(text)
    return ".".join(match.groups()) if match else ""


def _diagnostic_line(text: str, status: str) -> str:
    for line in text.splitlines():
        if (status and status in line) or _SMTP_REPLY.search(line + " "):
            return " ".join(line.split())[:500]
    return ""


def _permanent(status: str, diagnostic: str) -> bool:
    """Hard when the address is bad; a full mailbox or a policy refusal is soft, even as 5.x.x."""
    if status.startswith("4"):
        return False
    if status.startswith(_ADDRESS_STATUS):
        return True
    return bool(_ADDRESS_GONE.search(diagnostic)) and not _TEMPORARY.search(diagnostic)


# Counting -----------------------------------------------------------------------------


def process_bounce(session: Session, site: Site, route: Route, raw: bytes) -> str:
    """Count a bounce against the member its VERP address names; the outcome, for the log."""
    return count_bounce(session, site, community_by_slug(session, route.slug), raw, verp_recipient(route.detail))


def count_bounce(session: Session, site: Site, community: Community, raw: bytes, about: str | None) -> str:
    """Count a bounce against member ``about`` (whom it is known to be about), or else the
    members its report names; the outcome, for the log. Anything that is no report is
    ignored, with a log line."""
    report = read_report(raw)
    if report is None:
        log.info("not a delivery report (an auto-reply?) for %s: ignored", community.slug)
        return "not a delivery report (an auto-reply?): ignored"
    if report.delayed_only:
        return "a delay warning: nothing counted"
    addresses = [about.lower()] if about else list(dict.fromkeys(f.recipient for f in report.failures if f.recipient))
    outcomes = []
    for address in addresses:
        # The report may name another address than ours (a forwarder's final mailbox):
        # the VERP address is who we sent to, so its failures are all about that member.
        named = [f for f in report.failures if f.recipient == address] or list(report.failures)
        worst = next((f for f in named if f.permanent), named[0])
        membership = membership_of(session, user_by_email(session, address), community)
        if membership is None:
            outcomes.append(f"{address}: not a member (any more)")
            continue
        reason = " ".join(filter(None, (worst.status, worst.diagnostic))) or "no reason given"
        counted = record_bounce(session, site, membership, permanent=worst.permanent, reason=reason)
        log.info(
            "bounce for %s in %s (%s, %s): %s",
            address,
            community.slug,
            "hard" if worst.permanent else "soft",
            reason,
            counted,
        )
        outcomes.append(f"{address}: {'hard' if worst.permanent else 'soft'} bounce ({reason}); {counted}")
    return "; ".join(outcomes) or "a bounce naming no recipient: nothing counted"
