"""A digest as a member receives it: queued by a run, sent by the delivery worker to a real
SMTP sink, parsed back, and every link in it checked (against the web archive's routes
when the web app can be imported)."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from html.parser import HTMLParser
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_date
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker as SessionMaker

from digest.run import Digests
from forum import private_replies, tokens
from forum.config import Settings
from forum.db import make_sessionmaker
from forum.models import Delivery, OutboxItem, OutboxStatus, Post
from forum.posting import Draft, community_by_slug, submit_post
from forum.site import Site
from forum.times import readable
from mailgateway.addresses import read_reply_token, reply_address
from mailgateway.outgoing import rendering
from mailgateway.outgoing.delivery import DeliveryWorker
from tests.support import SmtpSink, browser_session, make_community, make_member
from web.app import create_app
from web.auth import SESSION_KEY

pytestmark = pytest.mark.integration

AUTHOR = "alice@council.example"
READER = "dan@council.example"
BASE = "http://127.0.0.1:8080"
LINK_RULES = [  # the web archive's URLs, as digests may use them
    re.compile(rf"{BASE}/c/(?P<slug>[a-z0-9-]+)/"),
    re.compile(rf"{BASE}/c/(?P<slug>[a-z0-9-]+)/t/(?P<thread>\d+)"),
    re.compile(rf"{BASE}/c/(?P<slug>[a-z0-9-]+)/t/(?P<thread>\d+)#post-(?P<post>\d+)"),
    re.compile(rf"{BASE}/c/(?P<slug>[a-z0-9-]+)/membership"),
    re.compile(rf"{BASE}/unsubscribe/(?P<token>[a-z2-7]+)"),
]


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.hrefs.append(dict(attrs)["href"] or "")


@dataclass(frozen=True)
class Delivered:
    message: EmailMessage
    text: str
    html: str
    hrefs: list[str]
    reader_id: int
    posts: dict[str, Post]  # by subject
    post_urls: set[str]


@pytest.fixture
def delivered(
    make_settings: Callable[..., Settings], engine: Engine, sessionmaker: SessionMaker[Session], smtp_sink: SmtpSink
) -> Delivered:
    return digest_for_dan(make_settings, engine, sessionmaker, smtp_sink)


def digest_for_dan(
    make_settings: Callable[..., Settings],
    engine: Engine,
    sessionmaker: SessionMaker[Session],
    smtp_sink: SmtpSink,
    language: str | None = None,
    plain_text: bool = False,
) -> Delivered:
    """Dan (whose language for mail is ``language``, and who takes ``plain_text`` only) takes housing (public) and planning
    (private) daily; three posts; one digest sent."""
    site = Site.from_settings(
        make_settings(smtp_out={"port": smtp_sink.port, "connections": 2}, digest={"timezone": "UTC"})
    )
    with sessionmaker.begin() as session:
        for slug, private in (("housing", False), ("planning", True)):
            community = make_community(session, slug, private=private)
            make_member(session, community, AUTHOR)
            reader = make_member(session, community, READER, delivery=Delivery.daily)
            reader.user.language = language
            reader.user.plain_text = plain_text
            reader_id = reader.user_id
    runner = Digests(site, engine)
    runner.run(Delivery.daily, datetime(2025, 1, 14, 12, tzinfo=UTC))  # Dan's first digest: the next morning
    posts: dict[str, Post] = {}
    for slug, subject, reply_to in (
        ("housing", "Damp in council flats", None),
        ("housing", "Re: Damp in council flats", "Damp in council flats"),
        ("planning", "Local plan consultation", None),
    ):
        with sessionmaker.begin() as session:
            parent = posts[reply_to].id if reply_to else None
            posts[subject] = submit_post(
                session,
                Draft(
                    community=slug,
                    author_email=AUTHOR,
                    author_name="Alice Adviser",
                    subject=subject,
                    body=f"{subject}: what do you think?",
                    parent_id=parent,
                ),
                site,
            ).post
    assert runner.run(Delivery.daily, datetime(2025, 1, 15, 7, tzinfo=UTC)).queued == 1
    message, text, html = deliver(site, sessionmaker, smtp_sink)
    links = Links()
    links.feed(html)
    slugs = {
        "Damp in council flats": "housing",
        "Re: Damp in council flats": "housing",
        "Local plan consultation": "planning",
    }
    urls = {f"{BASE}/c/{slugs[s]}/t/{p.thread_id}#post-{p.id}" for s, p in posts.items()}
    return Delivered(message, text, html, links.hrefs, reader_id, posts, urls)


def deliver(site: Site, sessionmaker: SessionMaker[Session], smtp_sink: SmtpSink) -> tuple[EmailMessage, str, str]:
    """Run the delivery worker until the one digest queued is sent to Dan: (the message,
    its plain text, its HTML)."""

    async def send() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(DeliveryWorker(site, sessionmaker).run(stop))
        deadline = time.monotonic() + 15
        while not smtp_sink.messages or not settled(sessionmaker):
            assert time.monotonic() < deadline, "the digest was not delivered"
            await asyncio.sleep(0.02)
        stop.set()
        await task

    asyncio.run(send())
    [received] = smtp_sink.messages
    assert received.rcpt_tos == [READER]
    message = received.message
    text_part, html_part = message.get_body(("plain",)), message.get_body(("html",))
    assert text_part is not None
    return message, text_part.get_content(), html_part.get_content() if html_part is not None else ""


def settled(sessionmaker: SessionMaker[Session]) -> bool:
    with sessionmaker() as session:
        return all(row.status is OutboxStatus.done for row in session.scalars(select(OutboxItem)))


def test_a_digest_is_a_list_mail_with_one_click_unsubscribe(
    delivered: Delivered, site: Site, sessionmaker: SessionMaker[Session]
) -> None:
    message = delivered.message
    assert message["Subject"] == "Daily digest: 3 new posts in 2 communities"
    assert message["From"] == "Listbridge <noreply@lists.example.org>"
    assert message["To"] == READER
    assert message.get_content_type() == "multipart/alternative"
    assert message["List-Id"] == "Housing <housing.lists.example.org>", "the community it opens with"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["Auto-Submitted"] == "auto-generated" and message["Precedence"] == "list"
    with sessionmaker() as session:
        housing = community_by_slug(session, "housing")
    token = rendering.unsubscribe_token(site, delivered.reader_id, housing.id)
    assert str(message["List-Unsubscribe"]).startswith(f"<{rendering.unsubscribe_url(site, token)}>")
    assert site.signer.verify(tokens.UNSUBSCRIBE, token, count=2) == (delivered.reader_id, housing.id)
    assert "Damp in council flats" in delivered.text and "Local plan consultation" in delivered.text


def test_a_welsh_members_digest_is_in_welsh(
    make_settings: Callable[..., Settings], engine: Engine, sessionmaker: SessionMaker[Session], smtp_sink: SmtpSink
) -> None:
    welsh = digest_for_dan(make_settings, engine, sessionmaker, smtp_sink, language="cy")

    assert welsh.message["Subject"] == "Crynodeb dyddiol: 3 neges newydd mewn 2 cymuned"
    for body in (welsh.text, welsh.html):
        assert "Dydd Mercher 15 Ionawr 2025" in body, "the date in Welsh"
        assert "Ateb yr edefyn hwn drwy e-bost" in body and "Gadael " in body
        for english in ("Reply to this thread", "Change your delivery", "Leave ", "Daily digest", "You get this"):
            assert english not in body
    written = welsh.posts["Local plan consultation"].created_at
    assert readable(written, ZoneInfo("UTC"), "cy") in welsh.text, "each post's time in Welsh"
    assert format_date(written, "MMM", locale="cy") in welsh.text
    assert "Damp in council flats: what do you think?" in welsh.text, "what people wrote is theirs"


def test_a_plain_text_members_digest_is_its_text_alone(
    make_settings: Callable[..., Settings], engine: Engine, sessionmaker: SessionMaker[Session], smtp_sink: SmtpSink
) -> None:
    plain = digest_for_dan(make_settings, engine, sessionmaker, smtp_sink, plain_text=True)

    assert plain.message.get_content_type() == "text/plain" and plain.html == ""
    assert "Damp in council flats: what do you think?" in plain.text and "Local plan consultation" in plain.text
    assert plain.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_reply_links_name_the_member_and_the_threads_newest_post(delivered: Delivered, site: Site) -> None:
    mailtos = [urlsplit(href) for href in delivered.hrefs if href.startswith("mailto:") and "-private+" not in href]
    assert len(mailtos) == 2, "one per thread"
    newest = {
        "housing": delivered.posts["Re: Damp in council flats"],
        "planning": delivered.posts["Local plan consultation"],
    }
    for mailto in mailtos:
        address = unquote(mailto.path)
        slug = address.split("+")[0]
        assert address == reply_address(site.signer, slug, site.mail_domain, delivered.reader_id, newest[slug].id), (
            "the same address a personal copy's Reply-To carries"
        )
        assert read_reply_token(site.signer, address.split("+")[1].split("@")[0]) == (
            delivered.reader_id,
            newest[slug].id,
        )
        assert address in delivered.text
    assert unquote(mailtos[0].query) == "subject=Re: Damp in council flats"


def test_each_post_has_a_private_reply_link_through_the_relay(delivered: Delivered, site: Site) -> None:
    relays = [unquote(urlsplit(href).path) for href in delivered.hrefs if "-private+" in href]
    named = {private_replies.read_token(site.signer, address.split("+")[1].split("@")[0]).post_id for address in relays}
    assert named == {post.id for post in delivered.posts.values()}, "one per post, naming it"
    assert all(address in delivered.text for address in relays)
    assert AUTHOR not in delivered.text + delivered.html, "the author's address is in no link"


def test_every_web_link_follows_the_archives_url_rules(delivered: Delivered, site: Site) -> None:
    web_links = [href for href in delivered.hrefs if not href.startswith("mailto:")]
    for href in web_links:
        assert any(rule.fullmatch(href) for rule in LINK_RULES), href
        assert href in delivered.text or "#" not in href, "every post's link is in the plain text too"
    assert delivered.post_urls <= set(web_links)
    unsubscribes = [href for href in web_links if "/unsubscribe/" in href]
    assert len(unsubscribes) == 2 and all(
        site.signer.verify(tokens.UNSUBSCRIBE, href.rsplit("/", 1)[1], count=2)[0] == delivered.reader_id
        for href in unsubscribes
    )


def test_every_link_resolves_in_the_web_archive(delivered: Delivered, settings: Settings, engine: Engine) -> None:
    try:
        from web.app import create_app
    except ImportError as exc:  # pragma: no cover - only while the web archive is being written
        pytest.skip(f"web.app is not importable ({exc}); the links were checked against the URL rules only")
    app = create_app(settings)
    try:
        client = app.test_client()
        key = browser_session(make_sessionmaker(engine), delivered.reader_id)  # signed in as Dan
        with client.session_transaction() as cookie:
            cookie[SESSION_KEY] = key
        for href in {href for href in delivered.hrefs if not href.startswith("mailto:")}:
            url = urlsplit(href)
            response = client.get(url.path)
            assert response.status_code == 200, f"{href}: {response.status_code}"
            if url.fragment:
                assert f'id="{url.fragment}"'.encode() in response.data, f"{href}: no such anchor on the page"
    finally:
        app.extensions["listbridge"].sessions.kw["bind"].dispose()


class Shown(HTMLParser):
    """What a mail client shows of HTML: its text, entities read once; and the tags."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text = ""
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text += data


def test_what_people_wrote_is_escaped_once_in_html_and_verbatim_in_text(
    make_settings: Callable[..., object], engine: Engine, sessionmaker: SessionMaker[Session], smtp_sink: SmtpSink
) -> None:
    site_name = 'Tom & Jerry\'s "Forum" <b>'
    name = "Rents & \"Repairs\" <i>O'Neil's</i>"
    subject = "<script>alert(\"x\" & 'y')</script> &amp; rents"
    author = 'Ann "Nan" O\'Hara & <Co>'
    settings = make_settings(smtp_out={"port": smtp_sink.port}, site={"name": site_name}, digest={"timezone": "UTC"})
    site = Site.from_settings(settings)  # type: ignore[arg-type]
    with sessionmaker.begin() as session:
        community = make_community(session, "housing")
        community.name = name
        make_member(session, community, AUTHOR).user.display_name = author
        make_member(session, community, READER, delivery=Delivery.daily)
    runner = Digests(site, engine)
    runner.run(Delivery.daily, datetime(2025, 1, 14, 12, tzinfo=UTC))
    with sessionmaker.begin() as session:
        submit_post(
            session,
            Draft(community="housing", author_email=AUTHOR, author_name="", subject=subject, body="Fine."),
            site,
        )
    assert runner.run(Delivery.daily, datetime(2025, 1, 15, 7, tzinfo=UTC)).queued == 1
    _, text, html = deliver(site, sessionmaker, smtp_sink)
    shown = Shown()
    shown.feed(html)
    shown.close()
    wrote = [
        f"{site_name}, Wednesday 15 January 2025",
        f"\n[new] {subject}\r\n",
        f"  {author}, ",
        f"Reply privately to {author}: ",
        f"Change your delivery for {name}: ",
        f"Leave {name}: ",
    ]
    assert [phrase for phrase in wrote if phrase not in text] == []
    assert "script" not in shown.tags and "i" not in shown.tags and "b" not in shown.tags
    assert [
        phrase
        for phrase in (
            site_name,
            subject,
            author,
            f"Change your delivery for {name}",
            f"Leave {name}",
            f"from {site_name} because",
        )
        if phrase not in shown.text
    ] == []
    assert shown.text.count(name) == 3, "the heading, changing delivery and leaving"
    assert shown.text.count("&amp;") == 1, "the one its author wrote"


def test_a_welsh_members_digest_links_open_welsh_pages_named_in_welsh(
    make_settings: Callable[..., Settings], engine: Engine, sessionmaker: SessionMaker[Session], smtp_sink: SmtpSink
) -> None:
    """Every web link carries ?lang=cy and no English word in its path; each opens its page
    in Welsh (a post's own address leads to its place in its thread)."""
    welsh = digest_for_dan(make_settings, engine, sessionmaker, smtp_sink, language="cy")
    app = create_app(make_settings())
    try:
        client = app.test_client()
        key = browser_session(make_sessionmaker(engine), welsh.reader_id)
        with client.session_transaction() as cookie:
            cookie[SESSION_KEY] = key
        links = {href for href in welsh.hrefs if not href.startswith("mailto:")}
        assert links and all(urlsplit(href).query == "lang=cy" for href in links), links
        for english in ("/membership", "/unsubscribe/", "#post-", "-private+"):
            assert english not in welsh.text
        for href in links:
            url = urlsplit(href)
            response = client.get(f"{url.path}?{url.query}", follow_redirects=True)
            assert response.status_code == 200 and b'<html lang="cy"' in response.data, href
    finally:
        app.extensions["listbridge"].sessions.kw["bind"].dispose()
