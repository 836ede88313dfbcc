"""Asking for a new community, and the site administrators' pages, through the web app:
what an administrator can do, and that nobody else can tell the pages exist."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker as SessionMaker
from werkzeug.test import TestResponse

from forum import community_requests, site_admins
from forum.access import membership_of, user_by_email
from forum.config import Settings
from forum.errors import NotPermitted
from forum.models import Community, CommunityRequest, Membership, OutboxItem, Post, RequestStatus, Role, Visibility
from forum.posting import Draft, submit_post
from forum.site import Site
from tests.support import make_community, make_member

ROOT, ANN, BOB = "root@council.example", "ann@council.example", "bob@council.example"
SignIn = Callable[[int | None], None]
Token = Callable[[], str]


@pytest.fixture
def people(sessionmaker: SessionMaker[Session]) -> dict[str, int]:
    """Root: site administrator; Ann: facilitator of housing (public); Bob: member of board (private)."""
    with sessionmaker.begin() as db:
        root, _ = site_admins.add(db, ROOT)
        root.display_name = "Root"
        housing = make_community(db, "housing")
        board = make_community(db, "board", private=True)
        ann = make_member(db, housing, ANN, role=Role.facilitator).user_id
        bob = make_member(db, board, BOB).user_id
        db.flush()
        return {"root": root.id, "ann": ann, "bob": bob}


def page(response: TestResponse, status: int = 200) -> BeautifulSoup:
    assert response.status_code == status, response.text
    return BeautifulSoup(response.text, "html.parser")


def main(response: TestResponse) -> str:
    return str(BeautifulSoup(response.text, "html.parser").find("main"))


def notices_to(sessionmaker: SessionMaker[Session], address: str) -> list[dict[str, str]]:
    with sessionmaker() as db:
        return list(db.scalars(select(OutboxItem.payload).where(OutboxItem.address == address).order_by(OutboxItem.id)))


def ask(client: FlaskClient, token: str, **fields: str) -> TestResponse:
    data = {"name": "Tenancy Law", "description": "Sharing case law", "category": "Housing", "visibility": "public"}
    return client.post("/communities/request", data={"csrf_token": token, **data, **fields})


ADMIN_PAGES = [
    "/admin/",
    "/admin/requests",
    "/admin/communities",
    "/admin/communities/housing",
    "/admin/communities/board",
    "/admin/communities/housing/delete",
    "/admin/held",
    "/admin/bounces",
]


class TestNobodyElseSeesThem:
    @pytest.mark.parametrize("who", ["visitor", "member", "facilitator"])
    def test_every_admin_page_is_not_found(
        self, client: FlaskClient, sign_in: SignIn, people: dict[str, int], csrf_token: Token, who: str
    ) -> None:
        sign_in({"visitor": None, "member": people["bob"], "facilitator": people["ann"]}[who])
        nothing = client.get("/no-such-page")
        for url in ADMIN_PAGES:
            answer = client.get(url)
            assert answer.status_code == 404 and main(answer) == main(nothing), url
        token = csrf_token()
        for url in ("/admin/requests/1", "/admin/communities/housing/archive", "/admin/communities/housing/delete"):
            refused = client.post(
                url, data={"csrf_token": token, "action": "approve", "archived": "1", "confirm": "housing"}
            )
            assert refused.status_code == 404, url
        with_token = client.post("/admin/communities/housing", data={"csrf_token": token, "name": "Taken over"})
        assert with_token.status_code == 404
        assert "Site admin" not in client.get("/").text

    def test_the_header_leads_an_administrator_there(
        self, client: FlaskClient, sign_in: SignIn, people: dict[str, int]
    ) -> None:
        sign_in(people["root"])
        assert page(client.get("/")).find("a", href="/admin/").text == "Site admin"
        for url in ADMIN_PAGES:
            assert client.get(url).status_code == 200, url

    def test_forms_need_the_csrf_token(self, client: FlaskClient, sign_in: SignIn, people: dict[str, int]) -> None:
        sign_in(people["root"])
        assert client.post("/admin/communities/housing/archive", data={"archived": "1"}).status_code == 400
        sign_in(people["ann"])
        assert client.post("/communities/request", data={"name": "X", "description": "Y"}).status_code == 400


class TestRequests:
    def test_asking_needs_signing_in(self, client: FlaskClient) -> None:
        answer = client.get("/communities/request")
        assert answer.status_code == 302 and "/signin" in answer.headers["Location"]

    def test_a_request_is_approved_and_its_requester_runs_the_community(
        self,
        client: FlaskClient,
        sign_in: SignIn,
        people: dict[str, int],
        csrf_token: Token,
        sessionmaker: SessionMaker[Session],
    ) -> None:
        sign_in(people["ann"])
        form = page(client.get("/communities/request")).find("form", action="/communities/request")
        assert [i["value"] for i in form.select("input[name=visibility]")] == [v.value for v in Visibility]
        sent = page(ask(client, csrf_token(), name="Tenancy Law – Cyfraith", visibility="private"))
        assert sent.h1.text == "Request sent"
        [told] = notices_to(sessionmaker, ROOT)
        assert "Tenancy Law" in told["subject"] and "/admin/requests" in told["text"]
        assert "Waiting for a decision" in client.get("/communities/request").text

        sign_in(people["root"])
        waiting = page(client.get("/admin/requests"))
        assert "tenancy-law-cyfraith@" in waiting.text and ANN in waiting.text
        request_id = int(waiting.select_one("main form")["action"].rsplit("/", 1)[1])
        done = client.post(
            f"/admin/requests/{request_id}",
            data={"csrf_token": csrf_token(), "action": "approve", f"request-{request_id}-note": "Welcome"},
        )
        assert done.status_code == 303
        assert "is made" in page(client.get(done.headers["Location"])).text
        with sessionmaker() as db:
            community = db.scalar(select(Community).where(Community.slug == "tenancy-law-cyfraith"))
            assert community is not None and community.visibility is Visibility.private
            assert (community.name, community.category) == ("Tenancy Law – Cyfraith", "Housing")
            membership = membership_of(db, user_by_email(db, ANN), community)
            assert membership is not None and membership.role is Role.facilitator
        approved = notices_to(sessionmaker, ANN)[-1]
        assert "is ready" in approved["subject"] and "tenancy-law-cyfraith@" in approved["text"]
        assert "Welcome" in approved["text"]
        again = client.post(f"/admin/requests/{request_id}", data={"csrf_token": csrf_token(), "action": "decline"})
        assert "approved already" in page(client.get(again.headers["Location"])).text

        sign_in(people["ann"])
        assert "Tenancy Law – Cyfraith" in page(client.get("/")).find("table").text

    def test_a_declined_request_tells_the_reason(
        self,
        client: FlaskClient,
        sign_in: SignIn,
        people: dict[str, int],
        csrf_token: Token,
        sessionmaker: SessionMaker[Session],
    ) -> None:
        sign_in(people["ann"])
        ask(client, csrf_token())
        with sessionmaker() as db:
            request_id = db.scalar(select(CommunityRequest.id))
        sign_in(people["root"])
        client.post(
            f"/admin/requests/{request_id}",
            data={"csrf_token": csrf_token(), "action": "decline", f"request-{request_id}-note": "Housing covers it"},
        )
        declined = notices_to(sessionmaker, ANN)[-1]
        assert "declined" in declined["subject"] and "Housing covers it" in declined["text"]
        with sessionmaker() as db:
            assert db.scalar(select(CommunityRequest.status)) is RequestStatus.declined
            assert db.scalar(select(Community.id).where(Community.slug == "tenancy-law")) is None

    @pytest.mark.parametrize(
        ("fields", "field", "words"),
        [
            ({"slug": "postmaster"}, "slug", "reserved for the site"),
            ({"slug": "housing"}, "slug", "already exists"),
            ({"slug": "bad slug!"}, "slug", "lowercase letters"),
            ({"slug": "news-owner"}, "slug", "not ending in"),
            ({"name": "日本"}, "slug", "cannot be a community address"),  # no address to make from it
            ({"name": "  "}, "name", "Enter the community's name"),
            ({"description": ""}, "description", "Say what the community is for"),
            ({"visibility": "secret"}, "visibility", "Not a valid choice"),
            ({"category": "x" * 61}, "category", "60"),
        ],
    )
    def test_a_bad_request_says_what_is_wrong_beside_it(
        self,
        client: FlaskClient,
        sign_in: SignIn,
        people: dict[str, int],
        csrf_token: Token,
        fields: dict[str, str],
        field: str,
        words: str,
    ) -> None:
        sign_in(people["ann"])
        soup = page(ask(client, csrf_token(), **fields), 400)
        assert words in soup.select_one(".error-summary").text
        assert soup.select_one(f".field-error [name={field}]") is not None  # said beside the field too

    def test_an_address_asked_for_already_and_too_many_waiting(
        self, client: FlaskClient, sign_in: SignIn, people: dict[str, int], csrf_token: Token
    ) -> None:
        sign_in(people["ann"])
        assert ask(client, csrf_token()).status_code == 200
        assert "already asked for" in page(ask(client, csrf_token()), 400).text
        for name in ("Second", "Third"):
            assert ask(client, csrf_token(), name=name).status_code == 200
        assert "3 requests waiting" in page(ask(client, csrf_token(), name="Fourth"), 400).text


class TestCommunities:
    def test_search_edit_and_private_names(
        self,
        client: FlaskClient,
        sign_in: SignIn,
        people: dict[str, int],
        csrf_token: Token,
        sessionmaker: SessionMaker[Session],
    ) -> None:
        sign_in(people["root"])
        assert [a.text for a in page(client.get("/admin/communities")).select("tbody th a")] == ["Board", "Housing"]
        assert [a.text for a in page(client.get("/admin/communities?q=boa")).select("tbody th a")] == ["Board"]
        edited = client.post(
            "/admin/communities/housing",
            data={
                "csrf_token": csrf_token(),
                "name": "Housing Advice",
                "description": "",  # a purpose is asked of a request, not of every community
                "category": "Housing",
                "visibility": "private",
            },
        )
        assert edited.status_code == 303
        with sessionmaker() as db:
            housing = db.scalar(select(Community).where(Community.slug == "housing"))
            assert housing is not None
            assert housing.description == ""
            assert (housing.name, housing.category, housing.visibility) == (
                "Housing Advice",
                "Housing",
                Visibility.private,
            )
        assert page(client.post("/admin/communities/housing", data={"csrf_token": csrf_token(), "name": ""}), 400)
        assert client.get("/admin/communities/nosuch").status_code == 404

    def test_an_archived_community_is_read_but_takes_no_posts(
        self,
        client: FlaskClient,
        sign_in: SignIn,
        people: dict[str, int],
        csrf_token: Token,
        sessionmaker: SessionMaker[Session],
        site: Site,
    ) -> None:
        with sessionmaker.begin() as db:
            submit_post(db, Draft(community="housing", author_email=ANN, subject="Before", body="Kept"), site)
        sign_in(people["root"])
        client.post("/admin/communities/housing/archive", data={"csrf_token": csrf_token(), "archived": "1"})
        assert "Archived on" in client.get("/admin/communities/housing").text
        sign_in(None)
        assert "Before" in client.get("/c/housing/").text
        sign_in(people["ann"])  # its facilitator, on the web
        refused = client.post("/c/housing/new", data={"csrf_token": csrf_token(), "subject": "After", "body": "No"})
        assert (
            refused.status_code == 403 and "Housing is archived" in page(refused, 403).select_one(".error-summary").text
        )
        with sessionmaker.begin() as db, pytest.raises(NotPermitted, match="housing is archived"):
            submit_post(db, Draft(community="housing", author_email=ANN, subject="After", body="No"), site)
        with sessionmaker.begin() as db, pytest.raises(NotPermitted, match="archived"):
            submit_post(db, Draft(community="housing", author_email=ANN, body="Imported", trusted=True), site)
        sign_in(people["root"])
        client.post("/admin/communities/housing/archive", data={"csrf_token": csrf_token(), "archived": "0"})
        with sessionmaker.begin() as db:
            assert submit_post(db, Draft(community="housing", author_email=ANN, subject="Again", body="Yes"), site)

    def test_delete_asks_for_the_address_and_saves_first(
        self,
        client: FlaskClient,
        sign_in: SignIn,
        people: dict[str, int],
        csrf_token: Token,
        sessionmaker: SessionMaker[Session],
        site: Site,
        tmp_path: Path,
    ) -> None:
        with sessionmaker.begin() as db:
            submit_post(db, Draft(community="housing", author_email=ANN, subject="Damp", body="Who knows?"), site)
        sign_in(people["root"])
        wrong = page(
            client.post("/admin/communities/housing/delete", data={"csrf_token": csrf_token(), "confirm": "x"}), 400
        )
        assert "Type the community's address" in wrong.select_one(".error-summary").text
        done = client.post("/admin/communities/housing/delete", data={"csrf_token": csrf_token(), "confirm": "housing"})
        assert done.status_code == 303
        assert "Its archive was saved first" in client.get(done.headers["Location"]).text
        with sessionmaker() as db:
            assert db.scalar(select(Community.id).where(Community.slug == "housing")) is None
            assert db.scalar(select(Post.id)) is None and user_by_email(db, ANN) is not None
        saved = sorted(p.name for p in site.settings.storage_path.parent.rglob("housing-*"))
        saved += sorted(p.name for p in site.settings.storage_path.rglob("housing-*"))
        assert any(name.endswith(".mbox") for name in saved) and any(name.endswith("-members.csv") for name in saved)


class TestOverviews:
    def test_held_posts_and_bounces_across_communities(
        self,
        client: FlaskClient,
        sign_in: SignIn,
        people: dict[str, int],
        sessionmaker: SessionMaker[Session],
        site: Site,
    ) -> None:
        with sessionmaker.begin() as db:
            garden = make_community(db, "garden", policy="moderated")
            make_member(db, garden, BOB)
            bouncing = db.scalar(select(Membership).where(Membership.user_id == people["bob"]))
            assert bouncing is not None
            bouncing.bounce_score, bouncing.bounce_reason = 2.0, "550 mailbox unknown"
        with sessionmaker.begin() as db:
            submit_post(db, Draft(community="garden", author_email=BOB, subject="Compost", body="Hold me"), site)
        sign_in(people["root"])
        held = page(client.get("/admin/held"))
        assert held.find("a", href="/c/garden/manage/held").text == "Garden" and "1" in held.tbody.text
        assert "Compost" not in held.text  # the text stays with the community
        assert "Compost" in client.get("/c/garden/manage/held").text  # where an administrator may approve it
        bounces = page(client.get("/admin/bounces"))
        assert BOB in bounces.tbody.text and "550 mailbox unknown" in bounces.tbody.text
        assert "1 message is held" in client.get("/admin/").text


def test_a_welsh_administrator_is_asked_in_welsh_and_the_requester_answered_in_theirs(
    client: FlaskClient,
    sign_in: SignIn,
    people: dict[str, int],
    csrf_token: Token,
    sessionmaker: SessionMaker[Session],
    site: Site,
) -> None:
    with sessionmaker.begin() as db:
        root = user_by_email(db, ROOT)
        assert root is not None
        root.language = "cy"
    sign_in(people["ann"])
    ask(client, csrf_token(), name="Tai")
    [told] = notices_to(sessionmaker, ROOT)
    assert told["subject"] == "Mae Ann yn gofyn am gymuned newydd: Tai" and "Ei diben: Sharing case law" in told["text"]
    sign_in(people["root"])
    assert page(client.get("/admin/requests?lang=cy")).find("h1").text == "Ceisiadau am gymunedau"
    with sessionmaker() as db:
        request_id = db.scalar(select(CommunityRequest.id))
    client.post(f"/admin/requests/{request_id}", data={"csrf_token": csrf_token(), "action": "approve"})
    assert notices_to(sessionmaker, ANN)[-1]["subject"] == "Tai is ready"


def test_with_no_administrator_the_operators_are_told(
    make_settings: Callable[..., Settings], sessionmaker: SessionMaker[Session]
) -> None:
    site = Site.from_settings(make_settings(site={"operators": ["ops@council.example"]}))
    with sessionmaker.begin() as db:
        asker = make_member(db, make_community(db, "housing"), ANN).user
        community_requests.ask(
            db, site, asker, slug="tai", name="Tai", description="Housing", category="", visibility=Visibility.public
        )
    [told] = notices_to(sessionmaker, "ops@council.example")
    assert "Tai" in told["subject"] and "listbridge site admin add" in told["text"]
