"""The bridge core without a chat server: links, the chat fan-out in the post's transaction,
the outbound worker's ordering and failure handling, and inbound mapping and de-duplication.

The worker is driven with a recording adapter (the :class:`bridges.base.Adapter`
protocol, in memory); the real Slack and Matrix adapters are tested against their servers
in ``tests/integration``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker as SessionMaker

from bridges.base import ChatPost, PermanentFailure, RateLimited, TemporaryFailure
from bridges.inbound import (
    ChatAuthor,
    ChatEvent,
    receive_deletion,
    receive_edit,
    receive_message,
)
from bridges.matrix_puppets import Puppets
from bridges.platforms.matrix import MatrixSettings
from bridges.worker import ChatWorker
from forum import chat, outbox
from forum.config import Settings
from forum.editing import edit_post
from forum.errors import InvalidInput, NotFound
from forum.models import (
    ChatMessage,
    Community,
    OutboxItem,
    OutboxStatus,
    Post,
    PostingPolicy,
    PostStatus,
    Role,
)
from forum.moderation import approve
from forum.posting import Draft, community_by_slug, submit_post
from forum.site import Site
from tests.support import BRIDGED, make_community, make_member


@dataclass
class Recorder:
    """An adapter that records calls and answers refs ``m1``, ``m2`` …; ``fail`` scripts errors."""

    platform: str = "slack"
    calls: list[tuple[str, str, str | None, ChatPost | None]] = field(default_factory=list)
    fail: list[Exception] = field(default_factory=list)

    def _do(self, action: str, channel: str, ref: str | None, post: ChatPost | None) -> str:
        if self.fail:
            raise self.fail.pop(0)
        self.calls.append((action, channel, ref, post))
        return f"m{len(self.calls)}"

    def start_thread(self, channel: str, post: ChatPost) -> str:
        return self._do("start", channel, None, post)

    def reply(self, channel: str, root_ref: str, post: ChatPost) -> str:
        return self._do("reply", channel, root_ref, post)

    def edit(self, channel: str, ref: str, post: ChatPost) -> None:
        self._do("edit", channel, ref, post)

    def delete(self, channel: str, ref: str) -> None:
        self._do("delete", channel, ref, None)


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    """A site with both bridges set up."""
    return make_settings(**BRIDGED)


@pytest.fixture
def linked(sessionmaker: SessionMaker[Session], settings: Settings) -> None:
    """Members-only "housing" linked to Slack C0123ABCD and Matrix !r; Ann facilitates, Bob is a member."""
    with sessionmaker.begin() as session:
        community = make_community(session, "housing")
        make_member(session, community, "ann@example.org", role=Role.facilitator)
        make_member(session, community, "bob@example.org")
        chat.link(session, community, "slack", "C0123ABCD", settings=settings)
        chat.link(session, community, "matrix", "!r:example.org", settings=settings)


def post(session: Session, site: Site, author: str = "ann@example.org", **fields: Any) -> Post:
    values: dict[str, Any] = {"subject": "Boiler", "body": "Who fixed theirs?"} | fields
    return submit_post(session, Draft(community="housing", author_email=author, **values), site).post


def housing_community(session: Session) -> Community:
    return community_by_slug(session, "housing")


def chat_rows(session: Session) -> list[tuple[str, str]]:
    rows = session.execute(select(OutboxItem.kind, OutboxItem.address).where(OutboxItem.kind.not_like("%email")))
    return sorted((kind, address) for kind, address in rows)


def test_links_are_unique_per_channel_and_listed(
    sessionmaker: SessionMaker[Session], linked: None, settings: Settings
) -> None:
    with sessionmaker.begin() as session:
        other = make_community(session, "garden")
        with pytest.raises(InvalidInput, match="already linked to housing"):
            chat.link(session, other, "slack", "C0123ABCD", settings=settings)
        with pytest.raises(InvalidInput, match="unknown chat platform"):
            chat.link(session, other, "irc", "#x", settings=settings)
        housing = chat.link_for_channel(session, "slack", "C0123ABCD")
        assert (
            housing is not None
            and chat.link(session, housing_community(session), "slack", "C0123ABCD", settings=settings).id == housing.id
        )
        assert [(r.slug, r.platform, r.channel) for r in chat.links(session)] == [
            ("housing", "matrix", "!r:example.org"),
            ("housing", "slack", "C0123ABCD"),
        ]
        with pytest.raises(NotFound):
            chat.unlink(session, other, "slack", "C0123ABCD")
        chat.unlink(session, housing_community(session), "slack", "C0123ABCD")
        assert [r.channel for r in chat.links(session)] == ["!r:example.org"]


def test_a_published_post_queues_one_chat_copy_per_channel_in_its_transaction(
    sessionmaker: SessionMaker[Session], site: Site, linked: None
) -> None:
    with sessionmaker.begin() as session:
        post(session, site)
        assert chat_rows(session) == [("matrix_post", "!r:example.org"), ("slack_post", "C0123ABCD")]


def test_a_held_post_reaches_chat_only_when_approved(
    sessionmaker: SessionMaker[Session], site: Site, linked: None
) -> None:
    with sessionmaker.begin() as session:
        housing_community(session).posting_policy = PostingPolicy.moderated
        held = post(session, site, author="bob@example.org")
        assert held.status is PostStatus.held and chat_rows(session) == []
        approve(session, site, held.id)
        assert len(chat_rows(session)) == 2


def test_worker_starts_the_thread_then_replies_in_it_and_records_both(
    sessionmaker: SessionMaker[Session], site: Site, linked: None
) -> None:
    with sessionmaker.begin() as session:
        first = post(session, site, body="Line 1\nLine 2\nLine 3\nLine 4\nLine 5\nLine 6\nLine 7")
        post(session, site, author="bob@example.org", subject="Re: Boiler", body="Me", parent_id=first.id)
    adapter = Recorder()
    assert ChatWorker(adapter, site, sessionmaker).step() == 0
    (start, channel, _, lead), (reply, _, root, answer) = adapter.calls
    assert (start, channel, reply, root) == ("start", "C0123ABCD", "reply", "m1")
    assert lead is not None and lead.starts_thread and lead.body.endswith("Line 6 …") and lead.subject == "Boiler"
    assert answer is not None and answer.author == "Bob" and answer.body == "Me"
    assert answer.archive_url.startswith("http://127.0.0.1:8080/c/housing/t/")
    with sessionmaker() as session:
        assert sorted(session.scalars(select(ChatMessage.message_ref))) == ["m1", "m2"]
        assert (
            chat.thread_root(session, chat.link_for_channel(session, "slack", "C0123ABCD").id, first.thread_id) == "m1"
        )
        assert {i.status for i in session.scalars(select(OutboxItem).where(OutboxItem.kind == "slack_post"))} == {
            OutboxStatus.done
        }


def test_rate_limit_hands_the_rest_back_in_order_and_failures_are_sorted(
    sessionmaker: SessionMaker[Session], site: Site, linked: None
) -> None:
    with sessionmaker.begin() as session:
        post(session, site, subject="One")
        post(session, site, subject="Two")
    adapter = Recorder(fail=[RateLimited(0.05), PermanentFailure("channel_not_found")])
    worker = ChatWorker(adapter, site, sessionmaker)
    assert worker.step() == 0.05, "the worker pauses as long as the platform asked"
    with sessionmaker() as session:
        assert [
            i.status
            for i in session.scalars(select(OutboxItem).where(OutboxItem.kind == "slack_post").order_by(OutboxItem.id))
        ] == [OutboxStatus.pending] * 2
    assert worker.step() == 0.0 and adapter.calls == [], "nothing is due before Retry-After has passed"
    time.sleep(0.06)
    worker.step()
    with sessionmaker() as session:
        rows = list(session.scalars(select(OutboxItem).where(OutboxItem.kind == "slack_post").order_by(OutboxItem.id)))
        assert [(r.status, r.last_error) for r in rows] == [
            (OutboxStatus.failed, "channel_not_found"),
            (OutboxStatus.done, ""),
        ]
    assert [c[3].subject for c in adapter.calls if c[3]] == ["Two"]


def test_a_copy_that_cannot_be_sent_fails_at_once_and_the_operators_are_told_once(
    make_settings: Callable[..., Settings],
    sessionmaker: SessionMaker[Session],
    linked: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A bug or a file gone from storage is no reason to try again for three days with a
    traceback every time: the row fails at once, one ERROR, one notice per post; the
    network's and the platform's temporary failures are still retried."""
    site = Site.from_settings(make_settings(**BRIDGED, site={"operators": ["ops@example.org"]}))
    with sessionmaker.begin() as session:
        broken = post(session, site, subject="Minutes")
        post(session, site, subject="Offline")
    adapter = Recorder(fail=[FileNotFoundError(2, "No such file or directory"), TemporaryFailure("HTTP 503")])
    caplog.set_level("INFO", logger="bridges.worker")
    ChatWorker(adapter, site, sessionmaker).step()
    with sessionmaker() as session:
        rows = list(session.scalars(select(OutboxItem).where(OutboxItem.kind == "slack_post").order_by(OutboxItem.id)))
        assert [(r.status, r.attempts) for r in rows] == [(OutboxStatus.failed, 1), (OutboxStatus.pending, 1)]
        assert "FileNotFoundError" in rows[0].last_error and rows[1].last_error == "HTTP 503"
        [notice] = session.scalars(select(OutboxItem).where(OutboxItem.kind == outbox.NOTICE_EMAIL))
        assert notice.address == "ops@example.org" and f"post {broken.id}" in notice.payload["text"]
        assert "FileNotFoundError" in notice.payload["text"]
    [error] = [r for r in caplog.records if r.levelname == "ERROR"]
    assert "FileNotFoundError" in error.getMessage() and error.exc_info is not None

    # The same copy breaks again in another worker process (its row put back by hand): no second notice.
    with sessionmaker.begin() as session:
        row = session.get(OutboxItem, rows[0].id)
        assert row is not None
        row.status, row.not_before = OutboxStatus.pending, row.created_at
    ChatWorker(Recorder(fail=[FileNotFoundError(2, "No such file or directory")]), site, sessionmaker).step()
    with sessionmaker() as session:
        assert session.get(OutboxItem, rows[0].id).status is OutboxStatus.failed
        assert len(list(session.scalars(select(OutboxItem).where(OutboxItem.kind == outbox.NOTICE_EMAIL)))) == 1


def test_a_chat_message_is_stored_once_and_never_sent_back(
    sessionmaker: SessionMaker[Session], site: Site, linked: None
) -> None:
    event = ChatEvent(
        platform="slack",
        channel="C0123ABCD",
        ref="100.1",
        author=ChatAuthor("Bob B", "BOB@example.org"),
        text="Rent rises\nAnyone else?",
    )
    with sessionmaker.begin() as session:
        stored = receive_message(session, site, event)
        assert stored is not None and stored.post.subject == "Rent rises" and stored.post.source == "slack"
        assert receive_message(session, site, event) is None  # a redelivered event
        reply = receive_message(
            session,
            site,
            ChatEvent(
                platform="slack",
                channel="C0123ABCD",
                ref="100.2",
                author=ChatAuthor("Ann", "ann@example.org"),
                text="Yes",
                root_ref="100.1",
            ),
        )
        assert reply is not None and reply.post.parent_id == stored.post.id
        assert reply.post.thread_id == stored.post.thread_id
        assert (
            receive_message(
                session, site, ChatEvent(platform="slack", channel="C9", ref="1", text="x", author=ChatAuthor("x"))
            )
            is None
        )  # not linked
    adapter = Recorder()
    ChatWorker(adapter, site, sessionmaker).step()
    assert adapter.calls == [], "posts that came from the channel are not copied back"
    matrix = Recorder(platform="matrix")
    ChatWorker(matrix, site, sessionmaker).step()
    assert [c[0] for c in matrix.calls] == ["start", "reply"], "…but they do reach the other platforms"


def test_edits_and_deletions_touch_only_the_bridges_own_copies(
    sessionmaker: SessionMaker[Session], site: Site, linked: None
) -> None:
    with sessionmaker.begin() as session:
        ours = post(session, site)
        theirs = receive_message(
            session,
            site,
            ChatEvent(
                platform="slack", channel="C0123ABCD", ref="5.5", author=ChatAuthor("Bob", "bob@example.org"), text="Hi"
            ),
        )
        assert theirs is not None
    adapter = Recorder()
    ChatWorker(adapter, site, sessionmaker).step()
    with sessionmaker.begin() as session:
        assert edit_post(session, session.get_one(Post, ours.id), "Who fixed theirs, and how?") == 1
        assert receive_edit(session, "slack", "C0123ABCD", "m1", "ignored") is False  # our own copy's edit event
        assert receive_edit(session, "slack", "C0123ABCD", "5.5", "Hello") is True
        assert session.get(Post, theirs.post.id).body == "Hello"
        assert receive_deletion(session, "slack", "C0123ABCD", "5.5") is True
    ChatWorker(adapter, site, sessionmaker).step()
    assert [(c[0], c[2]) for c in adapter.calls] == [("start", None), ("edit", "m1")]
    assert adapter.calls[1][3].starts_thread


def test_puppet_users_are_named_for_their_authors_in_valid_localparts() -> None:
    puppets = Puppets(None, MatrixSettings(user_id="@relay:example.org", user_prefix="lb_"))  # type: ignore[arg-type]  # no API: naming needs none
    assert puppets.user_id("Ana.B@Example.org") == "@lb_ana.b=40example.org:example.org"
    assert puppets.user_id("josé+x@ex.org") == "@lb_jos=c3=a9=2bx=40ex.org:example.org"
    assert puppets.owns("@lb_ana.b=40example.org:example.org")
    assert not puppets.owns("@lb_ana:elsewhere.org") and not puppets.owns("@relay:example.org")
