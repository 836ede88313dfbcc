"""submit_post, the one door: who gets in, what is stored once, and who is sent a copy."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker as SessionMaker

from forum.config import Settings
from forum.errors import InvalidInput, NotFound, NotPermitted
from forum.models import Attachment, Delivery, MemberStatus, OutboxItem, Post, PostingPolicy, PostStatus, Role
from forum.moderation import approve
from forum.posting import AttachmentData, Draft, check_post, community_by_slug, submit_post
from forum.site import Site
from tests.support import make_community, make_member


def draft(author: str = "ann@example.org", community: str = "housing", **fields: Any) -> Draft:
    values: dict[str, Any] = {"subject": "Boiler repairs", "body": "Who fixed theirs last winter?"}
    values.update(fields)
    return Draft(community=community, author_email=author, **values)


def outbox_addresses(session: Session) -> list[str]:
    return sorted(session.scalars(select(OutboxItem.address)))


def count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


@pytest.fixture
def housing(sessionmaker: SessionMaker[Session]) -> None:
    """A members-only community with Ann (facilitator), Bob (member) and Cem (member)."""
    with sessionmaker.begin() as session:
        community = make_community(session, "housing")
        make_member(session, community, "ann@example.org", role=Role.facilitator)
        make_member(session, community, "bob@example.org")
        make_member(session, community, "cem@example.org")


@pytest.mark.usefixtures("housing")
class TestPostingRules:
    """Announcement lists and a newcomer's first posts: the same at every door."""

    @pytest.mark.parametrize("source", ["email", "web", "slack", "matrix"])
    def test_an_announcement_list_refuses_members_naming_the_facilitators_address(
        self, sessionmaker: SessionMaker[Session], site: Site, source: str
    ) -> None:
        with sessionmaker.begin() as session:
            community_by_slug(session, "housing").posting_policy = PostingPolicy.announce
        with sessionmaker.begin() as session, pytest.raises(NotPermitted) as refused:
            submit_post(session, draft("bob@example.org", source=source), site)
        assert f"write to housing-owner@{site.mail_domain}" in refused.value.message
        assert "ann@example.org" not in refused.value.message
        with sessionmaker.begin() as session:
            assert not submit_post(session, draft("ann@example.org", source=source), site).held

    @pytest.mark.parametrize("source", ["email", "web", "slack"])
    def test_a_members_first_posts_are_held_until_enough_are_published(
        self, sessionmaker: SessionMaker[Session], site: Site, source: str
    ) -> None:
        with sessionmaker.begin() as session:
            community_by_slug(session, "housing").moderate_new = 2
        held = []
        for n in range(2):
            with sessionmaker.begin() as session:
                outcome = submit_post(session, draft("bob@example.org", subject=f"S{n}", source=source), site)
                assert outcome.held and "first posts are reviewed" in outcome.reason
                held.append(outcome.post.id)
        with sessionmaker.begin() as session:
            assert not submit_post(session, draft("ann@example.org", subject="F"), site).held, "facilitators never"
            assert submit_post(session, draft("cem@example.org", subject="C"), site).held, "counted per member"
            for post_id in held:
                approve(session, site, post_id)
        with sessionmaker.begin() as session:
            assert not submit_post(session, draft("bob@example.org", subject="S3", source=source), site).held


@pytest.mark.usefixtures("housing")
class TestPolicies:
    def test_members_policy_refuses_a_non_member(self, sessionmaker: SessionMaker[Session], site: Site) -> None:
        with sessionmaker.begin() as session, pytest.raises(NotPermitted, match="only members may post to housing"):
            submit_post(session, draft("stranger@example.net"), site)
        with sessionmaker() as session:
            assert count(session, Post) == 0

    def test_early_check_agrees_with_submit(self, sessionmaker: SessionMaker[Session]) -> None:
        with sessionmaker() as session:
            community = community_by_slug(session, "housing")
            assert check_post(session, community, "stranger@example.net").refused
            assert not check_post(session, community, "BOB@example.org").refused  # addresses are case-insensitive

    def test_members_policy_accepts_a_member(self, sessionmaker: SessionMaker[Session], site: Site) -> None:
        with sessionmaker.begin() as session:
            outcome = submit_post(session, draft("bob@example.org"), site)
        assert not outcome.held and outcome.post.status is PostStatus.published

    def test_moderated_holds_members_and_queues_nothing(self, sessionmaker: SessionMaker[Session], site: Site) -> None:
        with sessionmaker.begin() as session:
            board = make_community(session, "board", policy="moderated")
            make_member(session, board, "bob@example.org")
            outcome = submit_post(session, draft("bob@example.org", community="board"), site)
        assert outcome.held and outcome.post.status is PostStatus.held
        assert "moderator" in outcome.reason
        with sessionmaker() as session:
            assert count(session, OutboxItem) == 0

    def test_moderated_does_not_hold_facilitators(self, sessionmaker: SessionMaker[Session], site: Site) -> None:
        with sessionmaker.begin() as session:
            board = make_community(session, "board", policy="moderated")
            make_member(session, board, "ann@example.org", role=Role.facilitator)
            make_member(session, board, "bob@example.org")
            outcome = submit_post(session, draft("ann@example.org", community="board"), site)
        assert not outcome.held and outcome.copies == 1  # Bob's copy

    def test_open_accepts_anyone(self, sessionmaker: SessionMaker[Session], site: Site) -> None:
        with sessionmaker.begin() as session:
            make_community(session, "lobby", policy="open")
            outcome = submit_post(session, draft("stranger@example.net", community="lobby"), site)
        assert outcome.post.status is PostStatus.published and outcome.post.author_id is None

    def test_banned_member_is_refused_even_where_anyone_may_post(
        self, sessionmaker: SessionMaker[Session], site: Site
    ) -> None:
        with sessionmaker.begin() as session:
            lobby = make_community(session, "lobby", policy="open")
            make_member(session, lobby, "troll@example.net", status=MemberStatus.banned)
        with sessionmaker.begin() as session, pytest.raises(NotPermitted):
            submit_post(session, draft("troll@example.net", community="lobby"), site)

    def test_private_refusal_does_not_reveal_the_community(
        self, sessionmaker: SessionMaker[Session], site: Site
    ) -> None:
        with sessionmaker.begin() as session:
            make_community(session, "tenants-council", private=True)
        with sessionmaker.begin() as session, pytest.raises(NotPermitted) as caught:
            submit_post(session, draft("stranger@example.net", community="tenants-council"), site)
        assert "tenants-council" not in caught.value.message

    def test_unknown_community_is_not_found(self, sessionmaker: SessionMaker[Session], site: Site) -> None:
        with sessionmaker.begin() as session, pytest.raises(NotFound, match='no community "nowhere"'):
            submit_post(session, draft(community="nowhere"), site)


@pytest.mark.usefixtures("housing")
class TestStoring:
    def test_same_message_id_is_stored_once(self, sessionmaker: SessionMaker[Session], site: Site) -> None:
        with sessionmaker.begin() as session:
            first = submit_post(session, draft(message_id="abc@mail.example.org"), site)
        with sessionmaker.begin() as session:
            again = submit_post(session, draft(message_id="abc@mail.example.org", body="re-delivered"), site)
        assert again.duplicate and again.post.id == first.post.id and again.copies == 0
        with sessionmaker() as session:
            assert count(session, Post) == 1
            assert count(session, OutboxItem) == first.copies == 2

    def test_message_id_is_generated_on_the_list_domain(self, sessionmaker: SessionMaker[Session], site: Site) -> None:
        with sessionmaker.begin() as session:
            post = submit_post(session, draft(), site).post
        assert post.message_id.endswith("@lists.example.org")

    @pytest.mark.parametrize("body", ["", "  \n\t\n"])
    def test_empty_body_is_refused(self, sessionmaker: SessionMaker[Session], site: Site, body: str) -> None:
        with sessionmaker.begin() as session, pytest.raises(InvalidInput, match="no text"):
            submit_post(session, draft(body=body), site)

    def test_attachments_are_stored_by_sha256(self, sessionmaker: SessionMaker[Session], site: Site) -> None:
        data = b"%PDF-1.4 minutes of the AGM"
        files = (
            AttachmentData("minutes.pdf", "application/pdf", data),
            AttachmentData("copy.pdf", "application/pdf", data),
        )
        with sessionmaker.begin() as session:
            submit_post(session, draft(attachments=files), site)
        digest = hashlib.sha256(data).hexdigest()
        with sessionmaker() as session:
            stored = list(session.scalars(select(Attachment).order_by(Attachment.id)))
        assert [(a.filename, a.sha256, a.size) for a in stored] == [
            ("minutes.pdf", digest, len(data)),
            ("copy.pdf", digest, len(data)),
        ]
        assert site.blobs.get(digest) == data
        assert len([p for p in site.blobs.root.rglob("*") if p.is_file()]) == 1  # identical files share a blob

    def test_attachment_without_text_is_accepted(self, sessionmaker: SessionMaker[Session], site: Site) -> None:
        with sessionmaker.begin() as session:
            outcome = submit_post(
                session, draft(body="", attachments=(AttachmentData("a.png", "image/png", b"\x89PNG"),)), site
            )
        assert outcome.post.status is PostStatus.published

    def test_html_is_sanitized_before_it_is_stored(self, sessionmaker: SessionMaker[Session], site: Site) -> None:
        with sessionmaker.begin() as session:
            post = submit_post(session, draft(html='<p onclick="x()">Hi<script>alert(1)</script></p>'), site).post
        assert post.html == "<p>Hi</p>"


class TestFanOut:
    def test_author_gets_no_copy_by_default(
        self, sessionmaker: SessionMaker[Session], site: Site, housing: None
    ) -> None:
        with sessionmaker.begin() as session:
            outcome = submit_post(session, draft("bob@example.org"), site)
            assert outbox_addresses(session) == ["ann@example.org", "cem@example.org"]
        assert outcome.copies == 2

    def test_send_to_author_includes_the_author(
        self, sessionmaker: SessionMaker[Session], make_settings: Callable[..., Settings], housing: None
    ) -> None:
        site = Site.from_settings(make_settings(delivery={"send_to_author": True}))
        with sessionmaker.begin() as session:
            submit_post(session, draft("bob@example.org"), site)
            assert outbox_addresses(session) == ["ann@example.org", "bob@example.org", "cem@example.org"]

    def test_only_active_members_taking_each_post_get_a_copy(
        self, sessionmaker: SessionMaker[Session], site: Site
    ) -> None:
        with sessionmaker.begin() as session:
            community = make_community(session, "garden")
            make_member(session, community, "author@example.org")
            make_member(session, community, "each@example.org")
            make_member(session, community, "daily@example.org", delivery=Delivery.daily)
            make_member(session, community, "weekly@example.org", delivery=Delivery.weekly)
            make_member(session, community, "web-only@example.org", delivery=Delivery.none)
            make_member(session, community, "pending@example.org", status=MemberStatus.pending)
            make_member(session, community, "banned@example.org", status=MemberStatus.banned)
            other = make_community(session, "elsewhere")
            make_member(session, other, "other-list@example.org")
            submit_post(session, draft("author@example.org", community="garden"), site)
            assert outbox_addresses(session) == ["each@example.org"]
            row = session.scalars(select(OutboxItem)).one()
            assert (row.kind, row.status.value, row.attempts) == ("post_email", "pending", 0)
