"""The footer under every copy of a post, in text and HTML: the links a member acts on.

The post on the web, a private reply to its author (their own address only if they chose
to show it, else the relay), the member's delivery settings and leaving the community;
attachments too large to travel are linked here too. Outlook renders tables and inline
styles and little else, so the HTML footer is made of those. A footer is in the language
of the member it goes to (:func:`forum.mail_language.mail_language`).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from urllib.parse import quote

from forum import mail_links, private_replies
from forum.archive import human_size
from forum.languages import BILINGUAL, MEMBER_LANGUAGES
from forum.mail_language import SEPARATOR, translations
from forum.site import Site
from forum.subjects import strip_prefixes
from mailgateway.outgoing.post_views import PostView
from mailgateway.outgoing.rendering import one_line


def shown_author(view: PostView, language: str = "en") -> str:
    # An address in a display name reads like a spoofed sender to filters and people alike.
    # Nor is the author's address shown when the name is one (or missing), unless they chose.
    name = one_line(view.author_name)
    if not name or "@" in name:
        name = one_line(view.author_email) if view.author_shows_address else ""
    _ = translations(language).gettext
    return name.replace("@", " at ") or _("Someone")


def _linked(view: PostView, site: Site, language: str) -> list[tuple[str, str]]:
    """(label, URL) of the attachments too big to travel with the mail."""
    limit = site.settings.delivery.attach_max_bytes
    return [
        (
            f"{one_line(a.filename)} ({human_size(a.size)})",
            mail_links.in_language(site.url(f"/a/{a.id}/{quote(a.filename)}"), language),
        )
        for a in view.attachments
        if a.size > limit
    ]


def _private_address(view: PostView, site: Site, language: str) -> str:
    """Where "reply privately" writes: the author's own address only if they chose to show
    it, otherwise the relay (""  when the post has no author among the members)."""
    if view.author_shows_address and view.author_email:
        return view.author_email
    if view.author_id is not None:
        return private_replies.post_address(site.signer, view.community.slug, site.mail_domain, view.id, language)
    return ""


def _mailto(view: PostView, address: str) -> str:
    """A link writing to ``address`` about the post, for HTML; plain text shows the address
    alone, which mail programs make a link of too."""
    subject = quote("Re: " + strip_prefixes(one_line(view.subject)))
    return f"mailto:{quote(address, safe='@+')}?subject={subject}"


def _reply_label(view: PostView, language: str) -> str:
    if language == BILINGUAL:  # whole in each language: "Someone" is a phrase of its own
        return SEPARATOR.join(_reply_label(view, each) for each in MEMBER_LANGUAGES)
    _ = translations(language).gettext
    return _("Reply privately to %(name)s") % {"name": shown_author(view, language)}


def _leave_label(view: PostView, language: str) -> str:
    _ = translations(language).gettext
    return _("Leave %(name)s") % {"name": one_line(view.community.name)}


@dataclass(frozen=True)
class Links:
    """The footer's web links, in the reader's language (:mod:`forum.mail_links`)."""

    post: str
    membership: str
    leave: str

    @classmethod
    def of(cls, view: PostView, site: Site, unsubscribe_token: str, language: str) -> Links:
        slug = view.community.slug
        return cls(
            *(
                mail_links.in_language(site.url(path), language)
                for path in (
                    mail_links.post_path(slug, view.thread_id, view.id, language),
                    mail_links.membership_path(slug, language),
                    mail_links.unsubscribe_path(unsubscribe_token, language),
                )
            )
        )


def text_footer(view: PostView, site: Site, unsubscribe_token: str, language: str = "en") -> str:
    _ = translations(language).gettext
    links = Links.of(view, site, unsubscribe_token, language)
    lines = ["-- "]
    linked = _linked(view, site, language)
    if linked:
        lines.append(_("Attachments too large for email:"))
        lines += [f"  {label}: {url}" for label, url in linked]
    view_label = _("View on the web")
    lines.append(f"{view_label}: {links.post}")
    if address := _private_address(view, site, language):
        lines.append(f"{_reply_label(view, language)}: {address}")
    delivery_label = _("Change your delivery")
    lines.append(f"{delivery_label}: {links.membership}")
    lines.append(f"{_leave_label(view, language)}: {links.leave}")
    return "\r\n".join(lines)


def html_footer(view: PostView, site: Site, unsubscribe_token: str, language: str = "en") -> str:
    _ = translations(language).gettext
    links = Links.of(view, site, unsubscribe_token, language)

    def link(url: str, label: str) -> str:
        return f'<a href="{html.escape(url)}" style="color:#666666;">{html.escape(label)}</a>'

    anchors = [link(links.post, _("View on the web"))]
    if address := _private_address(view, site, language):
        anchors.append(link(_mailto(view, address), _reply_label(view, language)))
    anchors.append(link(links.membership, _("Change your delivery")))
    anchors.append(link(links.leave, _leave_label(view, language)))
    rows = []
    linked = _linked(view, site, language)
    if linked:
        attachments = _("Attachments too large for email:")
        rows.append(_FOOTER_ROW.format(f"{html.escape(attachments)} " + ", ".join(link(u, t) for t, u in linked)))
    rows.append(_FOOTER_ROW.format(" &middot;\r\n".join(anchors)))
    return _FOOTER_TABLE.format(rows="\r\n".join(rows))


_FOOTER_TABLE = (
    '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0"><tr>\r\n'
    '<td style="padding:8px 16px 16px 16px;border-top:1px solid #dddddd;font-family:Arial,Helvetica,sans-serif;'
    'font-size:12px;line-height:1.5;color:#666666;">\r\n{rows}\r\n</td></tr></table>'
)
_FOOTER_ROW = '<p style="margin:0 0 4px 0;">{}</p>'
