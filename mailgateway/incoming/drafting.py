"""The post a message makes: tidied, trimmed, its signature apart, quoted addresses hidden.

The same for live mail and for an imported archive (:mod:`.mbox_import`), so both
thread and read alike.
"""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy.orm import Session

from forum.posting import AttachmentData, Draft
from forum.site import Site
from forum.text import html_within_bounds
from mailgateway.addresses import Form, Route
from mailgateway.incoming.recipients import reply_target, token_author
from mailgateway.text import clutter
from mailgateway.text.htmltext import cut_at_text, drop_tracking_pixels, html_to_text
from mailgateway.text.own_links import OwnLinks
from mailgateway.text.parsing import ParsedMail
from mailgateway.text.quoted_addresses import hide_quoted_addresses, hide_quoted_addresses_html
from mailgateway.text.signatures import split_signature
from mailgateway.text.trimming import trim_html, trim_reply


def build_draft(session: Session, site: Site, parsed: ParsedMail, route: Route, inbound_id: int | None = None) -> Draft:
    """The draft a parsed message makes for one post or reply address."""
    parent_id = None
    author_email = parsed.from_addr or ""
    author_name = parsed.from_name
    if route.form is Form.reply:
        user, post = reply_target(session, site, route)
        parent_id = post.id
        author_email = token_author(session, user, author_email)
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
    attachments = tuple(
        replace(a, data=own.clean_message(a.data)) if a.content_type == "message/rfc822" else a
        for a in parsed.attachments
    )
    return replace(
        parsed,
        subject=clutter.clean_subject(parsed.subject),
        text=own.clean_text(clutter.clean_text(parsed.text)),
        html=html,
        attachments=attachments,
    )
