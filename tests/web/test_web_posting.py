"""Posting from the web: a preview, files attached, a reply to one post, formatting help."""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Sequence
from email import policy
from email.parser import BytesParser
from io import BytesIO
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker as SessionMaker
from werkzeug.test import TestResponse

from forum import config
from forum.models import Attachment, OutboxItem, Post, Role
from forum.posting import Draft, submit_post
from forum.site import Site
from mailgateway.outgoing import compose, post_views
from tests.support import make_community, make_member

ANN, BOB, DAN = "ann@example.org", "bob@example.org", "dan@example.org"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(40))
FILE_LIMIT, MESSAGE_LIMIT = 1000, 2500


@pytest.fixture
def settings(make_settings: Callable[..., config.Settings]) -> config.Settings:
    """Small limits, so that a test reaches each with a few bytes."""
    return make_settings(
        web={"upload_max_files": 3, "upload_max_file_bytes": FILE_LIMIT},
        smtp_in={"max_message_bytes": MESSAGE_LIMIT},
    )


@pytest.fixture(autouse=True)
def communities(sessionmaker: SessionMaker[Session], site: Site) -> None:
    """Housing (public): Ann facilitates, Bob is a member. Board (private): Ann only."""
    with sessionmaker.begin() as session:
        housing = make_community(session, "housing")
        make_member(session, housing, ANN, role=Role.facilitator)
        make_member(session, housing, BOB)
        board = make_community(session, "board", private=True)
        make_member(session, board, ANN, role=Role.facilitator)
        make_member(session, make_community(session, "garden"), DAN)
        submit_post(
            session,
            Draft(community="housing", author_email=ANN, subject="Damp in flats", body="Who has advice on damp?"),
            site,
        )


def posts(sessionmaker: SessionMaker[Session]) -> list[Post]:
    with sessionmaker() as session:
        return list(session.scalars(select(Post).order_by(Post.id)))


def attachments(sessionmaker: SessionMaker[Session], post_id: int) -> list[tuple[str, str, int]]:
    with sessionmaker() as session:
        rows = session.scalars(select(Attachment).where(Attachment.post_id == post_id).order_by(Attachment.id))
        return [(a.filename, a.content_type, a.size) for a in rows]


def kept_tokens(page: str) -> list[str]:
    """The tokens of the files a form page carries back (its ticked checkboxes)."""
    return [html.unescape(t) for t in re.findall(r'name="attached" value="([^"]+)"', page)]


def plain_text(raw: bytes) -> str:
    """The plain-text part of a mail copy, decoded, with its line ends as Python's."""
    body = BytesParser(policy=policy.default).parsebytes(raw).get_body(("plain",))
    assert body is not None
    return str(body.get_content()).replace("\r\n", "\n")


def html_text(raw: bytes) -> str:
    body = BytesParser(policy=policy.default).parsebytes(raw).get_body(("html",))
    assert body is not None
    return str(body.get_content())


def send(
    client: FlaskClient, url: str, fields: dict[str, Any], files: Sequence[tuple[bytes, str]] = ()
) -> TestResponse:
    data = {**fields, "files": [(BytesIO(content), name) for content, name in files]}
    return client.post(url, data=data, content_type="multipart/form-data")


@pytest.fixture
def bob(as_user: Callable[[str], None], csrf_token: Callable[[], str]) -> str:
    """Bob signed in; the CSRF token for his session."""
    as_user(BOB)
    return csrf_token()


class TestPreview:
    def test_shows_the_post_as_members_will_see_it_and_posts_nothing(
        self, client: FlaskClient, bob: str, sessionmaker: SessionMaker[Session]
    ) -> None:
        page = send(
            client,
            "/c/housing/new",
            {
                "csrf_token": bob,
                "subject": "Boiler grants",
                "body": "Is the **boiler** scheme open?\n\n- yes\n- no",
                "action": "preview",
            },
        )
        assert page.status_code == 200
        preview = page.text.split('<section class="preview"')[1].split("</section>")[0]
        assert "<strong>boiler</strong>" in preview and "<li>yes</li>" in preview
        assert "<h3>Boiler grants</h3>" in preview
        plain = re.search(r"<details class=\"plain-text\">.*?<pre>(.*?)</pre>", preview, re.S)
        assert plain and html.unescape(plain.group(1)) == "Is the boiler scheme open?\n\n- yes\n- no"
        assert 'value="Boiler grants"' in page.text, "the form stays filled"
        assert "Is the **boiler** scheme open?\n\n- yes\n- no</textarea>" in page.text
        assert len(posts(sessionmaker)) == 1
        root = posts(sessionmaker)[0].id
        with sessionmaker() as session:
            assert {item.post_id for item in session.scalars(select(OutboxItem))} == {root}

    def test_preview_is_sanitised_as_the_thread_page_is(self, client: FlaskClient, bob: str) -> None:
        page = send(
            client,
            "/c/housing/new",
            {
                "csrf_token": bob,
                "subject": "x",
                "body": 'Hi <script>alert(1)</script><img src="https://t.example/p.gif">',
                "action": "preview",
            },
        )
        preview = page.text.split('<section class="preview"')[1].split("</section>")[0]
        assert "<script" not in preview and "<img" not in preview
        assert "Hi &lt;script&gt;alert(1)&lt;/script&gt;" in preview, "shown as the text it is, as on the thread page"

    def test_a_reply_preview_shows_the_quote_its_mail_copy_carries(
        self, client: FlaskClient, bob: str, sessionmaker: SessionMaker[Session]
    ) -> None:
        root = posts(sessionmaker)[0]
        page = send(
            client,
            f"/c/housing/t/{root.thread_id}/reply",
            {"csrf_token": bob, "body": "Open a window.", "parent_id": str(root.id), "action": "preview"},
        )
        plain = re.search(r"<pre>(.*?)</pre>", page.text.split('<section class="preview"')[1], re.S)
        assert plain and html.unescape(plain.group(1)) == "Ann wrote:\n> Who has advice on damp?\n\nOpen a window."
        assert len(posts(sessionmaker)) == 1

    def test_files_are_kept_across_a_preview_and_posted(
        self, client: FlaskClient, bob: str, sessionmaker: SessionMaker[Session], site: Site
    ) -> None:
        fields = {"csrf_token": bob, "subject": "Forms", "body": "Two files"}
        page = send(
            client, "/c/housing/new", {**fields, "action": "preview"}, [(b"notes\n", "notes.txt"), (PNG, "photo.png")]
        )
        assert page.status_code == 200 and len(posts(sessionmaker)) == 1
        assert re.search(r'<input type="checkbox" name="attached" value="[^"]+" id="attached-1" checked>', page.text)
        assert "notes.txt" in page.text and "photo.png" in page.text
        tokens = kept_tokens(page.text)
        assert len(tokens) == 2
        done = send(client, "/c/housing/new", {**fields, "action": "post", "attached": tokens})
        assert done.status_code == 303
        post = posts(sessionmaker)[-1]
        assert attachments(sessionmaker, post.id) == [
            ("notes.txt", "text/plain", 6),
            ("photo.png", "image/png", len(PNG)),
        ]
        thread = client.get(done.headers["Location"].split("#")[0]).text
        links = re.findall(r'href="(/a/\d+/[^"]+)">([^<]+)</a>', thread)
        assert [name for _, name in links] == ["notes.txt", "photo.png"]
        assert client.get(links[1][0]).data == PNG

    def test_an_unticked_file_is_left_out(
        self, client: FlaskClient, bob: str, sessionmaker: SessionMaker[Session]
    ) -> None:
        fields = {"csrf_token": bob, "subject": "Forms", "body": "One file"}
        page = send(client, "/c/housing/new", {**fields, "action": "preview"}, [(b"a", "a.txt"), (b"b", "b.txt")])
        first, _second = kept_tokens(page.text)
        send(client, "/c/housing/new", {**fields, "attached": [first]})
        assert [name for name, _, _ in attachments(sessionmaker, posts(sessionmaker)[-1].id)] == ["a.txt"]

    def test_someone_elses_token_attaches_nothing(
        self,
        client: FlaskClient,
        bob: str,
        as_user: Callable[[str], None],
        csrf_token: Callable[[], str],
        sessionmaker: SessionMaker[Session],
    ) -> None:
        page = send(
            client,
            "/c/housing/new",
            {"csrf_token": bob, "subject": "s", "body": "b", "action": "preview"},
            [(b"secret", "bob.txt")],
        )
        tokens = kept_tokens(page.text)
        as_user(ANN)
        send(client, "/c/housing/new", {"csrf_token": csrf_token(), "subject": "s", "body": "b", "attached": tokens})
        assert attachments(sessionmaker, posts(sessionmaker)[-1].id) == []
        forged = send(
            client,
            "/c/housing/new",
            {"csrf_token": csrf_token(), "subject": "s", "body": "typed", "attached": ["x" + tokens[0]]},
        )
        assert forged.status_code == 400 and "attach it again" in forged.text and "typed</textarea>" in forged.text


class TestLimits:
    @pytest.mark.parametrize(
        ("files", "said"),
        [
            ([(b"x" * (FILE_LIMIT + 1), "big.pdf")], "“big.pdf” is too large: a file can be at most 1000 bytes."),
            ([(b"", "empty.txt")], "“empty.txt” is empty"),
            ([(b"MZ", "setup.exe")], "“setup.exe” cannot be attached: files ending .exe can run programs"),
            (
                [(b"1", "1.txt"), (b"2", "2.txt"), (b"3", "3.txt"), (b"4", "4.txt")],
                "“4.txt” was not attached: a message can have at most 3 files.",
            ),
            (
                [(b"x" * 900, "1.txt"), (b"y" * 900, "2.txt"), (b"z" * 900, "3.txt")],
                "“3.txt” was not attached: together a message's files can be at most 1.8 KB.",
            ),
        ],
    )
    def test_a_refused_file_is_said_and_nothing_typed_is_lost(
        self,
        client: FlaskClient,
        bob: str,
        sessionmaker: SessionMaker[Session],
        files: list[tuple[bytes, str]],
        said: str,
    ) -> None:
        page = send(
            client, "/c/housing/new", {"csrf_token": bob, "subject": "My subject", "body": "My careful text"}, files
        )
        assert page.status_code == 400
        summary = html.unescape(page.text.split('class="error-summary"')[1].split("</div>")[0])
        assert said in summary and 'href="#files"' in page.text
        assert 'value="My subject"' in page.text and "My careful text</textarea>" in page.text
        assert len(posts(sessionmaker)) == 1
        accepted = [name for _, name in files[:-1]]
        assert re.findall(r'<label for="attached-\d+">([^ <]+)', page.text) == accepted, "the good ones kept"

    def test_a_request_far_too_large_gets_a_page_that_says_so(self, client: FlaskClient, bob: str) -> None:
        page = send(
            client,
            "/c/housing/new",
            {"csrf_token": bob, "subject": "s", "body": "b"},
            [(b"x" * (3 * MESSAGE_LIMIT), "huge.bin")],
        )
        assert page.status_code == 413
        assert "That is too large" in page.text and "Send a smaller file" in page.text

    def test_hostile_filenames_are_made_plain_and_types_read_from_the_bytes(
        self, client: FlaskClient, bob: str, sessionmaker: SessionMaker[Session]
    ) -> None:
        hostile = [
            (b"root:x:0:0", "../../etc/passwd"),
            (b"report", "report\x07\x1b.txt"),
            (b"<html><script>alert(1)</script>", "photo.png"),
        ]
        done = send(client, "/c/housing/new", {"csrf_token": bob, "subject": "s", "body": "b"}, hostile)
        assert done.status_code == 303, done.text
        post_id = posts(sessionmaker)[-1].id
        assert attachments(sessionmaker, post_id) == [
            ("passwd", "application/octet-stream", 10),
            ("report.txt", "text/plain", 6),
            ("photo.png", "application/octet-stream", 31),  # not an image: never shown inline
        ]
        send(client, "/c/housing/new", {"csrf_token": bob, "subject": "t", "body": "b"}, [(PNG, "x" * 300 + ".png")])
        ((name, kind, _),) = attachments(sessionmaker, posts(sessionmaker)[-1].id)
        assert len(name.encode()) <= 200 and name.endswith(".png") and kind == "image/png"
        refused = send(
            client,
            "/c/housing/new",
            {"csrf_token": bob, "subject": "u", "body": "b"},
            [(b"MZ", "invoice\u202efdp.exe")],
        )
        assert refused.status_code == 400 and "“invoicefdp.exe” cannot be attached" in html.unescape(refused.text)

    def test_a_private_communitys_files_are_not_for_outsiders(
        self,
        client: FlaskClient,
        as_user: Callable[[str], None],
        sign_in: Callable[[int | None], None],
        csrf_token: Callable[[], str],
        sessionmaker: SessionMaker[Session],
    ) -> None:
        as_user(ANN)
        done = send(
            client,
            "/c/board/new",
            {"csrf_token": csrf_token(), "subject": "Minutes", "body": "Attached"},
            [(b"secret", "minutes.txt")],
        )
        assert done.status_code == 303
        with sessionmaker() as session:
            attachment = session.scalars(select(Attachment)).one()
        url = f"/a/{attachment.id}/minutes.txt"
        assert client.get(url).data == b"secret"
        as_user(DAN)
        assert client.get(url).status_code == 404
        sign_in(None)
        assert client.get(url).status_code == 404


class TestReplyToAPost:
    def test_each_post_offers_a_reply_threaded_under_it(
        self,
        client: FlaskClient,
        bob: str,
        csrf_token: Callable[[], str],
        as_user: Callable[[str], None],
        sessionmaker: SessionMaker[Session],
        site: Site,
    ) -> None:
        root = posts(sessionmaker)[0]
        with sessionmaker.begin() as session:
            second = submit_post(
                session,
                Draft(
                    community="housing",
                    author_email=BOB,
                    subject="Re: Damp in flats",
                    body="Vent it.",
                    parent_id=root.id,
                ),
                site,
            ).post.id
        as_user(ANN)
        thread = client.get(f"/c/housing/t/{root.thread_id}").text
        for post_id in (root.id, second):
            assert f'href="/c/housing/t/{root.thread_id}/reply?parent={post_id}"' in thread
        form = client.get(f"/c/housing/t/{root.thread_id}/reply?parent={root.id}").text
        assert "Who has advice on damp?" in form.split('class="quoted-post"')[1].split("</section>")[0]
        assert f'name="parent_id" type="hidden" value="{root.id}"' in form
        done = send(
            client,
            f"/c/housing/t/{root.thread_id}/reply",
            {"csrf_token": csrf_token(), "body": "Thanks, Ann here.", "parent_id": str(root.id)},
        )
        assert done.status_code == 303
        reply = posts(sessionmaker)[-1]
        assert reply.parent_id == root.id
        page = client.get(f"/c/housing/t/{root.thread_id}").text
        article = page.split(f'id="post-{reply.id}"')[1].split("</article>")[0]
        assert f'<a class="in-reply-to" href="#post-{root.id}">In reply to Ann</a>' in article
        with sessionmaker() as session:
            view = post_views.load_post(session, reply.id)
        assert view.in_reply_to == root.message_id
        copy = compose.compose_copy(view, site, user_id=1)
        assert plain_text(copy).startswith("Ann wrote:\n> Who has advice on damp?\n\nThanks, Ann here.\n")

    def test_the_quote_is_in_the_members_language_and_a_mailed_reply_gets_none(
        self, sessionmaker: SessionMaker[Session], site: Site
    ) -> None:
        root = posts(sessionmaker)[0]
        with sessionmaker.begin() as session:
            web = submit_post(
                session,
                Draft(
                    community="housing",
                    author_email=BOB,
                    body="Agored.",
                    parent_id=root.id,
                    source="web",
                    body_format="markdown",
                ),
                site,
            ).post.id
            mailed = submit_post(
                session, Draft(community="housing", author_email=BOB, body="By mail.", parent_id=root.id), site
            ).post.id
        with sessionmaker() as session:
            welsh = compose.compose_copy(post_views.load_post(session, web), site, user_id=1, member_language="cy")
            by_mail = compose.compose_copy(post_views.load_post(session, mailed), site, user_id=1)
        assert plain_text(welsh).startswith("Ysgrifennodd Ann:\n> Who has advice on damp?\n\nAgored.\n")
        assert plain_text(by_mail).startswith("By mail.\n")
        assert "<blockquote" in html_text(welsh) and "<blockquote" not in html_text(by_mail)


class TestFormattingHelp:
    @pytest.mark.parametrize(
        ("language", "words"), [("en", ["Formatting help", "**bold words**"]), ("cy", ["Cymorth gyda fformatio"])]
    )
    def test_the_forms_explain_formatting_in_plain_words(
        self, client: FlaskClient, bob: str, sessionmaker: SessionMaker[Session], language: str, words: list[str]
    ) -> None:
        root = posts(sessionmaker)[0]
        for url in ("/c/housing/new", f"/c/housing/t/{root.thread_id}/reply", f"/c/housing/t/{root.thread_id}"):
            page = client.get(url, headers={"Accept-Language": language}).text
            assert '<details class="formatting-help">' in page and 'enctype="multipart/form-data"' in page
            for word in words:
                assert word in page
            assert 'name="action" value="preview"' in page and 'type="file"' in page
