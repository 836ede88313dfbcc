"""The archive's pages through Flask's test client: what they show, what they never show.

Privacy first: a private community answers exactly as a missing one does (404) on every
page, feed, download and attachment, to visitors and to signed-in non-members alike.
"""

from __future__ import annotations

import mailbox
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from bs4 import BeautifulSoup
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker as SessionMaker
from werkzeug.test import TestResponse

from forum.models import Attachment, MemberStatus, Post, Role, User
from forum.posting import AttachmentData, Draft, submit_post
from forum.site import Site
from mailgateway.incoming import processing, spooling
from mailgateway.outgoing import post_views, rendering
from tests.support import make_community, make_member
from web.archive.views import served_type

ANN, BOB, DAN = "ann@example.org", "bob@example.org", "dan@example.org"
ATOM = "{http://www.w3.org/2005/Atom}"
SignIn = Callable[[int | None], None]


@pytest.fixture
def people(sessionmaker: SessionMaker[Session]) -> dict[str, int]:
    """housing (public): Ann facilitator, Bob; board (private): Ann, Dan pending; garden (moderated): Bob."""
    with sessionmaker.begin() as session:
        housing = make_community(session, "housing")
        housing.description = "Tenants helping tenants."
        board = make_community(session, "board", private=True)
        garden = make_community(session, "garden", policy="moderated")
        ann = make_member(session, housing, ANN, role=Role.facilitator).user_id
        make_member(session, board, ANN)
        dan = make_member(session, board, DAN, status=MemberStatus.pending).user_id
        bob = make_member(session, housing, BOB).user_id
        make_member(session, garden, BOB)
    return {"ann": ann, "bob": bob, "dan": dan}


@pytest.fixture
def post(sessionmaker: SessionMaker[Session], site: Site, people: dict[str, int]) -> Callable[..., Post]:
    def make(
        subject: str = "Boiler", body: str = "Text.", *, author: str = ANN, community: str = "housing", **fields: Any
    ) -> Post:
        with sessionmaker.begin() as session:
            draft = Draft(community=community, author_email=author, subject=subject, body=body, **fields)
            return submit_post(session, draft, site).post

    return make


def page(response: TestResponse) -> BeautifulSoup:
    assert response.status_code == 200, response.text
    soup = BeautifulSoup(response.text, "html.parser")
    assert len(soup.find_all("h1")) == 1
    return soup


def attachment_ids(sessionmaker: SessionMaker[Session], post_id: int) -> list[int]:
    with sessionmaker() as session:
        return list(session.scalars(select(Attachment.id).where(Attachment.post_id == post_id).order_by(Attachment.id)))


class TestHome:
    def test_lists_public_communities_with_counts(self, client: FlaskClient, post: Callable[..., Post]) -> None:
        first = post("Damp")
        post("Re: Damp", author=BOB, parent_id=first.id)
        post("Secret", community="board")
        rows = {
            row.th.a.text: [td.text.strip() for td in row.find_all("td")]
            for row in page(client.get("/")).select("tbody tr")
        }
        assert list(rows) == ["Garden", "Housing"]
        assert rows["Housing"][:2] == ["2", "1"] and rows["Garden"][:2] == ["1", "0"]
        assert rows["Garden"][2] == "No posts yet"

    def test_members_see_their_private_communities(
        self, client: FlaskClient, sign_in: SignIn, people: dict[str, int]
    ) -> None:
        sign_in(people["ann"])
        soup = page(client.get("/"))
        assert [a.text for a in soup.select("tbody th > a")] == ["Board", "Garden", "Housing"]
        assert soup.select_one("thead th[scope=col]") is not None


class TestCommunityPage:
    def test_threads_with_counts_and_people(self, client: FlaskClient, post: Callable[..., Post]) -> None:
        first = post("Damp")
        post("Re: Damp", author=BOB, parent_id=first.id)
        post("Mould")
        soup = page(client.get("/c/housing/"))
        assert soup.h1.text == "Housing" and "Tenants helping tenants." in soup.text
        rows = [[cell.text.strip() for cell in row.find_all(["th", "td"])] for row in soup.select("tbody tr")]
        assert [r[:4] for r in rows] == [["Mould", "1", "Ann", "No replies yet"], ["Damp", "2", "Ann", "Bob"]]
        link = soup.select("tbody th a")[1]["href"]
        assert link == f"/c/housing/t/{first.thread_id}"
        assert soup.select_one("tbody time")["datetime"].endswith("Z")
        assert soup.select_one('link[rel=alternate][type="application/atom+xml"]')["href"] == "/c/housing/feed.atom"
        assert soup.find("a", href="/c/housing/feed.atom") is not None

    def test_mbox_link_only_for_members(self, client: FlaskClient, sign_in: SignIn, people: dict[str, int]) -> None:
        assert page(client.get("/c/housing/")).find("a", href="/c/housing/archive.mbox") is None
        sign_in(people["bob"])
        assert page(client.get("/c/housing/")).find("a", href="/c/housing/archive.mbox") is not None

    def test_pages_of_thirty(self, client: FlaskClient, post: Callable[..., Post]) -> None:
        for n in range(31):
            post(f"Thread {n}")
        first = page(client.get("/c/housing/"))
        assert len(first.select("tbody tr")) == 30
        assert first.find("a", rel="next")["href"] == "/c/housing/?page=2" and first.find("a", rel="prev") is None
        second = page(client.get("/c/housing/?page=2"))
        assert len(second.select("tbody tr")) == 1
        assert second.find("a", rel="prev")["href"] == "/c/housing/" and second.find("a", rel="next") is None
        assert client.get("/c/housing/?page=3").status_code == 404
        assert len(page(client.get("/c/housing/?page=first")).select("tbody tr")) == 30

    def test_the_list_archive_header_resolves(self, client: FlaskClient, site: Site, people: dict[str, int]) -> None:
        headers = dict(rendering.list_headers(site, post_views.CommunityInfo(1, "housing", "Housing"), None))
        archive_url = headers["List-Archive"][0].strip("<>")
        assert client.get(urlsplit(archive_url).path).status_code == 200


class TestThreadPage:
    def test_posts_in_order_with_permalinks_and_times(self, client: FlaskClient, post: Callable[..., Post]) -> None:
        first = post("Damp", "Anyone?")
        reply = post("Re: Damp", "Yes, me.", author=BOB, parent_id=first.id)
        soup = page(client.get(f"/c/housing/t/{first.thread_id}"))
        articles = soup.find_all("article")
        assert [a["id"] for a in articles] == [f"post-{first.id}", f"post-{reply.id}"]
        assert [a.h2.text for a in articles] == ["Ann", "Bob"]
        assert articles[1].find("a", href=f"#post-{reply.id}") is not None
        assert articles[0].time["datetime"] == first.created_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert "Yes, me." in articles[1].select_one(".post-body").text

    def test_a_merged_threads_old_address_redirects_to_the_thread_it_joined(
        self, client: FlaskClient, post: Callable[..., Post], sign_in: SignIn, people: dict[str, int]
    ) -> None:
        """A reply that came before its parent had a thread (and an Archived-At) of its own."""
        root = post("Damp", message_id="root@example.org")
        early = post("Re: Mould", author=BOB, message_id="early@example.org", references=("middle@example.org",))
        post("Re: Damp", message_id="middle@example.org", references=("root@example.org",))
        response = client.get(f"/c/housing/t/{early.thread_id}")
        assert response.status_code == 301
        assert urlsplit(response.headers["Location"]).path == f"/c/housing/t/{root.thread_id}"
        assert "early@example.org" not in response.text
        soup = page(client.get(f"/c/housing/t/{early.thread_id}", follow_redirects=True))
        assert f"post-{early.id}" in [a["id"] for a in soup.find_all("article")]

        # In a private community, a non-member gets the same 404 as for any missing thread.
        secret = post("Plans", community="board", message_id="plans@example.org")
        hidden = post(
            "Re: Minutes", community="board", message_id="late@example.org", references=("agenda@example.org",)
        )
        post("Re: Plans", community="board", message_id="agenda@example.org", references=("plans@example.org",))
        assert client.get(f"/c/board/t/{hidden.thread_id}").status_code == 404
        sign_in(people["ann"])
        moved = client.get(f"/c/board/t/{hidden.thread_id}")
        assert (moved.status_code, urlsplit(moved.headers["Location"]).path) == (301, f"/c/board/t/{secret.thread_id}")

    def test_the_archived_at_header_of_outgoing_mail_resolves(
        self, client: FlaskClient, site: Site, sessionmaker: SessionMaker[Session], post: Callable[..., Post]
    ) -> None:
        reply = post("Re: Damp", "Yes.", parent_id=post("Damp").id)
        with sessionmaker() as session:
            url = urlsplit(post_views.archived_at(post_views.load_post(session, reply.id), site))
        assert page(client.get(url.path)).find("article", id=url.fragment) is not None

    def test_held_and_rejected_posts_are_not_shown(
        self, client: FlaskClient, site: Site, sessionmaker: SessionMaker[Session], post: Callable[..., Post]
    ) -> None:
        from forum import moderation

        first = post("Seeds", "Swap?", author=BOB, community="garden")
        waiting = post("Re: Seeds", "Waiting reply", author=BOB, community="garden", parent_id=first.id)
        assert client.get(f"/c/garden/t/{first.thread_id}").status_code == 404  # nothing published yet
        with sessionmaker.begin() as session:
            moderation.approve(session, site, first.id)
        soup = page(client.get(f"/c/garden/t/{first.thread_id}"))
        assert len(soup.find_all("article")) == 1 and "Waiting reply" not in soup.text
        with sessionmaker.begin() as session:
            moderation.reject(session, waiting.id, "off topic")
        assert "Waiting reply" not in client.get(f"/c/garden/t/{first.thread_id}").text

    def test_quoted_text_is_folded(self, client: FlaskClient, post: Callable[..., Post]) -> None:
        shown = post("Damp", "My answer.", quoted="> the question\n> asked before")
        details = page(client.get(f"/c/housing/t/{shown.thread_id}")).find("details", class_="quoted")
        assert details.summary.text == "Show quoted text"
        assert "> the question" in details.pre.text and not details.has_attr("open")

    def test_the_signature_is_folded_under_an_honest_label(
        self, client: FlaskClient, post: Callable[..., Post]
    ) -> None:
        shown = post(
            "Damp",
            "My answer.\n\nBob",
            signature="Bob Hughes\nHousing Officer\nTel: 01632 960 412",
            quoted="> the question",
        )
        article = page(client.get(f"/c/housing/t/{shown.thread_id}")).article
        fold = article.find("details", class_="signature")
        assert not fold.has_attr("open") and "Tel: 01632 960 412" in fold.pre.text
        assert fold.summary.find(class_="when-closed").text == "Show signature"
        assert fold.summary.find(class_="when-open").text == "Hide signature"
        assert "Housing Officer" not in article.find("div", class_="post-body").text
        css = client.get("/static/style.css").text
        assert "details[open] > summary .when-closed" in css and "details:not([open]) > summary .when-open" in css

    def test_tracking_pixels_are_dropped_silently(self, client: FlaskClient, post: Callable[..., Post]) -> None:
        shown = post(
            "News",
            html='<p>Read this.<img src="https://news.example/o.gif?id=4" width="1" height="1">'
            '<img src="https://mailtrack.io/trace/x.png" alt="">'
            # a tracker's host however its URL is written: query or user before any path
            '<img src="https://pixel.watch?u=4" alt=""><img src="https://x@t.yesware.com/t.gif">'
            '<img src="https://www.example.gov.uk/leaflet.png" alt="leaflet" width="300"></p>',
        )
        soup = page(client.get(f"/c/housing/t/{shown.thread_id}"))
        links = [a["href"] for a in soup.select(".post-body a.remote-image")]
        assert links == ["https://www.example.gov.uk/leaflet.png"]
        assert not [tracker for tracker in ("o.gif", "mailtrack", "pixel.watch", "yesware") if tracker in str(soup)]

    def test_attachments_listed_with_size_and_type(
        self, client: FlaskClient, sessionmaker: SessionMaker[Session], post: Callable[..., Post]
    ) -> None:
        shown = post("Plans", attachments=(AttachmentData("site plan.pdf", "application/pdf", b"x" * 12_600),))
        [attachment_id] = attachment_ids(sessionmaker, shown.id)
        item = page(client.get(f"/c/housing/t/{shown.thread_id}")).select_one("ul.attachments li")
        assert item.a["href"] == f"/a/{attachment_id}/site%20plan.pdf" and item.a.text == "site plan.pdf"
        assert "12.3 KB" in item.text and "application/pdf" in item.text

    def test_inline_images_point_at_their_attachments(
        self, client: FlaskClient, sessionmaker: SessionMaker[Session], post: Callable[..., Post]
    ) -> None:
        shown = post(
            "Logo",
            html='<p>Our logo: <img src="cid:logo.123@mail.example" alt="Logo"></p>',
            attachments=(
                AttachmentData("logo.png", "image/png", b"\x89PNG", inline=True, content_id="<logo.123@mail.example>"),
            ),
        )
        [attachment_id] = attachment_ids(sessionmaker, shown.id)
        image = page(client.get(f"/c/housing/t/{shown.thread_id}")).select_one(".post-body img")
        assert image["src"] == f"/a/{attachment_id}/logo.png" and image["alt"] == "Logo"

    def test_remote_images_wait_for_consent(self, client: FlaskClient, post: Callable[..., Post]) -> None:
        shown = post("News", html='<p><img src="https://tracker.example/p.gif?u=1&amp;v=2" alt="pixel"></p>')
        url = f"/c/housing/t/{shown.thread_id}"
        response = client.get(url)
        soup = page(response)
        assert soup.select(".post-body img") == []
        link = soup.select_one(".post-body a.remote-image")
        assert link["href"] == "https://tracker.example/p.gif?u=1&v=2"
        assert link.text == "remote image: pixel (https://tracker.example/p.gif?u=1&v=2)"
        assert soup.find("a", string="Show remote images")["href"] == f"{url}?images=1"
        assert "https:" not in _directive(response, "img-src")
        consented = client.get(f"{url}?images=1")
        assert page(consented).select_one(".post-body img")["src"] == "https://tracker.example/p.gif?u=1&v=2"
        assert "https:" in _directive(consented, "img-src")

    def test_times_in_the_sites_zone_unless_the_reader_chose_another(
        self,
        client: FlaskClient,
        sign_in: SignIn,
        people: dict[str, int],
        sessionmaker: SessionMaker[Session],
        post: Callable[..., Post],
    ) -> None:
        """Visitors and members without a zone see the site's ([digest] timezone, Europe/London
        here): BST in summer, GMT in winter."""
        summer = post("Summer", created_at=datetime(2024, 7, 1, 12, 0, tzinfo=UTC))
        winter = post("Winter", created_at=datetime(2024, 1, 15, 12, 0, tzinfo=UTC))
        summer_url, winter_url = (f"/c/housing/t/{shown.thread_id}" for shown in (summer, winter))
        assert page(client.get(summer_url)).article.time.text == "1 Jul 2024, 13:00 BST"
        assert page(client.get(winter_url)).article.time.text == "15 Jan 2024, 12:00 GMT"
        listed = {t.text for t in page(client.get("/c/housing/")).find_all("time")}
        assert {"1 Jul 2024, 13:00 BST", "15 Jan 2024, 12:00 GMT"} <= listed
        sign_in(people["bob"])
        assert page(client.get(winter_url)).article.time.text == "15 Jan 2024, 12:00 GMT"
        with sessionmaker.begin() as session:
            session.get(User, people["bob"]).timezone = "America/New_York"
        moment = page(client.get(summer_url)).article.time
        assert (moment.text, moment["datetime"]) == ("1 Jul 2024, 08:00 EDT", "2024-07-01T12:00:00Z")

    def test_no_javascript_anywhere(self, client: FlaskClient, post: Callable[..., Post]) -> None:
        shown = post("Damp", quoted="> old")
        assert page(client.get(f"/c/housing/t/{shown.thread_id}")).find("script") is None


def _main(response: TestResponse) -> str:
    """The page's main content (the header holds a sign-out form whose CSRF token is timestamped)."""
    return str(BeautifulSoup(response.text, "html.parser").main)


def _directive(response: TestResponse, name: str) -> str:
    policy = response.headers["Content-Security-Policy"]
    return next(d for d in policy.split(";") if d.strip().startswith(name))


def assert_inert(markup: str) -> None:
    """No script element, event handler attribute or javascript: URL anywhere in ``markup``."""
    for tag in BeautifulSoup(markup, "html.parser").find_all(True):
        assert tag.name != "script", tag
        assert not any(name.lower().startswith("on") for name in tag.attrs), tag
        assert not any(str(tag.get(name, "")).strip().lower().startswith("javascript:") for name in ("href", "src")), (
            tag
        )


class TestXss:
    ATTACK = "<script>alert(1)</script><img src=x onerror=alert(2)>"

    def test_posts_subjects_names_and_file_names_are_inert(
        self, client: FlaskClient, sign_in: SignIn, people: dict[str, int], post: Callable[..., Post]
    ) -> None:
        shown = post(
            self.ATTACK,
            html=f'<p onclick="alert(3)">Hi <a href="javascript:alert(4)">x</a>{self.ATTACK}</p>',
            author_name=self.ATTACK,
            quoted=self.ATTACK,
            trusted=True,  # an import keeps the name it was given
            attachments=(AttachmentData(f'"><b>{self.ATTACK}.txt', "text/plain", b"x"),),
        )
        sign_in(people["ann"])
        for url in (
            "/",
            "/c/housing/",
            f"/c/housing/t/{shown.thread_id}",
            "/search?q=alert",
            f"/search?q={quote(self.ATTACK)}&author={quote(self.ATTACK)}&community={quote(self.ATTACK)}",
        ):
            assert_inert(client.get(url).text)
        thread_page = page(client.get(f"/c/housing/t/{shown.thread_id}"))
        assert thread_page.h1.text == self.ATTACK  # shown as text, not dropped
        assert thread_page.find("h2", class_="post-author").text == self.ATTACK
        for content in ET.fromstring(client.get("/c/housing/feed.atom").data).iter(f"{ATOM}content"):
            assert_inert(content.text or "")


class TestAttachmentDownloads:
    @pytest.mark.parametrize(
        ("declared", "served", "inline"),
        [
            ("image/png", "image/png", True),
            ("IMAGE/JPEG", "image/jpeg", True),
            ("application/pdf", "application/pdf", True),
            ("text/html", "text/plain; charset=utf-8", False),
            ("image/svg+xml", "text/plain; charset=utf-8", False),
            ("application/xhtml+xml", "text/plain; charset=utf-8", False),
            ("text/javascript", "text/plain; charset=utf-8", False),
            ("application/vnd.ms-excel", "application/vnd.ms-excel", False),
            ("text/plain; charset=latin-1", "text/plain", False),
            ("not a type", "application/octet-stream", False),
            ("", "application/octet-stream", False),
        ],
    )
    def test_served_type(self, declared: str, served: str, inline: bool) -> None:
        assert served_type(declared) == (served, inline)

    def test_images_inline_and_html_as_an_inert_download(
        self, client: FlaskClient, sessionmaker: SessionMaker[Session], post: Callable[..., Post]
    ) -> None:
        shown = post(
            "Files",
            attachments=(
                AttachmentData("photo.png", "image/png", b"\x89PNG\r\n"),
                AttachmentData("page.html", "text/html", b"<script>alert(1)</script>"),
            ),
        )
        photo_id, page_id = attachment_ids(sessionmaker, shown.id)
        photo = client.get(f"/a/{photo_id}/photo.png")
        assert photo.status_code == 200 and photo.data == b"\x89PNG\r\n"
        assert photo.mimetype == "image/png" and photo.headers["Content-Disposition"].startswith("inline")
        assert photo.headers["X-Content-Type-Options"] == "nosniff"
        html_file = client.get(f"/a/{page_id}/page.html")
        assert html_file.data == b"<script>alert(1)</script>" and html_file.mimetype == "text/plain"
        assert (
            html_file.headers["Content-Disposition"].startswith("attachment")
            and "page.html" in html_file.headers["Content-Disposition"]
        )
        assert "sandbox" in html_file.headers["Content-Security-Policy"]
        assert html_file.headers["X-Content-Type-Options"] == "nosniff"

    def test_the_link_in_mail_for_large_files_resolves(
        self, client: FlaskClient, sessionmaker: SessionMaker[Session], post: Callable[..., Post]
    ) -> None:
        name = "Plan d’étage v2 (final).pdf"
        shown = post("Plans", attachments=(AttachmentData(name, "application/pdf", b"%PDF-1.4"),))
        [attachment_id] = attachment_ids(sessionmaker, shown.id)
        assert client.get(f"/a/{attachment_id}/{quote(name)}").data == b"%PDF-1.4"  # as compose writes it

    def test_attachments_of_held_posts_are_not_served(
        self,
        client: FlaskClient,
        sign_in: SignIn,
        people: dict[str, int],
        sessionmaker: SessionMaker[Session],
        post: Callable[..., Post],
    ) -> None:
        held = post(
            "Seeds", author=BOB, community="garden", attachments=(AttachmentData("list.txt", "text/plain", b"seeds"),)
        )
        [attachment_id] = attachment_ids(sessionmaker, held.id)
        sign_in(people["bob"])  # not even to their author: the archive shows published posts only
        assert client.get(f"/a/{attachment_id}/list.txt").status_code == 404


class TestFeed:
    def test_atom_with_the_latest_fifty_posts(
        self, client: FlaskClient, sessionmaker: SessionMaker[Session], post: Callable[..., Post]
    ) -> None:
        made = [post(f"Post {n}", f"Body {n}\x0c with a form feed") for n in range(52)]
        logo = post(
            "Logo",
            html='<p><img src="cid:logo@x" alt="Logo"><img src="http://t.example/p.gif"></p>',
            attachments=(AttachmentData("logo.png", "image/png", b"\x89PNG", inline=True, content_id="logo@x"),),
        )
        response = client.get("/c/housing/feed.atom")
        assert response.status_code == 200 and response.mimetype == "application/atom+xml"
        feed = ET.fromstring(response.data)
        assert feed.tag == f"{ATOM}feed" and feed.findtext(f"{ATOM}title") == "Housing"
        assert feed.findtext(f"{ATOM}id") and feed.findtext(f"{ATOM}updated")
        entries = feed.findall(f"{ATOM}entry")
        assert len(entries) == 50
        newest = entries[0]
        assert newest.findtext(f"{ATOM}title") == "Logo"
        assert newest.findtext(f"{ATOM}author/{ATOM}name") == "Ann"
        assert newest.find(f"{ATOM}link").get("href") == f"http://localhost/c/housing/t/{logo.thread_id}#post-{logo.id}"
        content = newest.find(f"{ATOM}content")
        [logo_id] = attachment_ids(sessionmaker, logo.id)
        assert content.get("type") == "html" and f'src="http://localhost/a/{logo_id}/logo.png"' in (content.text or "")
        assert '<img src="http://t.example' not in (content.text or "")
        assert entries[1].findtext(f"{ATOM}title") == made[-1].subject
        assert len({e.findtext(f"{ATOM}id") for e in entries}) == 50


RAW = (
    b"From: Bob Example <bob@example.org>\r\n"
    b"To: housing@lists.example.org\r\n"
    b"Subject: Damp in the flat\r\n"
    b"Message-ID: <damp-1@example.org>\r\n"
    b"Date: Wed, 01 May 2024 09:00:00 +0000\r\n"
    b"\r\n"
    b"Has anyone dealt with damp?\r\n"
)


class TestMbox:
    @pytest.fixture
    def emailed(self, sessionmaker: SessionMaker[Session], site: Site, people: dict[str, int]) -> Post:
        with sessionmaker.begin() as session:
            inbound_id = spooling.spool(session, RAW, BOB, ["housing@lists.example.org"], "smtp")
        with sessionmaker.begin() as session:
            processing.process(session, site, inbound_id)
        with sessionmaker() as session:
            return session.scalars(select(Post)).one()

    def read(self, response: TestResponse, tmp_path: Path) -> mailbox.mbox:
        assert response.status_code == 200 and response.mimetype == "application/mbox"
        assert response.headers["Content-Disposition"].startswith("attachment; filename=")
        (tmp_path / "got.mbox").write_bytes(response.data)
        return mailbox.mbox(tmp_path / "got.mbox")

    def test_members_download_threads_and_communities(
        self,
        client: FlaskClient,
        sign_in: SignIn,
        tmp_path: Path,
        people: dict[str, int],
        emailed: Post,
        post: Callable[..., Post],
    ) -> None:
        post("Re: Damp in the flat", "Ventilate.", parent_id=emailed.id)
        post("Another thread")
        sign_in(people["bob"])
        response = client.get(f"/c/housing/t/{emailed.thread_id}.mbox")
        assert response.is_streamed
        thread = self.read(response, tmp_path)
        assert len(thread) == 2 and thread[0]["Message-ID"] == "<damp-1@example.org>"
        assert thread[0].get_payload().strip() == "Has anyone dealt with damp?"
        assert len(self.read(client.get("/c/housing/archive.mbox"), tmp_path)) == 3

    def test_only_facilitators_download_the_messages_as_received(
        self,
        client: FlaskClient,
        sign_in: SignIn,
        tmp_path: Path,
        site: Site,
        people: dict[str, int],
        sessionmaker: SessionMaker[Session],
        emailed: Post,
    ) -> None:
        """A reply quoting its copy whole carries the replier's unsubscribe link: the archive
        shows the reply without it, and so must the members' download."""
        token = rendering.unsubscribe_token(site, people["bob"], emailed.community_id)
        leave = rendering.unsubscribe_url(site, token)
        reply = (
            b"From: Bob Example <bob@example.org>\r\nTo: housing@lists.example.org\r\n"
            b"Subject: Re: Damp in the flat\r\nMessage-ID: <damp-2@example.org>\r\n"
            b"In-Reply-To: <damp-1@example.org>\r\n\r\nOpen the windows.\r\n\r\n"
            b"> Has anyone dealt with damp?\r\n> -- \r\n> Leave Housing: " + leave.encode() + b"\r\n"
        )
        with sessionmaker.begin() as session:
            inbound_id = spooling.spool(session, reply, BOB, ["housing@lists.example.org"], "smtp")
        with sessionmaker.begin() as session:
            processing.process(session, site, inbound_id)
        sign_in(people["bob"])
        shown = client.get(f"/c/housing/t/{emailed.thread_id}")
        assert "Open the windows." in shown.text and token not in shown.text
        as_member = self.read(client.get(f"/c/housing/t/{emailed.thread_id}.mbox"), tmp_path)
        assert [m["Message-ID"] for m in as_member] == ["<damp-1@example.org>", "<damp-2@example.org>"]
        assert all(token.encode() not in as_member.get_bytes(key) for key in as_member.iterkeys())
        sign_in(people["ann"])
        as_facilitator = self.read(client.get(f"/c/housing/t/{emailed.thread_id}.mbox"), tmp_path)
        assert [as_facilitator.get_bytes(key) for key in as_facilitator.iterkeys()] == [RAW, reply]

    def test_non_members_are_told_downloads_are_for_members(
        self, client: FlaskClient, sign_in: SignIn, people: dict[str, int], emailed: Post
    ) -> None:
        for viewer in (None, people["dan"]):
            sign_in(viewer)
            for url in (f"/c/housing/t/{emailed.thread_id}.mbox", "/c/housing/archive.mbox"):
                refused = client.get(url)
                assert refused.status_code == 403 and b"damp-1" not in refused.data
                assert "for members" in refused.text


class TestSearchPage:
    def test_form_controls_are_labelled(self, client: FlaskClient) -> None:
        soup = page(client.get("/search"))
        form = soup.find("form", class_="search-form")
        for control in form.find_all(["input", "select"]):
            assert soup.find("label", attrs={"for": control["id"]}) is not None, control
        assert {c["name"] for c in form.find_all("input")} == {"q", "community", "author", "from", "to"}

    def test_results_are_highlighted_and_link_to_the_post(self, client: FlaskClient, post: Callable[..., Post]) -> None:
        in_body = post("Heating", "The boiler costs < £500 & rising.")
        in_subject = post("Boiler servicing", "Who?")
        soup = page(client.get("/search?q=boiler"))
        results = soup.select("ol.results li")
        assert [r.a["href"] for r in results] == [
            f"/c/housing/t/{in_subject.thread_id}#post-{in_subject.id}",
            f"/c/housing/t/{in_body.thread_id}#post-{in_body.id}",
        ]
        assert results[0].h3.mark.text == "Boiler"
        assert results[1].select_one(".snippet mark").text == "boiler"
        assert "&lt; £500 &amp; rising" in str(results[1].select_one(".snippet"))
        assert soup.find("h2", id="results-heading").text == "2 results"

    def test_filters_and_pages_keep_each_other(self, client: FlaskClient, post: Callable[..., Post]) -> None:
        for n in range(21):
            post("Compost", f"Compost tip {n}.", author=BOB)
        post("Compost", "Compost elsewhere.", community="garden", author=BOB)
        first = page(client.get("/search?q=compost&community=housing&author=bob&from=2000-01-01"))
        assert len(first.select("ol.results li")) == 20
        next_url = first.find("a", rel="next")["href"]
        assert urlsplit(str(next_url)).path == "/search"
        for kept in ("q=compost", "community=housing", "author=bob", "from=2000-01-01", "page=2"):
            assert kept in next_url
        second = page(client.get(next_url))
        assert len(second.select("ol.results li")) == 1 and second.find("a", rel="prev") is not None
        assert page(client.get("/search?q=compost&to=2000-01-01")).select("ol.results li") == []

    def test_dates_searched_are_days_in_the_readers_zone(
        self,
        client: FlaskClient,
        sign_in: SignIn,
        people: dict[str, int],
        sessionmaker: SessionMaker[Session],
        post: Callable[..., Post],
    ) -> None:
        """Half past midnight on 1 July in London is still 30 June in UTC: a visitor asking
        for 1 July finds it, and one asking for 30 June does not."""
        post("Fete", "Fete tonight.", created_at=datetime(2025, 6, 30, 23, 30, tzinfo=UTC))
        assert len(page(client.get("/search?q=fete&from=2025-07-01&to=2025-07-01")).select("ol.results li")) == 1
        assert page(client.get("/search?q=fete&from=2025-06-30&to=2025-06-30")).select("ol.results li") == []
        with sessionmaker.begin() as session:
            session.get(User, people["bob"]).timezone = "UTC"
        sign_in(people["bob"])
        assert len(page(client.get("/search?q=fete&from=2025-06-30&to=2025-06-30")).select("ol.results li")) == 1

    def test_bad_input_is_explained_not_an_error(self, client: FlaskClient, post: Callable[..., Post]) -> None:
        post("Boiler", "Boiler.")
        bad_date = page(client.get("/search?q=boiler&from=31/12/2024"))
        date_input = bad_date.find("input", id="search-from")
        assert date_input["aria-invalid"] == "true"
        assert bad_date.find(id=date_input["aria-describedby"]).text.startswith("Enter a date")
        for query in ('"', "*", "AND(", "-", "NEAR(", "a:b", "boiler&page=zero", "x&page=999999"):
            assert client.get(f"/search?q={quote(query, safe='&=')}").status_code == 200


class TestPrivacy:
    """A private community is invisible to outsiders: 404 everywhere, exactly like nothing."""

    @pytest.fixture
    def secret(self, post: Callable[..., Post], sessionmaker: SessionMaker[Session]) -> dict[str, str]:
        shown = post(
            "Budget plans",
            "The confidential budget.",
            community="board",
            attachments=(AttachmentData("budget.xlsx", "application/vnd.ms-excel", b"numbers"),),
        )
        [attachment_id] = attachment_ids(sessionmaker, shown.id)
        return {
            "community": "/c/board/",
            "thread": f"/c/board/t/{shown.thread_id}",
            "feed": "/c/board/feed.atom",
            "thread mbox": f"/c/board/t/{shown.thread_id}.mbox",
            "community mbox": "/c/board/archive.mbox",
            "attachment": f"/a/{attachment_id}/budget.xlsx",
        }

    @pytest.mark.parametrize("who", ["visitor", "non-member", "pending member"])
    def test_outsiders_get_not_found_everywhere(
        self, client: FlaskClient, sign_in: SignIn, people: dict[str, int], secret: dict[str, str], who: str
    ) -> None:
        sign_in({"visitor": None, "non-member": people["bob"], "pending member": people["dan"]}[who])
        nothing = client.get("/c/no-such-community/")
        assert nothing.status_code == 404
        for what, url in secret.items():
            hidden = client.get(url)
            assert hidden.status_code == 404, what
            assert _main(hidden) == _main(nothing), what  # no difference to tell
            assert "Budget" not in hidden.text and "board" not in hidden.text.lower(), what
        assert "Board" not in client.get("/").text
        for query in ("/search?q=confidential", "/search?q=budget&community=board"):
            assert page(client.get(query)).find("h2", id="results-heading").text == "No results"

    def test_members_see_everything(
        self, client: FlaskClient, sign_in: SignIn, people: dict[str, int], secret: dict[str, str]
    ) -> None:
        sign_in(people["ann"])
        for what, url in secret.items():
            assert client.get(url).status_code == 200, what
        assert "Board" in client.get("/").text
        hits = page(client.get("/search?q=confidential")).select("ol.results li")
        assert len(hits) == 1 and hits[0].a["href"].startswith(secret["thread"] + "#post-")
