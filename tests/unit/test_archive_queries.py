"""The archive's read side: who sees which community, listings and counts, mbox export.

Data is made the way the site makes it: posts through submit_post, emailed posts through
the mail gateway's spool, so the archive is tested on what it will really be given.
"""

from __future__ import annotations

import email
import email.policy
import mailbox
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker as SessionMaker

from forum import archive, moderation
from forum.archive import Pagination, human_size, mbox_entry, public_name
from forum.catalogue import CataloguePage, Sort, catalogue
from forum.errors import NotFound
from forum.models import Attachment, MemberStatus, Post, Role
from forum.posting import AttachmentData, Draft, submit_post
from forum.site import Site
from mailgateway.incoming import processing, spooling
from tests.support import make_community, make_member

ANN, BOB, CEM = "ann@example.org", "bob@example.org", "cem@example.org"
T0 = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def people(sessionmaker: SessionMaker[Session]) -> dict[str, int]:
    """housing (public, Ann and Bob), board (private, Ann), garden (public, moderated, Bob)."""
    with sessionmaker.begin() as session:
        housing = make_community(session, "housing")
        board = make_community(session, "board", private=True)
        garden = make_community(session, "garden", policy="moderated")
        ann = make_member(session, housing, ANN, role=Role.facilitator).user_id
        make_member(session, board, ANN)
        bob = make_member(session, housing, BOB).user_id
        make_member(session, garden, BOB)
        make_member(session, garden, CEM, status=MemberStatus.pending)
    return {"ann": ann, "bob": bob}


@pytest.fixture
def post(sessionmaker: SessionMaker[Session], site: Site) -> Callable[..., Post]:
    def make(
        subject: str = "Boiler",
        body: str = "Text.",
        *,
        author: str = ANN,
        community: str = "housing",
        parent: int | None = None,
        minutes: int = 0,
        **fields: Any,
    ) -> Post:
        with sessionmaker.begin() as session:
            draft = Draft(
                community=community,
                author_email=author,
                subject=subject,
                body=body,
                parent_id=parent,
                created_at=T0 + timedelta(minutes=minutes),
                **fields,
            )
            return submit_post(session, draft, site).post

    return make


def slugs(listing: CataloguePage) -> list[str]:
    return [c.slug for c in listing.entries]


@contextmanager
def selects(engine: Engine) -> Iterator[list[str]]:
    """The SELECT statements run meanwhile: how N+1 queries are caught."""
    seen: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


class TestNamesAndSizes:
    @pytest.mark.parametrize(
        ("stored", "shown"),
        [
            ("Ann Example", "Ann Example"),
            ("ann@example.org", "ann"),
            ("Ann <ann@example.org>", "Ann"),
            ('"Ann Example" <ann@example.org>', "Ann Example"),
            ("Ann (ann@example.org)", "Ann (ann)"),
            ("<ann@example.org>", "ann"),
            ("", "Someone"),
            ("Björk Guðmundsdóttir", "Björk Guðmundsdóttir"),
        ],
    )
    def test_public_name_never_shows_an_address(self, stored: str, shown: str) -> None:
        assert public_name(stored) == shown

    @pytest.mark.parametrize(
        ("size", "shown"), [(1, "1 byte"), (512, "512 bytes"), (12_600, "12.3 KB"), (5 * 1024 * 1024, "5.0 MB")]
    )
    def test_human_size(self, size: int, shown: str) -> None:
        assert human_size(size) == shown

    def test_pagination(self) -> None:
        assert (Pagination(1, 30, 0).pages, Pagination(1, 30, 0).has_next) == (1, False)
        middle = Pagination(2, 30, 61)
        assert (middle.pages, middle.offset, middle.has_prev, middle.has_next) == (3, 30, True, True)
        assert not Pagination(3, 30, 61).has_next


@pytest.mark.usefixtures("people")
class TestCommunities:
    def test_visitors_see_public_communities_with_counts(
        self, sessionmaker: SessionMaker[Session], post: Callable[..., Post]
    ) -> None:
        post("One", minutes=1)
        first = post("Two", minutes=5)
        post("Re: Two", author=BOB, parent=first.id, minutes=9)
        post("Held", author=BOB, community="garden")  # garden holds members' posts
        with sessionmaker() as session:
            shown = {c.slug: c for c in catalogue(session, None).entries}
        assert sorted(shown) == ["garden", "housing"]
        housing, garden = shown["housing"], shown["garden"]
        assert (housing.members, housing.last_activity_at) == (2, T0 + timedelta(minutes=9))
        assert (garden.members, garden.last_activity_at) == (1, None)  # Cem is only pending

    def test_members_also_see_their_private_communities(
        self, sessionmaker: SessionMaker[Session], people: dict[str, int]
    ) -> None:
        with sessionmaker() as session:
            assert slugs(catalogue(session, people["bob"], sort=Sort.name)) == ["garden", "housing"]
            assert slugs(catalogue(session, people["ann"], sort=Sort.name)) == ["board", "garden", "housing"]

    def test_pages_of_communities(self, sessionmaker: SessionMaker[Session], people: dict[str, int]) -> None:
        with sessionmaker() as session:
            first = catalogue(session, people["ann"], sort=Sort.name, page=1, per_page=2)
            second = catalogue(session, people["ann"], sort=Sort.name, page=2, per_page=2)
        assert (slugs(first), slugs(second)) == (["board", "garden"], ["housing"])
        assert first.pagination.has_next and not second.pagination.has_next

    def test_a_private_community_is_not_found_by_outsiders(
        self, sessionmaker: SessionMaker[Session], people: dict[str, int]
    ) -> None:
        with sessionmaker() as session:
            for viewer in (None, people["bob"]):
                with pytest.raises(NotFound) as hidden:
                    archive.readable_community(session, "board", viewer)
                with pytest.raises(NotFound) as missing:
                    archive.readable_community(session, "nowhere", viewer)
                assert hidden.value.message == missing.value.message
            readable = archive.readable_community(session, "BOARD", people["ann"])
            assert readable.community.slug == "board" and readable.is_member
            assert not archive.readable_community(session, "housing", None).is_member


@pytest.mark.usefixtures("people")
class TestThreadList:
    def test_newest_activity_first_with_starters_and_last_repliers(
        self, sessionmaker: SessionMaker[Session], post: Callable[..., Post]
    ) -> None:
        quiet = post("Quiet", minutes=1)
        busy = post("Busy", minutes=2)
        post("Re: Busy", author=BOB, parent=busy.id, minutes=3)
        post("Re: Busy", author=ANN, parent=busy.id, minutes=4)
        with sessionmaker() as session:
            page = archive.thread_list(session, busy.community_id, 1, 30)
        assert [(t.subject, t.post_count, t.started_by, t.replied_by) for t in page.threads] == [
            ("Busy", 3, "Ann", "Ann"),
            ("Quiet", 1, "Ann", None),
        ]
        assert page.threads[1].id == quiet.thread_id and page.pagination.total == 2

    def test_pages(self, sessionmaker: SessionMaker[Session], post: Callable[..., Post]) -> None:
        made = [post(f"Thread {n}", minutes=n) for n in range(35)]
        with sessionmaker() as session:
            first = archive.thread_list(session, made[0].community_id, 1, 30)
            second = archive.thread_list(session, made[0].community_id, 2, 30)
        assert [t.subject for t in first.threads][:2] == ["Thread 34", "Thread 33"]
        assert [t.subject for t in second.threads] == [f"Thread {n}" for n in range(4, -1, -1)]
        assert (first.pagination.pages, first.pagination.has_next, second.pagination.has_next) == (2, True, False)

    def test_threads_with_only_held_posts_are_not_listed(
        self, sessionmaker: SessionMaker[Session], post: Callable[..., Post]
    ) -> None:
        held = post("Waiting", author=BOB, community="garden")
        with sessionmaker() as session:
            assert archive.thread_list(session, held.community_id, 1, 30).threads == []
            with pytest.raises(NotFound):
                archive.readable_community_thread(session, "garden", held.thread_id, None)

    def test_a_fixed_number_of_queries_however_many_threads(
        self, sessionmaker: SessionMaker[Session], engine: Engine, post: Callable[..., Post]
    ) -> None:
        for n in range(12):
            first = post(f"Thread {n}", minutes=n)
            post("Re", author=BOB, parent=first.id, minutes=n)
        with sessionmaker() as session, selects(engine) as seen:
            archive.thread_list(session, first.community_id, 1, 30)
        assert len(seen) == 2  # the count and the page, authors included


@pytest.mark.usefixtures("people")
class TestPosts:
    def test_thread_posts_in_order_published_only(
        self, sessionmaker: SessionMaker[Session], site: Site, post: Callable[..., Post]
    ) -> None:
        start = post("Seeds", "Swap?", author=ANN, community="garden", minutes=1, author_name="Ann <ann@example.org>")
        kept = post("Re: Seeds", "Yes", author=BOB, community="garden", parent=start.id, minutes=2)
        refused = post("Re: Seeds", "Buy mine", author=BOB, community="garden", parent=start.id, minutes=3)
        with sessionmaker.begin() as session:
            moderation.approve(session, site, start.id)
            moderation.approve(session, site, kept.id)
            moderation.reject(session, refused.id, "selling")
        with sessionmaker() as session:
            shown = archive.thread_posts(session, start.thread_id)
        assert [(p.id, p.author, p.html.strip()) for p in shown] == [
            (start.id, "Ann", "<p>Swap?</p>"),
            (kept.id, "Bob", "<p>Yes</p>"),
        ]

    def test_attachments_come_with_their_posts_in_one_query(
        self, sessionmaker: SessionMaker[Session], engine: Engine, post: Callable[..., Post]
    ) -> None:
        files = (
            AttachmentData("plan.pdf", "application/pdf", b"%PDF-1.4 plan"),
            AttachmentData("logo.png", "image/png", b"\x89PNG", inline=True, content_id="logo@x"),
        )
        first = post("Plans", attachments=files)
        for n in range(5):
            post("Re: Plans", author=BOB, parent=first.id, minutes=n + 1, attachments=files[:1])
        with sessionmaker() as session, selects(engine) as seen:
            shown = archive.thread_posts(session, first.thread_id)
        assert len(seen) == 2
        assert [(a.filename, a.size, a.content_id) for a in shown[0].attachments] == [
            ("plan.pdf", 13, None),
            ("logo.png", 4, "logo@x"),
        ]
        assert all(len(p.attachments) == 1 for p in shown[1:])

    def test_latest_posts_newest_first(self, sessionmaker: SessionMaker[Session], post: Callable[..., Post]) -> None:
        made = [post(f"Post {n}", minutes=n) for n in range(4)]
        post("Elsewhere", community="board")
        with sessionmaker() as session:
            latest = archive.latest_posts(session, made[0].community_id, 3)
        assert [p.id for p in latest] == [made[3].id, made[2].id, made[1].id]

    def test_threads_belong_to_their_community(
        self, sessionmaker: SessionMaker[Session], post: Callable[..., Post]
    ) -> None:
        secret = post("Secret", community="board")
        with sessionmaker() as session:
            with pytest.raises(NotFound):
                archive.readable_community_thread(session, "housing", secret.thread_id, None)
            with pytest.raises(NotFound):  # the thread's own community, to an outsider
                archive.readable_community_thread(session, "board", secret.thread_id, None)
            with pytest.raises(NotFound):
                archive.readable_community_thread(session, "nosuch", secret.thread_id, None)

    def test_attachments_are_found_only_where_their_post_may_be_read(
        self,
        sessionmaker: SessionMaker[Session],
        people: dict[str, int],
        post: Callable[..., Post],
    ) -> None:
        doc = (AttachmentData("minutes.txt", "text/plain", b"minutes"),)
        public = post("Minutes", attachments=doc)
        private = post("Minutes", community="board", attachments=doc)
        held = post("Minutes", author=BOB, community="garden", attachments=doc)
        with sessionmaker() as session:
            ids = {
                p.id: session.scalars(select(Attachment.id).where(Attachment.post_id == p.id)).one()
                for p in (public, private, held)
            }
            assert archive.readable_attachment(session, ids[public.id], None).filename == "minutes.txt"
            assert archive.readable_attachment(session, ids[private.id], people["ann"]).post_id == private.id
            for attachment_id, viewer in (
                (ids[private.id], None),
                (ids[private.id], people["bob"]),
                (ids[held.id], people["bob"]),
                (999, None),
            ):
                with pytest.raises(NotFound):
                    archive.readable_attachment(session, attachment_id, viewer)


RAW = (
    b"From: Bob Example <bob@example.org>\r\n"
    b"To: housing@lists.example.org\r\n"
    b"Subject: Damp in the flat\r\n"
    b"Message-ID: <damp-1@example.org>\r\n"
    b"Date: Wed, 01 May 2024 09:00:00 +0000\r\n"
    b"X-Odd-Header: kept exactly\r\n"
    b"\r\n"
    b"Has anyone dealt with damp?\r\n"
    b"From my experience it is the landlord's job.\r\n"
)


def receive(sessionmaker: SessionMaker[Session], site: Site, raw: bytes) -> None:
    """Deliver ``raw`` as the SMTP server would: spool it, then process it."""
    with sessionmaker.begin() as session:
        inbound_id = spooling.spool(session, raw, BOB, ["housing@lists.example.org"], "smtp")
    with sessionmaker.begin() as session:
        processing.process(session, site, inbound_id)


def export(
    sessionmaker: SessionMaker[Session], site: Site, tmp_path: Path, produce: Callable[[Session], Iterator[bytes]]
) -> mailbox.mbox:
    target = tmp_path / "export.mbox"
    with sessionmaker() as session:
        target.write_bytes(b"".join(produce(session)))
    return mailbox.mbox(target)


@pytest.mark.usefixtures("people")
class TestMbox:
    def test_emailed_posts_keep_their_original_bytes(
        self, sessionmaker: SessionMaker[Session], site: Site, tmp_path: Path, post: Callable[..., Post]
    ) -> None:
        receive(sessionmaker, site, RAW)
        with sessionmaker() as session:
            emailed = session.scalars(select(Post)).one()
        reply = post(
            "Re: Damp in the flat",
            "Try the council.",
            author=ANN,
            parent=emailed.id,
            minutes=5,
            attachments=(AttachmentData("leaflet.txt", "text/plain", b"Damp advice"),),
        )
        box = export(
            sessionmaker,
            site,
            tmp_path,
            lambda s: archive.thread_mbox(s, emailed.thread_id, site.blobs, originals=True),
        )
        assert len(box) == 2
        by_id = {message["Message-ID"]: box.get_bytes(key) for key, message in box.items()}
        assert by_id["<damp-1@example.org>"] == RAW.replace(b"\r\nFrom my", b"\r\n>From my")  # mboxrd quoting only
        generated = email.message_from_bytes(by_id[f"<{reply.message_id}>"], policy=email.policy.default)
        assert generated["Message-ID"] == f"<{reply.message_id}>"
        assert generated["In-Reply-To"] == "<damp-1@example.org>"
        assert generated["References"] == "<damp-1@example.org>"
        assert generated["Subject"] == "Re: Damp in the flat" and "Ann" in generated["From"]
        assert generated.get_body(("plain",)).get_content().strip() == "Try the council."
        attached = next(generated.iter_attachments())
        assert attached.get_filename() == "leaflet.txt" and attached.get_content() == "Damp advice"

    def test_from_lines_in_bodies_do_not_split_messages(
        self, sessionmaker: SessionMaker[Session], site: Site, tmp_path: Path, post: Callable[..., Post]
    ) -> None:
        first = post("Quoting", "From the top:\n>From the middle\nFrom here on.")
        post("Re: Quoting", "From me too.", author=BOB, parent=first.id, minutes=1)
        box = export(sessionmaker, site, tmp_path, lambda s: archive.community_mbox(s, first.community_id, site.blobs))
        assert len(box) == 2
        body = box.get_bytes(box.keys()[0])
        assert b"\n>From the top:" in body and b"\n>>From the middle" in body

    def test_the_community_export_is_streamed_in_batches(
        self,
        sessionmaker: SessionMaker[Session],
        site: Site,
        tmp_path: Path,
        post: Callable[..., Post],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(archive, "MBOX_BATCH", 3)
        made = [post(f"Post {n}", minutes=n % 4) for n in range(10)]  # equal dates: the id breaks ties
        held = post("Held", author=BOB, community="garden")
        box = export(
            sessionmaker, site, tmp_path, lambda s: archive.community_mbox(s, made[0].community_id, site.blobs)
        )
        subjects = [m["Subject"] for m in box]
        expected = [p.subject for p in sorted(made, key=lambda p: (p.created_at, p.id))]
        assert subjects == expected and held.subject not in subjects

    def test_entry_framing(self) -> None:
        entry = mbox_entry(T0, b"Subject: x\n\nbody")
        assert entry == b"From MAILER-DAEMON Wed May  1 09:00:00 2024\nSubject: x\n\nbody\n\n"
