"""The catalogue of communities (``/communities``) as visitors and members meet it: what is
listed to whom, searching, categories, sorting, pages, and its cost at a site's size."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from bs4 import BeautifulSoup
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, insert
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker as SessionMaker
from werkzeug.test import TestResponse

from forum.directory import create_community, edit_community
from forum.models import Community, MemberStatus, Role, Visibility
from forum.posting import Draft, submit_post
from forum.site import Site
from tests.support import make_member

ANN, BOB = "ann@example.org", "bob@example.org"
SignIn = Callable[[int | None], None]


@pytest.fixture
def people(sessionmaker: SessionMaker[Session]) -> dict[str, int]:
    """housing (public, Housing): Ann, Bob; tai (public, Welsh, housing): Bob; board (private,
    purpose "quixotry"): Ann; garden (public, no category): nobody."""
    with sessionmaker.begin() as db:
        housing = create_community(
            db, "housing", "Housing Advice", description="Disrepair claims and quixotry", category="Housing"
        )
        tai = create_community(db, "tai", "Tŷ a Chartrefi", description="Cyngor tai yng Nghymru", category="housing")
        board = create_community(db, "board", "Board", private=True, description="Budgets and quixotry")
        create_community(db, "garden", "Garden", description="100% peat-free, under_score")
        ann = make_member(db, housing, ANN, role=Role.facilitator).user_id
        bob = make_member(db, housing, BOB).user_id
        make_member(db, tai, BOB)
        make_member(db, board, ANN)
    return {"ann": ann, "bob": bob}


def page(response: TestResponse) -> BeautifulSoup:
    assert response.status_code == 200, response.text
    return BeautifulSoup(response.text, "html.parser")


def listed(response: TestResponse) -> list[str]:
    return [a.text for a in page(response).select("tbody th a")]


@pytest.mark.usefixtures("people")
class TestWhatIsListed:
    def test_visitors_find_public_communities_only(self, client: FlaskClient) -> None:
        soup = page(client.get("/communities"))
        assert sorted(a.text for a in soup.select("tbody th a")) == ["Garden", "Housing Advice", "Tŷ a Chartrefi"]
        assert soup.find("h2", id="found-heading").text == "3 communities"
        assert "Board" not in soup.text

    def test_members_find_their_private_communities_marked_as_theirs(
        self, client: FlaskClient, sign_in: SignIn, people: dict[str, int]
    ) -> None:
        sign_in(people["ann"])
        soup = page(client.get("/communities?sort=name"))
        rows = {row.th.a.text: row.th.text for row in soup.select("tbody tr")}
        assert list(rows) == ["Board", "Garden", "Housing Advice", "Tŷ a Chartrefi"]
        assert "Private" in rows["Board"] and "You are a member" in rows["Board"]
        assert "You are a member" in rows["Housing Advice"] and "You are a member" not in rows["Garden"]

    @pytest.mark.parametrize("who", ["visitor", "non-member"])
    def test_a_private_community_is_never_found_by_outsiders(
        self, client: FlaskClient, sign_in: SignIn, people: dict[str, int], who: str
    ) -> None:
        sign_in(None if who == "visitor" else people["bob"])
        for query in ("q=quixotry", "q=board", "q=budgets", "category=", "sort=size", "sort=name&page=1"):
            response = client.get(f"/communities?{query}")
            assert "Board" not in response.text and "Budgets" not in response.text, query
        assert listed(client.get("/communities?q=quixotry")) == ["Housing Advice"]


@pytest.mark.usefixtures("people")
class TestSearching:
    def test_by_name_or_purpose_ignoring_case_and_accents(self, client: FlaskClient) -> None:
        assert listed(client.get("/communities?q=QUIXOTRY")) == ["Housing Advice"]
        assert listed(client.get("/communities?q=ty+a+chartrefi")) == ["Tŷ a Chartrefi"]
        assert listed(client.get("/communities?q=T%C5%B7")) == ["Tŷ a Chartrefi"]
        assert listed(client.get("/communities?q=disrepair+advice")) == ["Housing Advice"]  # every word, anywhere

    @pytest.mark.parametrize("query", ["%", "_", "%25", "' OR 1=1 --", '"); DROP TABLE communities; --', "\\"])
    def test_wildcards_and_injection_are_only_text(self, client: FlaskClient, query: str) -> None:
        found = listed(client.get("/communities", query_string={"q": query}))
        expected = {"%": ["Garden"], "_": ["Garden"], "%25": []}.get(query, [])
        assert found == expected, query
        assert len(listed(client.get("/communities"))) == 3  # still all there

    def test_no_match_says_so_and_leads_back(self, client: FlaskClient) -> None:
        soup = page(client.get("/communities?q=zebra"))
        assert "No community matches" in soup.text
        assert soup.find("a", href="/communities").text == "Show every community"
        assert soup.find("input", id="catalogue-q")["value"] == "zebra"

    def test_the_form_is_a_plain_get_with_labels(self, client: FlaskClient) -> None:
        form = page(client.get("/communities")).find("form", action="/communities")
        assert form["method"] == "get"
        for control in form.select("input, select"):
            assert form.find("label", attrs={"for": control["id"]}) is not None


@pytest.mark.usefixtures("people")
class TestCategories:
    def test_one_spelling_per_category_with_counts(self, client: FlaskClient) -> None:
        options = [o.text for o in page(client.get("/communities")).select("#catalogue-category option")]
        assert options == ["All categories", "Housing (2)"]  # "housing" joined "Housing"; Board's is not counted

    def test_filtering_by_category_in_any_case(self, client: FlaskClient) -> None:
        assert sorted(listed(client.get("/communities?category=housing"))) == ["Housing Advice", "Tŷ a Chartrefi"]
        assert listed(client.get("/communities?category=Nothing")) == []
        assert listed(client.get("/communities", query_string={"category": "x" * 300})) == []  # too long: no match
        selected = page(client.get("/communities?category=HOUSING")).select_one("#catalogue-category [selected]")
        assert selected.text == "Housing (2)"

    def test_facilitators_set_it_in_their_settings(
        self, client: FlaskClient, sign_in: SignIn, people: dict[str, int], csrf_token: Callable[[], str]
    ) -> None:
        sign_in(people["ann"])
        form = page(client.get("/c/housing/manage/settings")).find("input", id="category")
        assert form["value"] == "Housing"
        saved = client.post(
            "/c/housing/manage/settings",
            data={
                "csrf_token": csrf_token(),
                "name": "Housing Advice",
                "description": "Disrepair claims and quixotry",
                "category": "  Tenancy   law ",
                "visibility": "public",
                "posting_policy": "members",
                "language": "en",
                "subject_prefix": "",
            },
        )
        assert saved.status_code == 303, saved.text
        assert listed(client.get("/communities?category=tenancy+law")) == ["Housing Advice"]


class TestSorting:
    def test_by_activity_size_and_name(
        self, client: FlaskClient, sessionmaker: SessionMaker[Session], site: Site
    ) -> None:
        with sessionmaker.begin() as db:
            for slug, members in (("alpha", 1), ("beta", 3), ("gamma", 2)):
                community = create_community(db, slug, slug.title())
                for n in range(members):
                    make_member(db, community, f"p{n}@example.org")
        for slug in ("gamma", "alpha"):  # alpha's post is the latest; beta has none
            with sessionmaker.begin() as db:
                submit_post(db, Draft(community=slug, author_email="p0@example.org", subject="Hi", body="Hi"), site)
        assert listed(client.get("/communities")) == ["Alpha", "Gamma", "Beta"]
        assert listed(client.get("/communities?sort=size")) == ["Beta", "Gamma", "Alpha"]
        assert listed(client.get("/communities?sort=name")) == ["Alpha", "Beta", "Gamma"]
        assert listed(client.get("/communities?sort=bogus")) == ["Alpha", "Gamma", "Beta"]


@contextmanager
def counted_queries(app: Flask) -> Iterator[list[str]]:
    engine = app.extensions["listbridge"].readers.kw["bind"]
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_fifteen_hundred_communities_in_pages_of_fifty_at_a_bounded_cost(
    app: Flask,
    client: FlaskClient,
    sessionmaker: SessionMaker[Session],
    sign_in: SignIn,
    record_measurement: Callable[[str], None],
) -> None:
    with sessionmaker.begin() as db:
        db.execute(
            insert(Community),
            [
                {
                    "slug": f"c{n:04d}",
                    "name": f"Community {n:04d}",
                    "description": "Housing officers" if n % 3 else "Planning officers",
                    "category": "Housing" if n % 3 else "Planning",
                    "visibility": Visibility.private if n % 10 == 0 else Visibility.public,
                }
                for n in range(1500)
            ],
        )
        member = make_member(db, db.query(Community).filter_by(slug="c0010").one(), ANN)
        make_member(db, db.query(Community).filter_by(slug="c0001").one(), ANN, status=MemberStatus.pending)
    sign_in(member.user_id)
    with counted_queries(app) as statements:
        started = time.perf_counter()
        first = page(client.get("/communities?sort=name"))
        elapsed = time.perf_counter() - started
    assert len(first.select("tbody tr")) == 50
    assert first.find("h2", id="found-heading").text == "1,351 communities"  # 1,350 public and hers
    assert first.find("a", rel="next")["href"] == "/communities?sort=name&page=2"
    assert len(statements) <= 8, statements  # the session, the rows with their counts, the total, the categories
    assert elapsed < 2.0, f"{elapsed:.2f} s"
    record_measurement(f"catalogue of 1,500 communities: page 1 in {elapsed * 1000:.0f} ms, {len(statements)} queries")
    last = page(client.get("/communities?sort=name&page=28"))
    assert len(last.select("tbody tr")) == 1 and last.find("a", rel="next") is None
    assert client.get("/communities?page=29").status_code == 404
    rows = {row.th.a.text: row.th.text for row in page(client.get("/communities?sort=name&q=0001")).select("tbody tr")}
    assert "You asked to join" in rows["Community 0001"]
    with counted_queries(app) as statements:
        started = time.perf_counter()
        searched = page(client.get("/communities?q=planning&category=Planning"))
        elapsed = time.perf_counter() - started
    record_measurement(
        f"catalogue of 1,500 communities: a search in {elapsed * 1000:.0f} ms, {len(statements)} queries"
    )
    assert searched.find("h2", id="found-heading").text == "450 communities"  # the public ones: hers is Housing
    assert len(statements) <= 9, statements


def test_the_home_page_leads_to_the_catalogue_and_a_members_own(
    client: FlaskClient, sign_in: SignIn, people: dict[str, int]
) -> None:
    visitor = page(client.get("/"))
    assert visitor.find("a", href="/communities") is not None
    active = sorted(a.text for a in visitor.select("table[aria-labelledby=active] tbody th a"))
    assert active == ["Garden", "Housing Advice", "Tŷ a Chartrefi"], "a visitor sees where to start; never Board"
    assert visitor.find("h2", id="yours") is None
    sign_in(people["ann"])
    ann = page(client.get("/"))
    assert sorted(a.text for a in ann.select("table[aria-labelledby=yours] tbody th > a")) == [
        "Board",
        "Housing Advice",
    ]
    assert ann.find("h2", id="active") is None, "she has her own; the catalogue is a link away"


def test_the_home_page_shows_ten_lately_active_communities_however_many_there_are(
    client: FlaskClient, sessionmaker: SessionMaker[Session]
) -> None:
    with sessionmaker.begin() as db:
        for n in range(25):
            create_community(db, f"c{n:02}", f"Community {n:02}")
    soup = page(client.get("/"))
    assert len(soup.select("table[aria-labelledby=active] tbody tr")) == 10
    assert soup.find("a", string="See every community")["href"] == "/communities"


def test_edit_community_keeps_categories_as_used(sessionmaker: SessionMaker[Session], people: dict[str, int]) -> None:
    with sessionmaker.begin() as db:
        garden = db.query(Community).filter_by(slug="garden").one()
        assert edit_community(db, garden, category="HOUSING").category == "Housing"
        assert edit_community(db, garden, category="").category == ""


@pytest.mark.usefixtures("people")
def test_the_catalogue_in_welsh(client: FlaskClient) -> None:
    soup = page(client.get("/communities?lang=cy&q=zebra"))
    assert (
        soup.h1.text == "Dod o hyd i gymuned"
        and soup.find("label", attrs={"for": "catalogue-q"}).text == "Enw neu ddiben"
    )
    assert "Does dim cymuned yn cyfateb" in soup.text and soup.find("h2", id="found-heading").text == "0 cymuned"
