"""Every route against hostile numbers, dates and query strings: a 404 or an explained
page, never a 500.

Ids and page numbers past 64 bits do not fit a database integer (PostgreSQL refuses the
query, SQLite's driver raises); the table below is tried on every route that takes a
number, found from the app's own URL map, so a route added later is covered too.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from bs4 import BeautifulSoup
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker as SessionMaker

from forum.models import Post, Role
from forum.posting import Draft, submit_post
from forum.site import Site
from tests.support import make_community, make_member

ANN = "ann@example.org"
HOSTILE_NUMBERS = ["9999999999999999999999", str(2**64), str(2**63), "9" * 400]


@pytest.fixture
def ann(sessionmaker: SessionMaker[Session]) -> int:
    with sessionmaker.begin() as session:
        housing = make_community(session, "housing")
        return make_member(session, housing, ANN, role=Role.facilitator).user_id


@pytest.fixture
def post(sessionmaker: SessionMaker[Session], site: Site, ann: int) -> Callable[..., Post]:
    def make(subject: str, **fields: Any) -> Post:
        with sessionmaker.begin() as session:
            draft = Draft(community="housing", author_email=ANN, subject=subject, body="Text.", **fields)
            return submit_post(session, draft, site).post

    return make


def _numbered_routes(app: Flask) -> list[tuple[str, str]]:
    """(URL pattern with {n} for every number, method) of each route that takes a number."""
    found = []
    for rule in app.url_map.iter_rules():
        if "<int:" not in rule.rule:
            continue
        pattern = re.sub(r"<int:\w+>", "{n}", rule.rule)
        pattern = re.sub(r"<slug>", "housing", pattern)
        pattern = re.sub(r"<(?:path:)?\w+>", "x", pattern)
        found += [(pattern, method) for method in sorted((rule.methods or set()) & {"GET", "POST"})]
    return found


def test_every_numbered_route_answers_404_to_numbers_past_64_bits(
    app: Flask, client: FlaskClient, ann: int, sign_in: Callable[[int | None], None], csrf_token: Callable[[], str]
) -> None:
    routes = _numbered_routes(app)
    assert len(routes) >= 9, routes  # the archive, accounts and facilitators' routes
    sign_in(ann)  # a facilitator: every route is open to her, so only the number can fail
    for pattern, method in routes:
        for number in HOSTILE_NUMBERS:
            url = pattern.format(n=quote(number))
            response = client.open(url, method=method, data={"csrf_token": csrf_token()})
            assert response.status_code == 404, (method, url, response.status_code)


@pytest.mark.parametrize("query", [f"page={n}" for n in HOSTILE_NUMBERS] + ["page=-5", "page=1e9", "page="])
def test_page_numbers_of_any_size_are_a_page_or_a_404(
    client: FlaskClient, post: Callable[..., Post], query: str
) -> None:
    post("Boiler")
    for path in ("/", "/c/housing/", "/search?q=boiler&"):
        response = client.get(f"{path}{'&' if '?' in path else '?'}{query}".replace("&&", "&"))
        assert response.status_code in (200, 404), (path, query, response.status_code)


@pytest.mark.parametrize("value", ["9999-12-31", "0001-01-01", "9999-99-99", "+10000-01-01", "2024-02-30"])
@pytest.mark.parametrize("field", ["from", "to"])
def test_dates_at_the_ends_of_the_calendar_are_explained(
    client: FlaskClient, post: Callable[..., Post], field: str, value: str
) -> None:
    post("Boiler")
    response = client.get(f"/search?q=boiler&{field}={quote(value)}")
    assert response.status_code == 200
    date_input = BeautifulSoup(response.text, "html.parser").find("input", id=f"search-{field}")
    assert date_input["aria-invalid"] == "true"


@pytest.mark.parametrize(
    "query", ["slug=x", "_external=1&_scheme=https", "thread_id=1", "_anchor=x", "images=1&slug=board", "_method=POST"]
)
def test_the_merged_threads_redirect_ignores_what_the_query_string_adds(
    client: FlaskClient, post: Callable[..., Post], query: str
) -> None:
    root = post("Damp", message_id="root@example.org")
    early = post("Re: Mould", message_id="early@example.org", references=("middle@example.org",))
    post("Re: Damp", message_id="middle@example.org", references=("root@example.org",))
    response = client.get(f"/c/housing/t/{early.thread_id}?{query}")
    assert response.status_code == 301
    target = urlsplit(response.headers["Location"])
    assert (target.scheme, target.netloc, target.path) == ("", "", f"/c/housing/t/{root.thread_id}")
    assert target.query == ("images=1" if "images=1" in query else "")


def test_a_reply_to_a_parent_of_any_number_is_explained(
    client: FlaskClient, post: Callable[..., Post], ann: int, sign_in: Callable[[int | None], None]
) -> None:
    thread_id = post("Boiler").thread_id
    sign_in(ann)
    for number in [*HOSTILE_NUMBERS, "²", "٣", "-1", "0"]:
        response = client.get(f"/c/housing/t/{thread_id}/reply?parent={quote(number)}")
        assert response.status_code == 400, (number, response.status_code)


def test_searching_a_private_community_does_what_searching_a_missing_one_does(
    app: Flask, client: FlaskClient, sessionmaker: SessionMaker[Session], post: Callable[..., Post]
) -> None:
    """The same statements, so the time taken cannot tell the two apart."""
    with sessionmaker.begin() as session:
        make_community(session, "board", private=True)
    post("Boiler")
    engine = app.extensions["listbridge"].sessions.kw["bind"]
    statements: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    def searched(slug: str) -> tuple[list[str], str]:
        statements.clear()
        response = client.get(f"/search?q=boiler&community={slug}")
        assert response.status_code == 200
        results = BeautifulSoup(response.text, "html.parser").find("main").get_text(" ", strip=True)
        return list(statements), results.replace(slug, "SLUG")

    event.listen(engine, "before_cursor_execute", record)
    try:
        private, missing = searched("board"), searched("nosuch")
        public = searched("housing")
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert private == missing  # the statements, and the page
    assert len(public[0]) > len(private[0])  # a readable community is searched
