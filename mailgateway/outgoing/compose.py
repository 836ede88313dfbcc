"""Each member's personal copy of a post, and the one-off notices the site sends.

Every copy of a post is personal (its Reply-To carries the member's reply token, its
unsubscribe links their unsubscribe token) but everything else is the same for all
members. Rendering a MIME message costs milliseconds; a 10,000-member community would
spend most of its fan-out re-rendering the same bytes, as GNU Mailman does. So a post is
rendered **once** into a :class:`PostTemplate`: the finished message bytes with unique
markers where the per-member values go, cut into chunks at those markers.
:func:`personalize` then costs two HMACs, at most two small quoted-printable encodings and
a join: tens of microseconds.

Where the markers sit, and why they survive serialisation:

* header markers are plain ASCII words without spaces (the Reply-To address, and the
  unsubscribe token in ``List-Unsubscribe``, a header written by hand);
* each footer of the text and HTML parts is replaced by a line holding only a marker. A
  part travels as 7bit when it can, and the marker is replaced by the member's footer as
  it is; otherwise as quoted-printable, which leaves a short line of letters untouched and
  encodes line by line, so the member's footer is encoded on its own and spliced in.
  Base64 would allow neither, so text parts never use it.

:func:`compose_copy` renders one member's copy the slow way, with the real values handed
to the email library; it is the reference :func:`personalize` must agree with.
"""

from __future__ import annotations

import binascii
import html
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage, MIMEPart
from email.parser import BytesParser
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime
from enum import Enum
from typing import Any
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.orm import Session

from forum import private_replies, tokens
from forum.archive import human_size
from forum.errors import NotFound
from forum.models import Attachment, Community, Post, PostStatus, utcnow
from forum.site import Site
from forum.subjects import strip_prefixes
from forum.text import text_to_html
from mailgateway import addresses
from mailgateway.outgoing import encoded_words

# Every message is plain ASCII on the wire (7bit, quoted-printable, base64 and RFC 2047), so
# no relay on the way needs 8BITMIME. Headers with people's text in them are folded by
# mailgateway.outgoing.encoded_words and must go out as written (refold_source="none").
POLICY = SMTP_POLICY.clone(cte_type="7bit", refold_source="none")
MAX_LINE = 998  # octets, RFC 5321 4.5.3.1.6 (without CRLF)
_FOLD = ",\r\n "  # between the items of a list header: one per line
MAX_REFERENCES = 20  # the thread's root plus the nearest ancestors, as RFC 5322 §3.6.4 suggests


@dataclass(frozen=True)
class CommunityInfo:
    """What mail headers need to know about a community."""

    id: int
    slug: str
    name: str
    subject_prefix: str = ""


@dataclass(frozen=True)
class AttachmentInfo:
    id: int
    filename: str
    content_type: str
    size: int
    sha256: str
    inline: bool = False
    content_id: str | None = None


@dataclass(frozen=True)
class PostView:
    """A post as mail needs it, detached from the database, so rendering is a pure function."""

    id: int
    community: CommunityInfo
    thread_id: int
    author_name: str
    author_email: str
    message_id: str
    subject: str
    created_at: datetime
    text: str
    html: str
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    attachments: tuple[AttachmentInfo, ...] = ()
    author_id: int | None = None
    author_shows_address: bool = False  # the author chose to show their address to members


class Slot(Enum):
    """A place in a :class:`PostTemplate` where a member's own bytes go."""

    REPLY_ADDRESS = "reply"
    UNSUBSCRIBE_TOKEN = "unsubscribe"
    TEXT_FOOTER = "text_footer"
    HTML_FOOTER = "html_footer"


@dataclass(frozen=True)
class Footer:
    """A footer around the member's unsubscribe token, encoded per member (it is small)."""

    before: bytes
    after: bytes
    quoted_printable: bool

    def encode(self, token: bytes) -> bytes:
        footer = self.before + token + self.after
        return binascii.b2a_qp(footer, istext=True) if self.quoted_printable else footer


@dataclass(frozen=True)
class PostTemplate:
    """A post rendered once: ``chunks[0] slots[0] chunks[1] … slots[-1] chunks[-1]``."""

    post_id: int
    community_id: int
    slug: str
    chunks: tuple[bytes, ...]
    slots: tuple[Slot, ...]
    text_footer: Footer
    html_footer: Footer


# Loading --------------------------------------------------------------------------------


def _community_info(community: Community) -> CommunityInfo:
    return CommunityInfo(community.id, community.slug, community.name, community.subject_prefix)


def load_community(session: Session, slug: str) -> CommunityInfo:
    community = session.scalar(select(Community).where(Community.slug == slug))
    if community is None:
        raise NotFound(f'there is no community "{slug}" here')
    return _community_info(community)


def load_post(session: Session, post_id: int) -> PostView:
    """Everything needed to mail ``post_id``, in three queries (post, thread, attachments).

    Raises :class:`NotFound` when the post is gone or no longer published (deleted, or
    held again by a moderator): such a copy must not be sent.
    """
    row = session.execute(
        select(Post, Community).join(Community, Community.id == Post.community_id).where(Post.id == post_id)
    ).first()
    if row is None or row[0].status is not PostStatus.published:
        raise NotFound(f"post {post_id} is no longer published")
    post, community = row
    in_reply_to, references = _thread_ids(session, post)
    attachments = session.scalars(select(Attachment).where(Attachment.post_id == post_id).order_by(Attachment.id))
    return PostView(
        id=post.id,
        community=_community_info(community),
        thread_id=post.thread_id,
        author_name=post.author_name,
        author_email=post.author_email,
        author_id=post.author_id,
        author_shows_address=private_replies.shows_address(session, post.author_id, community.id),
        message_id=post.message_id,
        subject=post.subject,
        created_at=post.created_at,
        text=post.body,
        html=post.html if post.html is not None else text_to_html(post.body),
        in_reply_to=in_reply_to,
        references=references,
        attachments=tuple(
            AttachmentInfo(a.id, a.filename, a.content_type, a.size, a.sha256, a.inline, a.content_id)
            for a in attachments
        ),
    )


def _thread_ids(session: Session, post: Post) -> tuple[str | None, tuple[str, ...]]:
    """(In-Reply-To, References): the parent and the chain of ancestors, oldest first.

    One query loads the thread's (id, parent, Message-ID) triples and the chain is walked
    in memory. A post whose parent never arrived still names what it answered.
    """
    if post.parent_id is None:
        return post.reply_to_message_id, ((post.reply_to_message_id,) if post.reply_to_message_id else ())
    links = {
        pid: (parent, mid)
        for pid, parent, mid in session.execute(
            select(Post.id, Post.parent_id, Post.message_id).where(Post.thread_id == post.thread_id)
        )
    }
    chain: list[str] = []
    current: int | None = post.parent_id
    while current is not None and current in links and len(chain) < len(links):
        current, mid = links[current]
        chain.append(mid)
    chain.reverse()
    if len(chain) > MAX_REFERENCES:
        chain = chain[:1] + chain[-(MAX_REFERENCES - 1):]
    return (chain[-1] if chain else post.reply_to_message_id), tuple(chain)


# Personal copies ------------------------------------------------------------------------


def build_template(view: PostView, site: Site) -> PostTemplate:
    """Render ``view`` once with markers in the per-member places and cut it there."""
    marks = {slot: f"lb{secrets.token_hex(12)}" for slot in Slot}
    marks[Slot.REPLY_ADDRESS] += f"@{site.mail_domain}"
    unsubscribe = unsubscribe_url(site, marks[Slot.UNSUBSCRIBE_TOKEN])
    text, html_doc = _bodies(view, site, unsubscribe)
    raw = _render_post(view, site, marks[Slot.REPLY_ADDRESS], unsubscribe, text, html_doc,
                       footer_marks=(marks[Slot.TEXT_FOOTER], marks[Slot.HTML_FOOTER]))
    if any(raw.count(mark.encode()) != 1 for mark in marks.values()):
        raise RuntimeError(f"post {view.id}: a template marker did not survive rendering intact")
    chunks, slots, start = [], [], 0
    for position, slot in sorted(((raw.index(m.encode()), s) for s, m in marks.items()), key=lambda p: p[0]):
        chunks.append(raw[start:position])
        slots.append(slot)
        start = position + len(marks[slot])
    chunks.append(raw[start:])
    return PostTemplate(
        post_id=view.id, community_id=view.community.id, slug=view.community.slug,
        chunks=tuple(chunks), slots=tuple(slots),
        text_footer=text.footer_around(marks[Slot.UNSUBSCRIBE_TOKEN]),
        html_footer=html_doc.footer_around(marks[Slot.UNSUBSCRIBE_TOKEN]),
    )


def personalize(template: PostTemplate, site: Site, user_id: int) -> bytes:
    """The member's copy: the template with their reply address and unsubscribe token."""
    token = unsubscribe_token(site, user_id, template.community_id).encode()
    values = {
        Slot.REPLY_ADDRESS: addresses.reply_address(
            site.signer, template.slug, site.mail_domain, user_id, template.post_id).encode(),
        Slot.UNSUBSCRIBE_TOKEN: token,
        Slot.TEXT_FOOTER: template.text_footer.encode(token),
        Slot.HTML_FOOTER: template.html_footer.encode(token),
    }
    parts = [template.chunks[0]]
    for slot, chunk in zip(template.slots, template.chunks[1:]):
        parts.append(values[slot])
        parts.append(chunk)
    return b"".join(parts)


def compose_copy(view: PostView, site: Site, user_id: int) -> bytes:
    """One member's copy rendered from scratch: slow, and the reference for :func:`personalize`."""
    url = unsubscribe_url(site, unsubscribe_token(site, user_id, view.community.id))
    reply = addresses.reply_address(site.signer, view.community.slug, site.mail_domain, user_id, view.id)
    return _render_post(view, site, reply, url, *_bodies(view, site, url))


def unsubscribe_token(site: Site, user_id: int, community_id: int) -> str:
    return site.signer.make(tokens.UNSUBSCRIBE, user_id, community_id)


def unsubscribe_url(site: Site, token: str) -> str:
    return site.url(f"/unsubscribe/{token}")


@dataclass(frozen=True)
class Body:
    """A text part: the post, the footer (the only per-member text) and what follows it."""

    subtype: str
    before: str
    footer: str
    after: str

    @property
    def transfer_encoding(self) -> str:
        """7bit when the text can travel as it is (ASCII, lines within SMTP's 998): smaller,
        and fewer lines for every relay to read; quoted-printable otherwise. Either keeps
        the footer's line apart, so it can be spliced (base64 would not)."""
        content = self.before + self.footer + self.after
        if content.isascii() and all(len(line) <= MAX_LINE for line in content.splitlines()):
            return "7bit"
        return "quoted-printable"

    def part(self, footer_mark: str | None = None) -> MIMEPart:
        part = MIMEPart(policy=POLICY)
        content = self.before + (footer_mark or self.footer) + self.after
        part.set_content(content, subtype=self.subtype, charset="utf-8", cte=self.transfer_encoding)
        return part

    def footer_around(self, token_mark: str) -> Footer:
        before, _, after = self.footer.partition(token_mark)
        return Footer(before.encode(), after.encode(), self.transfer_encoding == "quoted-printable")


def _bodies(view: PostView, site: Site, unsubscribe: str) -> tuple[Body, Body]:
    text = Body("plain", f"{view.text.rstrip()}\n\n", _text_footer(view, site, unsubscribe), "\n")
    head = _HTML_HEAD.format(title=html.escape(_one_line(view.subject)), body=view.html)
    return text, Body("html", head, _html_footer(view, site, unsubscribe), _HTML_TAIL)


def _render_post(view: PostView, site: Site, reply_address: str, unsubscribe_url: str, text: Body, html_doc: Body,
                 footer_marks: tuple[str, str] | None = None) -> bytes:
    community = view.community
    msg = EmailMessage(policy=POLICY)
    msg["Date"] = format_datetime(view.created_at)
    post_address = addresses.post_address(community.slug, site.mail_domain)
    _set_name_addr(msg, "From", f"{_author(view)} via {_one_line(community.name)}", post_address)
    _set_name_addr(msg, "To", community.name, post_address)
    _set_name_addr(msg, "Reply-To", community.name, reply_address)
    msg.set_raw("Subject", encoded_words.text("Subject", list_subject(community.subject_prefix, view.subject)))
    _set_list_id(msg, site, community)
    text_mark, html_mark = footer_marks or (None, None)
    _set_body(msg, site, view.attachments, text.part(text_mark), html_doc.part(html_mark))
    message_id = view.message_id if _sendable_id(view.message_id) else f"post.{view.id}@{site.mail_domain}"
    return _with_raw_headers(
        msg.as_bytes(),
        before=_id_headers(message_id, view.in_reply_to, view.references),
        after=_list_headers(site, community, unsubscribe_url) + [("Archived-At", [f"<{archived_at(view, site)}>"])],
    )


def _set_body(msg: EmailMessage, site: Site, attachments: tuple[AttachmentInfo, ...], text: MIMEPart,
              html_part: MIMEPart) -> None:
    """multipart/alternative, inside multipart/related for inline images, inside
    multipart/mixed for attachments; files over ``attach_max_bytes`` are only linked."""
    _set_alternative(msg, text, html_part)
    for att in attachments:
        if att.size > site.settings.delivery.attach_max_bytes:
            continue
        maintype, _, subtype = att.content_type.partition("/")
        if not subtype:
            maintype, subtype = "application", "octet-stream"
        data = site.blobs.get(att.sha256)
        if att.inline and att.content_id:
            html_part.add_related(data, maintype, subtype, cid=f"<{att.content_id.strip('<>')}>",
                                  disposition="inline", filename=att.filename)
        else:
            part = _attached_file(data, maintype, subtype, att.filename)
            if msg.get_content_type() != "multipart/mixed":
                msg.make_mixed()
            msg.attach(part)


def _attached_file(data: bytes, maintype: str, subtype: str, filename: str) -> MIMEPart:
    """An attachment as it travels: base64, except a forwarded message, which travels as a
    message (RFC 2046 allows it no other encoding, and the email library writes a base64
    message part with bare line feeds, which relays refuse as one over-long line).

    A forwarded message that cannot travel as 7bit lines within SMTP's limit goes as a
    file (application/octet-stream) with its bytes unchanged, as does any other message/*
    part, which the library cannot write from bytes either."""
    part = MIMEPart(policy=POLICY)
    if maintype == "message" and subtype in ("rfc822", "global"):
        part.set_content(BytesParser(policy=POLICY).parsebytes(data), disposition="attachment",
                         filename=filename, cte="7bit")
        if _travels_as_is(part.as_bytes()):
            return part
        part = MIMEPart(policy=POLICY)
    if maintype == "message":
        maintype, subtype = "application", "octet-stream"
    part.set_content(data, maintype, subtype, disposition="attachment", filename=filename)
    return part


def _travels_as_is(rendered: bytes) -> bool:
    """Whether ``rendered`` is 7bit ASCII in CRLF lines of at most :data:`MAX_LINE` octets."""
    lines = rendered.split(b"\r\n")
    return rendered.isascii() and all(len(line) <= MAX_LINE and b"\n" not in line and b"\r" not in line
                                      for line in lines)


def _text_part(content: str, subtype: str) -> MIMEPart:
    part = MIMEPart(policy=POLICY)
    part.set_content(content, subtype=subtype, charset="utf-8")
    return part


def _set_alternative(msg: EmailMessage, text: MIMEPart, html_part: MIMEPart) -> None:
    # Parts are built as MIMEPart: EmailMessage.add_alternative() stamps MIME-Version on each.
    msg["MIME-Version"] = "1.0"
    msg.make_alternative()
    msg.attach(text)
    msg.attach(html_part)


def archived_at(view: PostView, site: Site) -> str:
    return site.url(f"/c/{view.community.slug}/t/{view.thread_id}#post-{view.id}")


def list_subject(prefix: str, subject: str) -> str:
    """The subject with the community's prefix in front, unless the author kept it already."""
    subject = _one_line(subject)
    prefix = prefix.strip()
    if prefix and prefix.casefold() not in subject.casefold():
        return f"{prefix} {subject}"
    return subject


def _author(view: PostView) -> str:
    # An address in a display name reads like a spoofed sender to filters and people alike.
    # Nor is the author's address shown when the name is one (or missing), unless they chose.
    name = _one_line(view.author_name)
    if not name or "@" in name:
        name = _one_line(view.author_email) if view.author_shows_address else ""
    return name.replace("@", " at ") or "Someone"


def _linked(view: PostView, site: Site) -> list[tuple[str, str]]:
    """(label, URL) of the attachments too big to travel with the mail."""
    limit = site.settings.delivery.attach_max_bytes
    return [
        (f"{_one_line(a.filename)} ({human_size(a.size)})", site.url(f"/a/{a.id}/{quote(a.filename)}"))
        for a in view.attachments if a.size > limit
    ]


def _reply_privately(view: PostView, site: Site) -> str:
    """Where "reply privately" writes: the author's own address only if they chose to show
    it, otherwise the relay (""  when the post has no author among the members)."""
    if view.author_shows_address and view.author_email:
        address = view.author_email
    elif view.author_id is not None:
        address = private_replies.post_address(site.signer, view.community.slug, site.mail_domain, view.id)
    else:
        return ""
    subject = quote("Re: " + strip_prefixes(_one_line(view.subject)))
    return f"mailto:{quote(address, safe='@+')}?subject={subject}"


def _membership_url(view: PostView, site: Site) -> str:
    return site.url(f"/c/{view.community.slug}/membership")


def _text_footer(view: PostView, site: Site, unsubscribe: str) -> str:
    lines = ["-- "]
    linked = _linked(view, site)
    if linked:
        lines.append("Attachments too large for email:")
        lines += [f"  {label}: {url}" for label, url in linked]
    lines.append(f"View on the web: {archived_at(view, site)}")
    if privately := _reply_privately(view, site):
        lines.append(f"Reply privately to {_author(view)}: {privately}")
    lines.append(f"Change your delivery: {_membership_url(view, site)}")
    lines.append(f"Leave {_one_line(view.community.name)}: {unsubscribe}")
    return "\r\n".join(lines)


def _html_footer(view: PostView, site: Site, unsubscribe: str) -> str:
    def link(url: str, label: str) -> str:
        return f'<a href="{html.escape(url)}" style="color:#666666;">{html.escape(label)}</a>'

    links = [link(archived_at(view, site), "View on the web")]
    if privately := _reply_privately(view, site):
        links.append(link(privately, f"Reply privately to {_author(view)}"))
    links.append(link(_membership_url(view, site), "Change your delivery"))
    links.append(link(unsubscribe, f"Leave {_one_line(view.community.name)}"))
    rows = []
    linked = _linked(view, site)
    if linked:
        rows.append(_FOOTER_ROW.format("Attachments too large for email: " + ", ".join(link(u, t) for t, u in linked)))
    rows.append(_FOOTER_ROW.format(" &middot;\r\n".join(links)))
    return _FOOTER_TABLE.format(rows="\r\n".join(rows))


# Outlook renders tables and inline styles, little else: no <style>, no CSS layout.
_HTML_HEAD = """<!DOCTYPE html>
<html>
<head>
<meta http-equiv="Content-Type" content="text/html; charset=utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
</head>
<body style="margin:0;padding:0;background-color:#ffffff;">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0"><tr>
<td style="padding:16px;font-family:Arial,Helvetica,sans-serif;font-size:15px;line-height:1.5;color:#222222;">
{body}
</td></tr></table>
"""
_HTML_TAIL = """
</body>
</html>
"""
_FOOTER_TABLE = (
    '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0"><tr>\r\n'
    '<td style="padding:8px 16px 16px 16px;border-top:1px solid #dddddd;font-family:Arial,Helvetica,sans-serif;'
    'font-size:12px;line-height:1.5;color:#666666;">\r\n{rows}\r\n</td></tr></table>'
)
_FOOTER_ROW = '<p style="margin:0 0 4px 0;">{}</p>'


# Notices --------------------------------------------------------------------------------


def compose_notice(site: Site, to_address: str, payload: Mapping[str, Any], *, message_id: str,
                   community: CommunityInfo | None = None, user_id: int | None = None,
                   sender: Address | None = None) -> bytes:
    """A one-off message (confirmation, moderation notice, digest) with the site's headers.

    ``payload``: ``subject``, ``text``, optional ``html``, ``slug`` (the community it is
    about; the caller resolves it to ``community``), ``in_reply_to`` (the bare Message-ID
    it answers) and ``reply_to`` (an address, e.g. a confirmation token address). It comes
    from the community's -owner address, or from the site's no-reply address (or from
    ``sender``, or from the ``from_name`` and ``from_address`` of a private message the
    relay passes on, which is ``relayed``: a person's, not an automatic one). With a
    community it carries the list headers, and with ``user_id`` the one-click unsubscribe.
    """
    msg = EmailMessage(policy=POLICY)
    msg["Date"] = format_datetime(utcnow())
    sender = sender or _relay_sender(site, payload) or _notice_sender(site, community)
    _set_name_addr(msg, "From", sender.display_name, sender.addr_spec)
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
        _set_list_id(msg, site, community)
        token = unsubscribe_token(site, user_id, community.id) if user_id is not None else None
        after = _list_headers(site, community, unsubscribe_url(site, token) if token else None)
    if payload.get("html"):
        _set_alternative(msg, _text_part(payload["text"], "plain"), _text_part(payload["html"], "html"))
    else:
        msg.set_content(payload["text"])
    refs = (in_reply_to,) if in_reply_to else ()
    return _with_raw_headers(msg.as_bytes(), before=_id_headers(message_id, in_reply_to, refs), after=after)


def compose_digest(site: Site, to_address: str, payload: Mapping[str, Any], *, message_id: str,
                   community: CommunityInfo | None = None, user_id: int | None = None) -> bytes:
    """A member's digest (``payload`` as :func:`forum.digests.expand` makes it): a notice
    from the site, not from a community's owners, since it gathers several communities,
    carrying the list headers and one-click unsubscribe of ``community``, the one it
    opens with."""
    return compose_notice(site, to_address, payload, message_id=message_id, community=community,
                          user_id=user_id, sender=_notice_sender(site, None))


def _relay_sender(site: Site, payload: Mapping[str, Any]) -> Address | None:
    """The relay address a private message comes from (only ever one of ours)."""
    address = payload.get("from_address") or ""
    if not address or addresses.split_address(address)[1] != site.mail_domain:
        return None
    return Address(_one_line(payload.get("from_name", "")), addr_spec=address)


def _notice_sender(site: Site, community: CommunityInfo | None) -> Address:
    if community is None:
        return Address(_one_line(site.settings.site.name), addr_spec=f"noreply@{site.mail_domain}")
    return Address(_one_line(community.name), addr_spec=addresses.owner_address(community.slug, site.mail_domain))


# Shared headers -------------------------------------------------------------------------


def _set_name_addr(msg: EmailMessage, name: str, display_name: str, addr_spec: str) -> None:
    msg.set_raw(name, encoded_words.name_addr(name, display_name, addr_spec))


def _set_list_id(msg: EmailMessage, site: Site, community: CommunityInfo) -> None:
    """RFC 2919: the community's name, then the list's own id, which filters match on."""
    _set_name_addr(msg, "List-Id", community.name, f"{community.slug}.{site.mail_domain}")


def _list_headers(site: Site, community: CommunityInfo, unsubscribe: str | None) -> list[tuple[str, list[str]]]:
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


def _with_raw_headers(rendered: bytes, *, before: bytes, after: list[tuple[str, list[str]]]) -> bytes:
    """Add headers the email library must not fold: ids, and lists of ASCII URLs.

    The library folds a Message-ID longer than a line into RFC 2047 encoded words, which no
    mail client reads back as the same id (threads break), and it may fold a URL list
    right after the colon. These are written by hand, one item per line when several.
    """
    head, _, body = rendered.partition(b"\r\n\r\n")
    tail = "".join(f"{name}: {_FOLD.join(values)}\r\n" for name, values in after).encode("ascii")
    return before + head + b"\r\n" + tail + b"\r\n" + body


def _id_headers(message_id: str, in_reply_to: str | None, references: tuple[str, ...]) -> bytes:
    """Message-ID, In-Reply-To and References; ids that are not printable ASCII are
    dropped, as they cannot be put on the wire unchanged."""
    lines = [f"Message-ID: <{message_id}>"]
    if in_reply_to and _sendable_id(in_reply_to):
        lines.append(f"In-Reply-To: <{in_reply_to}>")
    refs = [f"<{r}>" for r in references if _sendable_id(r)]
    if refs:
        lines.append("References: " + "\r\n ".join(refs))
    return ("\r\n".join(lines) + "\r\n").encode("ascii")


def _sendable_id(message_id: str) -> bool:
    return bool(message_id) and all(33 <= ord(c) <= 126 and c not in "<>" for c in message_id)


def _one_line(value: str) -> str:
    """Header text from stored text: no line breaks (they would inject headers), no runs of space."""
    return " ".join(value.split())


