"""The addresses of the list domain, both ways: building them for outgoing mail and
reading the local part of an incoming recipient.

    SLUG@            post (a new thread, or a reply found by its headers)
    SLUG+TOKEN@      reply by email; the token names the member and the post replied to
    SLUG-owner@      the community's facilitators
    SLUG-bounces+V@  envelope sender of outgoing mail (VERP: V encodes the recipient)
    SLUG-subscribe@, -unsubscribe@, -request@   email commands
    SLUG-confirm+TOKEN@  the reply that confirms a join or leave asked for by email
    SLUG-private+TOKEN@  a private message between members, relayed (forum.private_replies);
                         SLUG-preifat+TOKEN@ the same, in mail written in Welsh
    SLUG-decide+TOKEN@   a facilitator's "approve" or "decline" to a request to join (forum.join_requests)
    SLUG-moderate+TOKEN@ a moderator's answer to a held-post notice (forum.moderation_replies)
    postmaster@, abuse@  the site's operators (RFC 5321 §4.5.1, RFC 2142)
    noreply@         sender of the site's notices and digests: replies are answered with help

Local parts are matched case-insensitively: relays and clients are known to fold case.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from forum import list_addresses, tokens
from forum.list_addresses import post_address as post_address  # the web shows the same addresses
from forum.tokens import Signer


class Form(str, enum.Enum):
    post = "post"
    reply = "reply"
    owner = "owner"
    bounces = "bounces"
    subscribe = "subscribe"
    unsubscribe = "unsubscribe"
    request = "request"
    confirm = "confirm"
    private = "private"
    decide = "decide"
    moderate = "moderate"
    postmaster = "postmaster"
    noreply = "noreply"


_SUFFIXES = {
    f"-{f.value}": f
    for f in (
        Form.owner,
        Form.bounces,
        Form.subscribe,
        Form.unsubscribe,
        Form.request,
        Form.confirm,
        Form.private,
        Form.decide,
        Form.moderate,
    )
}
_SUFFIXES["-preifat"] = Form.private  # the relay's address in mail written in Welsh
# The site's own addresses: no community has these names (forum.directory.RESERVED_NAMES).
SITE_ADDRESSES = {"postmaster": Form.postmaster, "abuse": Form.postmaster, "noreply": Form.noreply}
SITE_FORMS = frozenset(SITE_ADDRESSES.values())


@dataclass(frozen=True)
class Route:
    """Where an incoming recipient address leads."""

    form: Form
    slug: str  # the community's, or the site address's local part (postmaster, noreply)
    detail: str = ""  # the reply, confirmation or relay token, or the VERP-encoded recipient of a bounce


def parse_local_part(local: str) -> Route:
    """Split a local part into (form, slug, detail). Whether the slug exists is not checked here."""
    local = local.strip().lower()
    base, plus, detail = local.partition("+")
    if base in SITE_ADDRESSES:
        return Route(SITE_ADDRESSES[base], base, detail)
    for suffix, form in _SUFFIXES.items():
        if base.endswith(suffix) and len(base) > len(suffix):
            return Route(form, base[: -len(suffix)], detail)
    if plus:
        return Route(Form.reply, base, detail)
    return Route(Form.post, base)


def reverse_path(mail_from: str) -> str:
    """The envelope sender, "" for the null reverse path of notifications (``MAIL FROM:<>``,
    which aiosmtpd reports as ``<>``)."""
    return "" if mail_from.strip() in ("", "<>") else mail_from


def split_address(address: str) -> tuple[str, str]:
    """(local part, domain), lowercased domain; the local part keeps its case for tokens."""
    local, _, domain = address.strip().strip("<>").rpartition("@")
    return local, domain.lower()


def owner_address(slug: str, domain: str) -> str:
    return list_addresses.command_address(Form.owner.value, slug, domain)


def command_address(form: Form, slug: str, domain: str) -> str:
    """``slug-subscribe@domain`` and the other command addresses."""
    return list_addresses.command_address(form.value, slug, domain)


def confirm_address(slug: str, domain: str, token: str) -> str:
    return f"{slug}-confirm+{token}@{domain}"


def reply_address(signer: Signer, slug: str, domain: str, user_id: int, post_id: int) -> str:
    return f"{slug}+{signer.make(tokens.REPLY, user_id, post_id)}@{domain}"


def read_reply_token(signer: Signer, token: str) -> tuple[int, int]:
    """(user id, post id) of a reply token; :class:`forum.tokens.BadToken` if forged."""
    user_id, post_id = signer.verify(tokens.REPLY, token, count=2)
    return user_id, post_id


def bounce_address(slug: str, domain: str, recipient: str) -> str:
    """VERP envelope sender: ``slug-bounces+alice=example.org@domain`` (Mailman's form)."""
    local, rdomain = split_address(recipient)
    return f"{slug}-bounces+{local}={rdomain}@{domain}"


def verp_recipient(detail: str) -> str | None:
    """The recipient encoded in a VERP detail (``alice=example.org`` → ``alice@example.org``)."""
    local, eq, domain = detail.rpartition("=")
    return f"{local}@{domain}" if eq and local and domain else None
