"""The one-off messages the site sends: confirmations, moderation notices, answers,
private messages passed on by the relay, and digests."""

from __future__ import annotations

from collections.abc import Mapping
from email.headerregistry import Address
from email.message import EmailMessage, MIMEPart
from email.utils import format_datetime
from typing import Any

from forum.models import utcnow
from forum.site import Site
from mailgateway import addresses
from mailgateway.outgoing import encoded_words
from mailgateway.outgoing.post_views import CommunityInfo
from mailgateway.outgoing.rendering import (
    POLICY,
    id_headers,
    list_headers,
    one_line,
    set_alternative,
    set_list_id,
    set_name_addr,
    unsubscribe_token,
    unsubscribe_url,
    with_raw_headers,
)


def compose_notice(
    site: Site,
    to_address: str,
    payload: Mapping[str, Any],
    *,
    message_id: str,
    community: CommunityInfo | None = None,
    user_id: int | None = None,
    sender: Address | None = None,
    plain_text: bool = False,
) -> bytes:
    """A one-off message (confirmation, moderation notice, digest) with the site's headers.

    ``payload``: ``subject``, ``text``, optional ``html``, ``slug`` (the community it is
    about; the caller resolves it to ``community``), ``in_reply_to`` (the bare Message-ID
    it answers) and ``reply_to`` (an address, e.g. a confirmation token address). It comes
    from the community's -owner address, or from the site's no-reply address (or from
    ``sender``, or from the ``from_name`` and ``from_address`` of a private message the
    relay passes on, which is ``relayed``: a person's, not an automatic one). With a
    community it carries the list headers, and with ``user_id`` the one-click unsubscribe.
    To a member who takes ``plain_text`` only, it is its text alone, without the HTML.
    """
    msg = EmailMessage(policy=POLICY)
    msg["Date"] = format_datetime(utcnow())
    sender = sender or _relay_sender(site, payload) or _notice_sender(site, community)
    set_name_addr(msg, "From", sender.display_name, sender.addr_spec)
    msg["To"] = to_address
    if payload.get("reply_to"):
        msg["Reply-To"] = payload["reply_to"]
    msg.set_raw("Subject", encoded_words.text("Subject", payload["subject"]))
    in_reply_to = payload.get("in_reply_to")
    # RFC 3834: answers to a message are auto-replied; everything else the site sends by itself.
    if not payload.get("relayed"):
        msg["Auto-Submitted"] = "auto-replied" if in_reply_to else "auto-generated"
    after: list[tuple[str, list[str]]] = []
    if community is not None:
        set_list_id(msg, site, community)
        token = unsubscribe_token(site, user_id, community.id) if user_id is not None else None
        after = list_headers(site, community, unsubscribe_url(site, token) if token else None)
    if payload.get("html") and not plain_text:
        set_alternative(msg, _text_part(payload["text"], "plain"), _text_part(payload["html"], "html"))
    else:
        msg.set_content(payload["text"])
    refs = (in_reply_to,) if in_reply_to else ()
    return with_raw_headers(msg.as_bytes(), before=id_headers(message_id, in_reply_to, refs), after=after)


def compose_digest(
    site: Site,
    to_address: str,
    payload: Mapping[str, Any],
    *,
    message_id: str,
    community: CommunityInfo | None = None,
    user_id: int | None = None,
    plain_text: bool = False,
) -> bytes:
    """A member's digest (``payload`` as :func:`forum.digests.expand` makes it): a notice
    from the site, not from a community's owners, since it gathers several communities,
    carrying the list headers and one-click unsubscribe of ``community``, the one it
    opens with."""
    return compose_notice(
        site,
        to_address,
        payload,
        message_id=message_id,
        community=community,
        user_id=user_id,
        sender=_notice_sender(site, None),
        plain_text=plain_text,
    )


def _relay_sender(site: Site, payload: Mapping[str, Any]) -> Address | None:
    """The relay address a private message comes from (only ever one of ours)."""
    address = payload.get("from_address") or ""
    if not address or addresses.split_address(address)[1] != site.mail_domain:
        return None
    return Address(one_line(payload.get("from_name", "")), addr_spec=address)


def _notice_sender(site: Site, community: CommunityInfo | None) -> Address:
    if community is None:
        return Address(one_line(site.settings.site.name), addr_spec=f"noreply@{site.mail_domain}")
    return Address(one_line(community.name), addr_spec=addresses.owner_address(community.slug, site.mail_domain))


def _text_part(content: str, subtype: str) -> MIMEPart:
    part = MIMEPart(policy=POLICY)
    part.set_content(content, subtype=subtype, charset="utf-8")
    return part
