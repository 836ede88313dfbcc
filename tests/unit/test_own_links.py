"""Our own copies quoted back: footers dropped, personal tokens neutralised.

The copies quoted here are rendered by :mod:`mailgateway.outgoing.compose` itself, so what is
recognised is what the site really sends, quoted the ways mail clients quote.
"""

from __future__ import annotations

import email
import email.policy
from dataclasses import replace
from datetime import UTC, datetime
from email.message import EmailMessage

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker as SessionMaker

from forum.models import Attachment
from forum.site import Site
from mailgateway.incoming import processing, spooling
from mailgateway.outgoing import compose, rendering
from mailgateway.outgoing.post_views import CommunityInfo, PostView
from mailgateway.text.htmltext import html_to_text
from mailgateway.text.own_links import OwnLinks
from tests.support import make_community, make_member

MEMBER = 7
VIEW = PostView(
    id=34,
    community=CommunityInfo(3, "housing", "Housing Advice"),
    thread_id=12,
    author_name="Alice Example",
    author_email="alice@council.example",
    message_id="q2@council.example",
    subject="Which GPS?",
    created_at=datetime(2026, 11, 28, 9, 30, tzinfo=UTC),
    text="We use a Trimble R2.",
    html="<p>We use a Trimble R2.</p>",
)


@pytest.fixture(params=["en", "cy", "bilingual"])
def copy(site: Site, request: pytest.FixtureRequest) -> EmailMessage:
    """A copy whose footer is in English, in Welsh, or in both (the community's language)."""
    view = replace(VIEW, community=replace(VIEW.community, language=request.param))
    return email.message_from_bytes(compose.compose_copy(view, site, MEMBER), policy=email.policy.default)


def footer_left(cleaned: str) -> bool:
    return "View on the web" in cleaned or "Gweld ar y we" in cleaned


def personal(site: Site, copy: EmailMessage) -> list[str]:
    """The member's tokens and the author's address, as the copy carries them."""
    unsubscribe = rendering.unsubscribe_token(site, MEMBER, VIEW.community.id)
    reply = copy["Reply-To"].addresses[0].addr_spec
    return [unsubscribe, reply.split("+")[1].split("@")[0], "alice@council.example", "Reply privately"]


def text_of(copy: EmailMessage, subtype: str) -> str:
    return copy.get_body((subtype,)).get_content().replace("\r\n", "\n")


def test_a_copy_quoted_with_angle_brackets_loses_its_footer(site: Site, copy: EmailMessage) -> None:
    quoted = "\n".join(f"> {line}" if line else ">" for line in text_of(copy, "plain").split("\n"))
    cleaned = OwnLinks.of(site).clean_text(f"Agreed.\n\nOn Sat, Alice wrote:\n{quoted}\n")
    assert cleaned.rstrip("> \n") == "Agreed.\n\nOn Sat, Alice wrote:\n> We use a Trimble R2."
    assert not [s for s in personal(site, copy) if s in cleaned]


def test_what_is_quoted_after_a_footer_stays(site: Site, copy: EmailMessage) -> None:
    quoted = "\n".join(f"> {line}" if line else ">" for line in text_of(copy, "plain").split("\n"))
    cleaned = OwnLinks.of(site).clean_text(f"Agreed.\n\n{quoted}\n>\n> Leave it with me, I will ask.\n")
    assert cleaned.endswith("> Leave it with me, I will ask.\n") and not footer_left(cleaned)


def test_a_copy_pasted_by_outlook_loses_its_footer(site: Site, copy: EmailMessage) -> None:
    """Outlook's plain text of an HTML copy: the footer's links as "label<url>", rewrapped."""
    rendered = html_to_text(text_of(copy, "html"))
    wrapped = rendered.replace(" · Change your delivery", " · Change your\ndelivery").replace(
        "/unsubscribe/", "/unsubscribe/\n"
    )
    cleaned = OwnLinks.of(site).clean_text(f"Thanks.\n\n-----Original Message-----\nSubject: Which GPS?\n\n{wrapped}")
    assert "We use a Trimble R2." in cleaned and not footer_left(cleaned)
    assert not [s for s in personal(site, copy) if s in cleaned]


def test_a_copy_quoted_in_html_loses_its_footer_table(site: Site, copy: EmailMessage) -> None:
    html = f"<p>Agreed.</p><blockquote>{text_of(copy, 'html')}</blockquote>"
    cleaned = OwnLinks.of(site).clean_html(html)
    assert "We use a Trimble R2." in cleaned and not footer_left(cleaned)
    assert not [s for s in personal(site, copy) if s in cleaned]


def test_tokens_left_anywhere_are_neutralised(site: Site, copy: EmailMessage) -> None:
    links = OwnLinks.of(site)
    token = rendering.unsubscribe_token(site, MEMBER, 3)
    reply = copy["Reply-To"].addresses[0].addr_spec
    base = site.settings.site.base_url.rstrip("/")
    pasted = (
        f"Unsubscribe me: {base}/unsubscribe/{token} or write to {reply.upper()}, "
        f"https://x.example/r?u={base.replace(':', '%3A').replace('/', '%2F')}%2Fsignin%2F{token} "
        f"housing-confirm+{token}@{site.mail_domain} and housing-bounces+bob=example.org@{site.mail_domain}"
    )
    cleaned = links.clean_text(pasted)
    assert token not in cleaned.lower() and "bob=example.org" not in cleaned
    assert f"write to HOUSING@{site.mail_domain.upper()}" in cleaned
    assert f"Unsubscribe me: {base}/ " in cleaned
    assert (
        links.clean_html(f'<a href="mailto:{reply}">reply</a>')
        == f'<a href="mailto:housing@{site.mail_domain}">reply</a>'
    )


def test_other_sites_and_our_own_plain_links_are_left_alone(site: Site) -> None:
    base = site.settings.site.base_url.rstrip("/")
    text = (
        f"See {base}/c/housing/t/12#post-34 and https://other.example/unsubscribe/abcdefghijklmnop, "
        f"write to housing@{site.mail_domain} or alice+lists@council.example."
    )
    assert OwnLinks.of(site).clean_text(text) == text


def test_a_copy_forwarded_as_attachment_is_published_without_its_tokens(
    site: Site, sessionmaker: SessionMaker[Session], copy: EmailMessage
) -> None:
    """Outlook's "Forward as attachment" posts the member's whole copy, headers and all."""
    with sessionmaker.begin() as session:
        make_member(session, make_community(session, "housing"), "bob@example.org")
    forward = EmailMessage()
    forward["From"], forward["To"], forward["Subject"] = "bob@example.org", "housing@lists.example.org", "FW: GPS"
    forward["Message-ID"] = "<fw-1@example.org>"
    forward.set_content("Forwarding this for the new starters.\n")
    forward.add_attachment(copy)
    with sessionmaker.begin() as session:
        inbound_id = spooling.spool(
            session, forward.as_bytes(), "bob@example.org", ["housing@lists.example.org"], "smtp"
        )
    with sessionmaker.begin() as session:
        [outcome] = processing.process(session, site, inbound_id)
    assert "posted" in outcome
    with sessionmaker() as session:
        [attachment] = session.scalars(select(Attachment)).all()
    published = site.blobs.get(attachment.sha256).decode()
    assert "We use a Trimble R2." in published and "View on the web" not in published
    assert not [s for s in personal(site, copy) if s in published]
