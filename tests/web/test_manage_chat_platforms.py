"""The facilitators' chat page offers the platforms that are registered, not a list of its own.

A test-only platform (:mod:`tests.loopback_platform`), registered as the runtime registers
the real ones, appears on the page with its label and its help, and its channel ids are
checked by its own rule.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from bs4 import BeautifulSoup
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker as SessionMaker

from bridges.platforms import ChatBridge
from forum import chat
from forum.config import Settings
from forum.models import Role
from forum.posting import community_by_slug
from tests.support import BRIDGED, make_community, make_member

ANN = "ann@example.org"
PAGE = "/c/housing/manage/chat"


@pytest.fixture
def settings(loopback: ChatBridge[Any], make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(**BRIDGED, loopback={"enabled": True})


@pytest.fixture(autouse=True)
def housing(sessionmaker: SessionMaker[Session]) -> None:
    with sessionmaker.begin() as session:
        make_member(session, make_community(session, "housing"), ANN, role=Role.facilitator)


def test_a_registered_platform_is_offered_explained_and_linked(
    client: FlaskClient,
    csrf_token: Callable[[], str],
    as_user: Callable[[str], None],
    sessionmaker: SessionMaker[Session],
) -> None:
    as_user(ANN)
    soup = BeautifulSoup(client.get(PAGE).text, "html.parser")
    assert [(o["value"], o.get_text()) for o in soup.select("#platform option")] == [
        ("slack", "Slack"),
        ("matrix", "Matrix"),
        ("loopback", "Loopback"),
    ]
    assert "Loopback: the number after loop-, like loop-1." in soup.select_one("#channel-hint").get_text()

    refused = client.post(PAGE, data={"csrf_token": csrf_token(), "platform": "loopback", "channel": "C0123ABCD"})
    assert refused.status_code == 400
    assert "like loop-1" in BeautifulSoup(refused.text, "html.parser").select_one("#channel-error").get_text()

    done = client.post(PAGE, data={"csrf_token": csrf_token(), "platform": "loopback", "channel": "loop-7"})
    assert done.status_code == 303
    page = client.get(PAGE).text
    assert "Linked to Loopback loop-7" in page
    rows = BeautifulSoup(page, "html.parser").select("table.listing tbody tr")
    assert [row.th.get_text(strip=True) for row in rows] == ["Loopback"]
    with sessionmaker() as session:
        assert [(r.platform, r.channel) for r in chat.links(session, community_by_slug(session, "housing"))] == [
            ("loopback", "loop-7")
        ]
