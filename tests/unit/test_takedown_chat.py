"""What taking things down does in chat, through the real bridge worker and the test-only
platform: an author's edit changes the chat copy, a hidden post's copy is removed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker as SessionMaker

from bridges.platforms import ChatBridge
from bridges.worker import ChatWorker
from forum import chat, takedown
from forum.access import user_by_email
from forum.config import Settings
from forum.models import Post, Role
from forum.moderation_log import OPERATOR
from forum.posting import Draft, submit_post
from forum.site import Site
from tests.loopback_platform import CHANNELS, LoopbackAdapter
from tests.support import make_community, make_member

CHANNEL = "loop-1"


@pytest.fixture
def site(
    loopback: ChatBridge[Any], make_settings: Callable[..., Settings], sessionmaker: SessionMaker[Session]
) -> Site:
    settings = make_settings(loopback={"enabled": True})
    with sessionmaker.begin() as session:
        housing = make_community(session, "housing")
        make_member(session, housing, "ann@example.org", role=Role.facilitator)
        make_member(session, housing, "bob@example.org")
        chat.link(session, housing, "loopback", CHANNEL, settings=settings)
    return Site.from_settings(settings)


def texts() -> list[str]:
    return [message.text for message in CHANNELS[CHANNEL]]


def test_an_edit_is_copied_to_chat_and_a_hidden_post_is_removed_there(
    sessionmaker: SessionMaker[Session], site: Site
) -> None:
    worker = ChatWorker(LoopbackAdapter(), site, sessionmaker)
    with sessionmaker.begin() as session:
        first = submit_post(
            session, Draft(community="housing", author_email="ann@example.org", subject="Boilers", body="Who?"), site
        ).post
        reply = submit_post(
            session,
            Draft(
                community="housing",
                author_email="bob@example.org",
                subject="Re: Boilers",
                body="Buy cheap pills",
                parent_id=first.id,
            ),
            site,
        ).post
    worker.step()
    assert texts() == ["Who?", "Buy cheap pills"]

    with sessionmaker.begin() as session:
        author = user_by_email(session, "ann@example.org")
        assert author is not None
        takedown.edit_own(session, site.settings, author, session.get_one(Post, first.id), "Who fixed theirs?")
        takedown.hide_post(session, OPERATOR, session.get_one(Post, reply.id), "Spam")
    worker.step()
    assert texts() == ["Who fixed theirs?"]
