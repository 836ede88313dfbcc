"""What every message the site sends shares: 7bit on the wire, headers that clients read
back exactly as written, and the list headers (RFC 2369, 2919, 8058) with the member's
one-click unsubscribe.
"""

from __future__ import annotations

from email.message import EmailMessage, MIMEPart
from email.policy import SMTP as SMTP_POLICY

from forum import tokens
from forum.site import Site
from mailgateway import addresses
from mailgateway.outgoing import encoded_words
from mailgateway.outgoing.post_views import CommunityInfo

# Every message is plain ASCII on the wire (7bit, quoted-printable, base64 and RFC 2047), so
# no relay on the way needs 8BITMIME. Headers with people's text in them are folded by
# mailgateway.outgoing.encoded_words and must go out as written (refold_source="none").
POLICY = SMTP_POLICY.clone(cte_type="7bit", refold_source="none")
MAX_LINE = 998  # octets, RFC 5321 4.5.3.1.6 (without CRLF)
_FOLD = ",\r\n "  # between the items of a list header: one per line


def unsubscribe_token(site: Site, user_id: int, community_id: int) -> str:
    return site.signer.make(tokens.UNSUBSCRIBE, user_id, community_id)


def unsubscribe_url(site: Site, token: str) -> str:
    return site.url(f"/unsubscribe/{token}")


def set_alternative(msg: MIMEPart, text: MIMEPart, html_part: MIMEPart) -> None:
    # Parts are built as MIMEPart: EmailMessage.add_alternative() stamps MIME-Version on each.
    msg["MIME-Version"] = "1.0"
    msg.make_alternative()
    msg.attach(text)
    msg.attach(html_part)


def set_only(msg: MIMEPart, part: MIMEPart) -> None:
    """``part``'s content and its headers as the message's own: a message of one part."""
    msg["MIME-Version"] = "1.0"
    for name, value in part.items():
        msg[name] = value
    msg.set_payload(part.get_payload())


def set_name_addr(msg: EmailMessage, name: str, display_name: str, addr_spec: str) -> None:
    msg.set_raw(name, encoded_words.name_addr(name, display_name, addr_spec))


def set_list_id(msg: EmailMessage, site: Site, community: CommunityInfo) -> None:
    """RFC 2919: the community's name, then the list's own id, which filters match on."""
    set_name_addr(msg, "List-Id", community.name, f"{community.slug}.{site.mail_domain}")


def list_headers(site: Site, community: CommunityInfo, unsubscribe: str | None) -> list[tuple[str, list[str]]]:
    """RFC 2369 and 8058 list headers: clients show "unsubscribe" and filter by list."""
    slug, domain, home = community.slug, site.mail_domain, site.url(f"/c/{community.slug}/")
    headers = [
        ("List-Post", [f"<mailto:{addresses.post_address(slug, domain)}>"]),
        ("List-Archive", [f"<{home}>"]),
        ("List-Help", [f"<mailto:{slug}-request@{domain}?subject=help>"]),
        ("List-Owner", [f"<mailto:{addresses.owner_address(slug, domain)}>"]),
        ("List-Subscribe", [f"<{home}>", f"<mailto:{slug}-subscribe@{domain}>"]),
    ]
    if unsubscribe:
        headers.append(("List-Unsubscribe", [f"<{unsubscribe}>", f"<mailto:{slug}-unsubscribe@{domain}>"]))
        headers.append(("List-Unsubscribe-Post", ["List-Unsubscribe=One-Click"]))
    headers.append(("Precedence", ["list"]))
    return headers


def with_raw_headers(rendered: bytes, *, before: bytes, after: list[tuple[str, list[str]]]) -> bytes:
    """Add headers the email library must not fold: ids, and lists of ASCII URLs.

    The library folds a Message-ID longer than a line into RFC 2047 encoded words, which no
    mail client reads back as the same id (threads break), and it may fold a URL list
    right after the colon. These are written by hand, one item per line when several.
    """
    head, _, body = rendered.partition(b"\r\n\r\n")
    tail = "".join(f"{name}: {_FOLD.join(values)}\r\n" for name, values in after).encode("ascii")
    return before + head + b"\r\n" + tail + b"\r\n" + body


def id_headers(message_id: str, in_reply_to: str | None, references: tuple[str, ...]) -> bytes:
    """Message-ID, In-Reply-To and References; ids that are not printable ASCII are
    dropped, as they cannot be put on the wire unchanged."""
    lines = [f"Message-ID: <{message_id}>"]
    if in_reply_to and sendable_id(in_reply_to):
        lines.append(f"In-Reply-To: <{in_reply_to}>")
    refs = [f"<{r}>" for r in references if sendable_id(r)]
    if refs:
        lines.append("References: " + "\r\n ".join(refs))
    return ("\r\n".join(lines) + "\r\n").encode("ascii")


def sendable_id(message_id: str) -> bool:
    return bool(message_id) and all(33 <= ord(c) <= 126 and c not in "<>" for c in message_id)


def one_line(value: str) -> str:
    """Header text from stored text: no line breaks (they would inject headers), no runs of space."""
    return " ".join(value.split())
