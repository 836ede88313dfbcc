"""Each member's personal copy of a post.

Every copy of a post is personal (its Reply-To carries the member's reply token, its
unsubscribe links their unsubscribe token) but everything else is the same for all
members. Rendering a MIME message is costly; a 10,000-member community would spend most
of its fan-out re-rendering the same bytes, as GNU Mailman does. So a post is rendered
**once** into a :class:`PostTemplate`: the finished message bytes with unique markers
where the per-member values go, cut into chunks at those markers. :func:`personalize`
then costs two HMACs, at most two small quoted-printable encodings and a join.

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
from dataclasses import dataclass
from email.message import EmailMessage, MIMEPart
from email.parser import BytesParser
from email.utils import format_datetime
from enum import Enum

from forum.mail_language import mail_language, sender_name
from forum.quoting import quote_html, quote_text
from forum.site import Site
from mailgateway import addresses
from mailgateway.outgoing import encoded_words
from mailgateway.outgoing.footers import html_footer, shown_author, text_footer
from mailgateway.outgoing.post_views import AttachmentInfo, PostView, archived_at
from mailgateway.outgoing.rendering import (
    MAX_LINE,
    POLICY,
    id_headers,
    list_headers,
    one_line,
    sendable_id,
    set_alternative,
    set_list_id,
    set_name_addr,
    set_only,
    unsubscribe_token,
    unsubscribe_url,
    with_raw_headers,
)


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
    html_footer: Footer | None  # None: a copy in plain text only


def build_template(
    view: PostView, site: Site, member_language: str | None = None, *, plain_text: bool = False
) -> PostTemplate:
    """Render ``view`` once with markers in the per-member places and cut it there, for the
    members whose own language setting is ``member_language`` (None: they chose none) and
    who take plain text only if ``plain_text`` (their copies have no HTML part)."""
    slots = [slot for slot in Slot if not (plain_text and slot is Slot.HTML_FOOTER)]
    marks = {slot: f"lb{secrets.token_hex(12)}" for slot in slots}
    marks[Slot.REPLY_ADDRESS] += f"@{site.mail_domain}"
    unsubscribe = unsubscribe_url(site, marks[Slot.UNSUBSCRIBE_TOKEN])
    text, html_doc = _bodies(view, site, marks[Slot.UNSUBSCRIBE_TOKEN], member_language)
    raw = _render_post(
        view,
        site,
        marks[Slot.REPLY_ADDRESS],
        unsubscribe,
        text,
        None if plain_text else html_doc,
        mail_language(member_language, view.community.language),
        footer_marks=(marks[Slot.TEXT_FOOTER], marks.get(Slot.HTML_FOOTER)),
    )
    if any(raw.count(mark.encode()) != 1 for mark in marks.values()):
        raise RuntimeError(f"post {view.id}: a template marker did not survive rendering intact")
    chunks, cut, start = [], [], 0
    for position, slot in sorted(((raw.index(m.encode()), s) for s, m in marks.items()), key=lambda p: p[0]):
        chunks.append(raw[start:position])
        cut.append(slot)
        start = position + len(marks[slot])
    chunks.append(raw[start:])
    return PostTemplate(
        post_id=view.id,
        community_id=view.community.id,
        slug=view.community.slug,
        chunks=tuple(chunks),
        slots=tuple(cut),
        text_footer=text.footer_around(marks[Slot.UNSUBSCRIBE_TOKEN]),
        html_footer=None if plain_text else html_doc.footer_around(marks[Slot.UNSUBSCRIBE_TOKEN]),
    )


def personalize(template: PostTemplate, site: Site, user_id: int) -> bytes:
    """The member's copy: the template with their reply address and unsubscribe token."""
    token = unsubscribe_token(site, user_id, template.community_id).encode()
    values = {
        Slot.REPLY_ADDRESS: addresses.reply_address(
            site.signer, template.slug, site.mail_domain, user_id, template.post_id
        ).encode(),
        Slot.UNSUBSCRIBE_TOKEN: token,
        Slot.TEXT_FOOTER: template.text_footer.encode(token),
        Slot.HTML_FOOTER: template.html_footer.encode(token) if template.html_footer else b"",
    }
    parts = [template.chunks[0]]
    for slot, chunk in zip(template.slots, template.chunks[1:], strict=True):
        parts.append(values[slot])
        parts.append(chunk)
    return b"".join(parts)


def compose_copy(
    view: PostView, site: Site, user_id: int, member_language: str | None = None, *, plain_text: bool = False
) -> bytes:
    """One member's copy rendered from scratch: slow, and the reference for :func:`personalize`."""
    token = unsubscribe_token(site, user_id, view.community.id)
    url = unsubscribe_url(site, token)
    reply = addresses.reply_address(site.signer, view.community.slug, site.mail_domain, user_id, view.id)
    language = mail_language(member_language, view.community.language)
    text, html_doc = _bodies(view, site, token, member_language)
    return _render_post(view, site, reply, url, text, None if plain_text else html_doc, language)


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


def _bodies(view: PostView, site: Site, unsubscribe_token: str, member_language: str | None) -> tuple[Body, Body]:
    """The post and its footer, our own words (and links) in the member's language; a web
    reply starts with its quote of the post it answers (``forum.quoting``)."""
    language = mail_language(member_language, view.community.language)
    quoted, quoted_html = "", ""
    if view.quoted_parent is not None:
        quoted = quote_text(view.quoted_parent, language) + "\n\n"
        quoted_html = quote_html(view.quoted_parent, language)
    text = Body(
        "plain", f"{quoted}{view.text.rstrip()}\n\n", text_footer(view, site, unsubscribe_token, language), "\n"
    )
    head = _HTML_HEAD.format(title=html.escape(one_line(view.subject)), body=quoted_html + view.html)
    return text, Body("html", head, html_footer(view, site, unsubscribe_token, language), _HTML_TAIL)


def _render_post(
    view: PostView,
    site: Site,
    reply_address: str,
    unsubscribe_url: str,
    text: Body,
    html_doc: Body | None,
    language: str,
    footer_marks: tuple[str, str | None] | None = None,
) -> bytes:
    community = view.community
    msg = EmailMessage(policy=POLICY)
    msg["Date"] = format_datetime(view.created_at)
    post_address = addresses.post_address(community.slug, site.mail_domain)
    author = shown_author(view, language)
    set_name_addr(msg, "From", sender_name(author, one_line(community.name), language), post_address)
    set_name_addr(msg, "To", community.name, post_address)
    set_name_addr(msg, "Reply-To", community.name, reply_address)
    msg.set_raw("Subject", encoded_words.text("Subject", list_subject(community.subject_prefix, view.subject)))
    set_list_id(msg, site, community)
    text_mark, html_mark = footer_marks or (None, None)
    _set_body(msg, site, view.attachments, text.part(text_mark), html_doc.part(html_mark) if html_doc else None)
    message_id = view.message_id if sendable_id(view.message_id) else f"post.{view.id}@{site.mail_domain}"
    return with_raw_headers(
        msg.as_bytes(),
        before=id_headers(message_id, view.in_reply_to, view.references),
        after=[*list_headers(site, community, unsubscribe_url), ("Archived-At", [f"<{archived_at(view, site)}>"])],
    )


def _set_body(
    msg: MIMEPart, site: Site, attachments: tuple[AttachmentInfo, ...], text: MIMEPart, html_part: MIMEPart | None
) -> None:
    """multipart/alternative, inside multipart/related for inline images, inside
    multipart/mixed for attachments; files over ``attach_max_bytes`` are only linked.
    Without ``html_part`` (plain text only) the text alone, and inline images attached."""
    if html_part is None:
        set_only(msg, text)
    else:
        set_alternative(msg, text, html_part)
    for att in attachments:
        if att.size > site.settings.delivery.attach_max_bytes:
            continue
        maintype, _, subtype = att.content_type.partition("/")
        if not subtype:
            maintype, subtype = "application", "octet-stream"
        data = site.blobs.get(att.sha256)
        if att.inline and att.content_id and html_part is not None:
            html_part.add_related(
                data,
                maintype,
                subtype,
                cid=f"<{att.content_id.strip('<>')}>",
                disposition="inline",
                filename=att.filename,
            )
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
        part.set_content(
            BytesParser(policy=POLICY).parsebytes(data), disposition="attachment", filename=filename, cte="7bit"
        )
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
    return rendered.isascii() and all(
        len(line) <= MAX_LINE and b"\n" not in line and b"\r" not in line for line in lines
    )


def list_subject(prefix: str, subject: str) -> str:
    """The subject with the community's prefix in front, unless the author kept it already."""
    subject = one_line(subject)
    prefix = prefix.strip()
    if prefix and prefix.casefold() not in subject.casefold():
        return f"{prefix} {subject}"
    return subject


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
