"""The facilitators' chat page: linking a community to Slack channels and Matrix rooms.

The page calls the same ``forum.chat`` functions as ``listbridge bridge link``, so the
tests read the core's mapping through ``forum.chat.links``.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from bs4 import BeautifulSoup
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker as SessionMaker

from forum import chat
from forum.config import Settings, from_dict
from forum.models import Role
from forum.posting import community_by_slug
from tests.support import BRIDGED, make_community, make_member

ANN, MO, BOB, EVE = "ann@example.org", "mo@example.org", "bob@example.org", "eve@example.org"
# What the core needs to link: a site whose bridges are set up (the app's own settings, below).
BRIDGED_SITE = from_dict(
    {
        "site": {"mail_domain": "lists.example.org", "secret_key": "test-secret-0123456789"},
        "database": {"url": "sqlite://"},
        **BRIDGED,
    }
)
PAGE = "/c/{}/manage/chat"
UNLINK = "/c/{}/manage/chat/unlink"


@pytest.fixture
def settings(make_settings: Callable[..., Settings], request: pytest.FixtureRequest) -> Settings:
    """A site with both bridges set up, unless a test gives other settings (``indirect``)."""
    return make_settings(**getattr(request, "param", BRIDGED))


@pytest.fixture(autouse=True)
def communities(sessionmaker: SessionMaker[Session]) -> None:
    """Housing (public): Ann facilitates, Mo moderates, Bob is a member.
    Board (private): Ann facilitates, Bob is a member. Eve is in Garden only."""
    with sessionmaker.begin() as session:
        housing = make_community(session, "housing")
        make_member(session, housing, ANN, role=Role.facilitator)
        make_member(session, housing, MO, role=Role.moderator)
        make_member(session, housing, BOB)
        board = make_community(session, "board", private=True)
        make_member(session, board, ANN, role=Role.facilitator)
        make_member(session, board, BOB)
        make_member(session, make_community(session, "garden"), EVE)


def linked(sessionmaker: SessionMaker[Session], slug: str = "housing") -> list[tuple[str, str]]:
    with sessionmaker() as session:
        return [(row.platform, row.channel) for row in chat.links(session, community_by_slug(session, slug))]


def link_in_core(sessionmaker: SessionMaker[Session], slug: str, platform: str, channel: str) -> None:
    with sessionmaker.begin() as session:
        chat.link(session, community_by_slug(session, slug), platform, channel, settings=BRIDGED_SITE)


class TestLinking:
    def test_link_list_and_unlink(
        self,
        client: FlaskClient,
        csrf_token: Callable[[], str],
        as_user: Callable[[str], None],
        sessionmaker: SessionMaker[Session],
    ) -> None:
        as_user(ANN)
        empty = client.get(PAGE.format("housing"))
        assert empty.status_code == 200 and "not linked to any chat channel" in empty.text
        assert "not set up on this site" not in empty.text
        done = client.post(
            PAGE.format("housing"), data={"csrf_token": csrf_token(), "platform": "slack", "channel": " C0123ABCD "}
        )
        assert done.status_code == 303 and done.headers["Location"].endswith(PAGE.format("housing"))
        client.post(
            PAGE.format("housing"),
            data={"csrf_token": csrf_token(), "platform": "matrix", "channel": "!abc:example.org"},
        )
        assert linked(sessionmaker) == [("matrix", "!abc:example.org"), ("slack", "C0123ABCD")]

        page = client.get(PAGE.format("housing"))
        assert "Linked to Matrix !abc:example.org" in page.text  # the flash of the last link
        rows = BeautifulSoup(page.text, "html.parser").select("table.listing tbody tr")
        assert [row.th.get_text(strip=True) for row in rows] == ["Matrix", "Slack"]
        assert all(row.find("time") for row in rows)
        assert "C0123ABCD" in rows[1].get_text()

        gone = client.post(
            UNLINK.format("housing"), data={"csrf_token": csrf_token(), "platform": "slack", "channel": "C0123ABCD"}
        )
        assert gone.status_code == 303
        assert linked(sessionmaker) == [("matrix", "!abc:example.org")]
        assert "Unlinked from Slack C0123ABCD" in client.get(PAGE.format("housing")).text

        again = client.post(
            UNLINK.format("housing"), data={"csrf_token": csrf_token(), "platform": "slack", "channel": "C0123ABCD"}
        )
        assert again.status_code == 303  # a second click is told, not failed
        assert "is not linked to slack channel C0123ABCD" in client.get(PAGE.format("housing")).text

    def test_moderators_may_link_too(
        self,
        client: FlaskClient,
        csrf_token: Callable[[], str],
        as_user: Callable[[str], None],
        sessionmaker: SessionMaker[Session],
    ) -> None:
        as_user(MO)
        client.post(
            PAGE.format("housing"),
            data={"csrf_token": csrf_token(), "platform": "matrix", "channel": "!room:matrix.example.org:8448"},
        )
        assert linked(sessionmaker) == [("matrix", "!room:matrix.example.org:8448")]

    def test_another_communitys_link_cannot_be_unlinked_here(
        self,
        client: FlaskClient,
        csrf_token: Callable[[], str],
        as_user: Callable[[str], None],
        sessionmaker: SessionMaker[Session],
    ) -> None:
        link_in_core(sessionmaker, "board", "slack", "C0123ABCD")
        as_user(ANN)
        client.post(
            UNLINK.format("housing"), data={"csrf_token": csrf_token(), "platform": "slack", "channel": "C0123ABCD"}
        )
        assert linked(sessionmaker, "board") == [("slack", "C0123ABCD")]


class TestValidation:
    @pytest.mark.parametrize(
        ("platform", "channel", "message"),
        [
            ("slack", "", "Enter the channel or room ID"),
            ("slack", "#general", "not its name"),
            ("slack", "general", "like C0123ABCD"),
            ("slack", "!abc:example.org", "like C0123ABCD"),
            ("matrix", "#room:example.org", "not an alias"),
            ("matrix", "C0123ABCD", "like !abc:example.org"),
            ("matrix", "!abc:exa mple.org", "like !abc:example.org"),
        ],
    )
    def test_a_bad_id_is_shown_on_the_form(
        self,
        client: FlaskClient,
        csrf_token: Callable[[], str],
        as_user: Callable[[str], None],
        sessionmaker: SessionMaker[Session],
        platform: str,
        channel: str,
        message: str,
    ) -> None:
        as_user(ANN)
        page = client.post(
            PAGE.format("housing"), data={"csrf_token": csrf_token(), "platform": platform, "channel": channel}
        )
        assert page.status_code == 400
        soup = BeautifulSoup(page.text, "html.parser")
        summary = soup.select_one(".error-summary")
        assert summary is not None and summary.select_one('a[href="#channel"]') is not None
        assert message in soup.select_one("#channel-error").get_text()
        assert "channel-error" in soup.select_one("#channel")["aria-describedby"]
        assert linked(sessionmaker) == []

    @pytest.mark.parametrize(
        ("settings", "platform", "channel", "setting"),
        [
            ({"matrix": BRIDGED["matrix"]}, "slack", "C0123ABCD", "[slack] bot_token"),
            ({"slack": BRIDGED["slack"]}, "matrix", "!abc:example.org", "[matrix] homeserver"),
        ],
        indirect=["settings"],
    )
    def test_a_platform_this_site_does_not_bridge_is_refused_saying_which_setting_is_missing(
        self,
        client: FlaskClient,
        csrf_token: Callable[[], str],
        as_user: Callable[[str], None],
        sessionmaker: SessionMaker[Session],
        platform: str,
        channel: str,
        setting: str,
    ) -> None:
        as_user(ANN)
        said = client.get(PAGE.format("housing")).text
        assert "not set up on this site" in said and setting in said  # said before anyone tries
        page = client.post(
            PAGE.format("housing"), data={"csrf_token": csrf_token(), "platform": platform, "channel": channel}
        )
        assert page.status_code == 400
        soup = BeautifulSoup(page.text, "html.parser")
        summary = soup.select_one(".error-summary")
        assert summary is not None and summary.select_one('a[href="#platform"]') is not None
        error = soup.select_one("#platform-error").get_text()
        assert "not set up on this site" in error and setting in error
        assert linked(sessionmaker) == []

    def test_an_unknown_platform_is_refused(
        self,
        client: FlaskClient,
        csrf_token: Callable[[], str],
        as_user: Callable[[str], None],
        sessionmaker: SessionMaker[Session],
    ) -> None:
        as_user(ANN)
        page = client.post(
            PAGE.format("housing"), data={"csrf_token": csrf_token(), "platform": "irc", "channel": "C0123ABCD"}
        )
        assert page.status_code == 400 and 'href="#platform"' in page.text
        assert linked(sessionmaker) == []

    def test_a_channel_linked_here_already(
        self,
        client: FlaskClient,
        csrf_token: Callable[[], str],
        as_user: Callable[[str], None],
        sessionmaker: SessionMaker[Session],
    ) -> None:
        link_in_core(sessionmaker, "housing", "slack", "C0123ABCD")
        as_user(ANN)
        page = client.post(
            PAGE.format("housing"), data={"csrf_token": csrf_token(), "platform": "slack", "channel": "C0123ABCD"}
        )
        assert page.status_code == 400 and "is already linked to Slack C0123ABCD" in page.text
        assert linked(sessionmaker) == [("slack", "C0123ABCD")]

    def test_a_channel_of_another_community(
        self,
        client: FlaskClient,
        csrf_token: Callable[[], str],
        as_user: Callable[[str], None],
        sessionmaker: SessionMaker[Session],
    ) -> None:
        link_in_core(sessionmaker, "garden", "matrix", "!abc:example.org")
        as_user(ANN)
        page = client.post(
            PAGE.format("housing"),
            data={"csrf_token": csrf_token(), "platform": "matrix", "channel": "!abc:example.org"},
        )
        assert page.status_code == 400 and "already linked to garden" in page.text
        assert linked(sessionmaker) == [] and linked(sessionmaker, "garden") == [("matrix", "!abc:example.org")]


class TestWhoMayLink:
    def test_outsiders_of_a_private_community_are_told_nothing(
        self,
        client: FlaskClient,
        csrf_token: Callable[[], str],
        as_user: Callable[[str], None],
        sessionmaker: SessionMaker[Session],
    ) -> None:
        link_in_core(sessionmaker, "board", "slack", "C0123ABCD")
        as_user(EVE)
        assert client.get(PAGE.format("board")).status_code == 404
        assert client.get(PAGE.format("nowhere")).status_code == 404
        assert (
            client.post(
                PAGE.format("board"), data={"csrf_token": csrf_token(), "platform": "slack", "channel": "C0999ZZZZ"}
            ).status_code
            == 404
        )
        assert (
            client.post(
                UNLINK.format("board"), data={"csrf_token": csrf_token(), "platform": "slack", "channel": "C0123ABCD"}
            ).status_code
            == 404
        )
        assert linked(sessionmaker, "board") == [("slack", "C0123ABCD")]

    @pytest.mark.parametrize("slug", ["housing", "board"])
    def test_members_are_refused_plainly(
        self,
        client: FlaskClient,
        csrf_token: Callable[[], str],
        as_user: Callable[[str], None],
        sessionmaker: SessionMaker[Session],
        slug: str,
    ) -> None:
        link_in_core(sessionmaker, slug, "slack", "C0123ABCD")
        as_user(BOB)
        refused = client.get(PAGE.format(slug))
        assert refused.status_code == 403 and "Only the facilitators and moderators" in refused.text
        assert (
            client.post(
                PAGE.format(slug), data={"csrf_token": csrf_token(), "platform": "slack", "channel": "C0999ZZZZ"}
            ).status_code
            == 403
        )
        assert (
            client.post(
                UNLINK.format(slug), data={"csrf_token": csrf_token(), "platform": "slack", "channel": "C0123ABCD"}
            ).status_code
            == 403
        )
        assert linked(sessionmaker, slug) == [("slack", "C0123ABCD")]

    def test_outsiders_of_a_public_community_are_refused(
        self, client: FlaskClient, as_user: Callable[[str], None]
    ) -> None:
        as_user(EVE)
        assert client.get(PAGE.format("housing")).status_code == 403

    def test_anonymous_visitors_are_sent_to_sign_in(self, client: FlaskClient) -> None:
        answer = client.get(PAGE.format("housing"))
        assert answer.status_code in (302, 303) and "/signin" in answer.headers["Location"]


class TestCsrf:
    def test_link_without_a_token_is_refused(
        self, client: FlaskClient, as_user: Callable[[str], None], sessionmaker: SessionMaker[Session]
    ) -> None:
        as_user(ANN)
        answer = client.post(PAGE.format("housing"), data={"platform": "slack", "channel": "C0123ABCD"})
        assert answer.status_code == 400
        forged = client.post(
            PAGE.format("housing"), data={"csrf_token": "forged", "platform": "slack", "channel": "C0123ABCD"}
        )
        assert forged.status_code == 400
        assert linked(sessionmaker) == []

    def test_unlink_without_a_token_is_refused(
        self, client: FlaskClient, as_user: Callable[[str], None], sessionmaker: SessionMaker[Session]
    ) -> None:
        link_in_core(sessionmaker, "housing", "slack", "C0123ABCD")
        as_user(ANN)
        answer = client.post(UNLINK.format("housing"), data={"platform": "slack", "channel": "C0123ABCD"})
        assert answer.status_code == 400
        assert linked(sessionmaker) == [("slack", "C0123ABCD")]


def test_the_page_has_one_heading_labelled_controls_and_no_script(
    client: FlaskClient, as_user: Callable[[str], None], sessionmaker: SessionMaker[Session]
) -> None:
    link_in_core(sessionmaker, "housing", "slack", "C0123ABCD")
    link_in_core(sessionmaker, "housing", "matrix", "!abc:example.org")
    as_user(ANN)
    soup = BeautifulSoup(client.get(PAGE.format("housing")).text, "html.parser")
    assert len(soup.find_all("h1")) == 1
    assert not soup.find_all("script")
    ids = [tag["id"] for tag in soup.find_all(id=True)]
    assert len(ids) == len(set(ids))
    labelled = {label.get("for") for label in soup.find_all("label")}
    for control in soup.find_all(["input", "select", "textarea"]):
        if control.get("type") not in ("hidden", "submit"):
            assert control.get("id") in labelled or control.get("aria-label"), str(control)[:120]
    for form in soup.find_all("form", method="post"):
        assert form.find("input", attrs={"name": "csrf_token"}), str(form)[:120]
    current = soup.select_one('nav a[aria-current="page"]')
    assert current is not None and current.get_text(strip=True) == "Chat"
    assert "channel-hint" in soup.select_one("#channel")["aria-describedby"]
    assert "C0123ABCD" in soup.select_one("#channel-hint").get_text()
