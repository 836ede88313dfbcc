"""Facilitators' pages you can find and a members page for ten thousand; pinned threads,
announcement lists and first-post review as the web shows them."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from bs4 import BeautifulSoup
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, insert, select
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker as SessionMaker

from forum import moderation
from forum.awaiting import awaiting
from forum.models import Community, Delivery, Membership, MemberStatus, Role, User, UserEmail, utcnow
from forum.posting import Draft, community_by_slug, submit_post
from forum.site import Site
from tests.support import make_community, make_member

ANN, MO, BOB, EVE = "ann@example.org", "mo@example.org", "bob@example.org", "eve@example.org"


@pytest.fixture(autouse=True)
def communities(sessionmaker: SessionMaker[Session]) -> None:
    """Housing (moderated): Ann facilitates, Mo moderates, Bob is a member. News
    (announcements): Ann facilitates, Bob is a member."""
    with sessionmaker.begin() as session:
        housing = make_community(session, "housing", policy="moderated")
        make_member(session, housing, ANN, role=Role.facilitator)
        make_member(session, housing, MO, role=Role.moderator)
        make_member(session, housing, BOB)
        news = make_community(session, "news", policy="announce")
        make_member(session, news, ANN, role=Role.facilitator)
        make_member(session, news, BOB)


def soup(response: object) -> BeautifulSoup:
    return BeautifulSoup(response.text, "html.parser")  # type: ignore[attr-defined]


def hold(sessionmaker: SessionMaker[Session], site: Site, subject: str = "Grants") -> int:
    with sessionmaker.begin() as session:
        outcome = submit_post(session, Draft(community="housing", author_email=BOB, subject=subject, body="Hi"), site)
        assert outcome.held
        return outcome.post.id


def publish(sessionmaker: SessionMaker[Session], site: Site, subject: str, author: str = ANN) -> int:
    with sessionmaker.begin() as session:
        outcome = submit_post(session, Draft(community="housing", author_email=author, subject=subject, body="x"), site)
        assert not outcome.held
        return outcome.post.thread_id


class TestManageLinks:
    def test_the_community_page_leads_facilitators_to_what_waits(
        self, client: FlaskClient, as_user: Callable[[str], None], sessionmaker: SessionMaker[Session], site: Site
    ) -> None:
        hold(sessionmaker, site)
        hold(sessionmaker, site, "Rents")
        with sessionmaker.begin() as session:
            make_member(session, community_by_slug(session, "housing"), EVE, status=MemberStatus.pending)
        as_user(MO)
        link = soup(client.get("/c/housing/")).select_one("a.manage-link")
        assert link is not None and link["href"] == "/c/housing/manage/held"
        assert link.get_text(" ", strip=True) == "Manage Housing"
        badge = link.find_next_sibling("span", class_="badge")
        assert badge is not None and badge.get_text(strip=True) == "2 held posts, 1 asking to join"
        as_user(BOB)
        assert soup(client.get("/c/housing/")).select_one("a.manage-link") is None

    def test_with_nothing_waiting_the_link_leads_to_the_members(
        self, client: FlaskClient, as_user: Callable[[str], None]
    ) -> None:
        as_user(ANN)
        page = soup(client.get("/c/housing/"))
        link = page.select_one("a.manage-link")
        assert link is not None and link["href"] == "/c/housing/manage/members"
        assert page.select_one(".badge") is None

    def test_the_home_page_has_a_manage_link_for_each_community_run(
        self, client: FlaskClient, as_user: Callable[[str], None], sessionmaker: SessionMaker[Session], site: Site
    ) -> None:
        hold(sessionmaker, site)
        as_user(ANN)
        links = {a["href"]: a for a in soup(client.get("/")).select("a.manage-link")}
        assert set(links) == {"/c/housing/manage/held", "/c/news/manage/members"}
        assert links["/c/housing/manage/held"].find_next_sibling("span").get_text(strip=True) == "1 held post"
        as_user(BOB)
        assert soup(client.get("/")).select("a.manage-link") == []

    def test_the_manage_pages_say_what_waits_in_their_navigation(
        self, client: FlaskClient, as_user: Callable[[str], None], sessionmaker: SessionMaker[Session], site: Site
    ) -> None:
        hold(sessionmaker, site)
        as_user(ANN)
        nav = soup(client.get("/c/housing/manage/settings")).select_one("nav[aria-label='Manage Housing']")
        assert nav is not None
        held = nav.find("a", href="/c/housing/manage/held")
        assert held is not None and held.get_text(" ", strip=True) == "Held messages 1 waiting"

    def test_awaiting_counts_held_posts_and_requests(self, sessionmaker: SessionMaker[Session], site: Site) -> None:
        hold(sessionmaker, site)
        with sessionmaker.begin() as session:
            housing = community_by_slug(session, "housing")
            make_member(session, housing, EVE, status=MemberStatus.pending)
            counted = awaiting(session, housing)
            assert (counted.held, counted.join_requests, counted.total) == (1, 1, 2)
            assert awaiting(session, community_by_slug(session, "news")).total == 0


def add_members(sessionmaker: SessionMaker[Session], slug: str, count: int) -> None:
    """``count`` members at once (bulk inserts): every tenth bouncing, every hundredth
    stopped by bounces, every fifth on the daily digest."""
    now = utcnow()
    with sessionmaker.begin() as session:
        community_id = community_by_slug(session, slug).id
        first = (session.scalar(select(User.id).order_by(User.id.desc()).limit(1)) or 0) + 1
        ids = range(first, first + count)
        session.execute(insert(User), [{"id": i, "display_name": f"Person {i:05d}"} for i in ids])
        session.execute(
            insert(UserEmail),
            [
                {"user_id": i, "email": f"person{i:05d}@council.example", "is_primary": True, "verified": True}
                for i in ids
            ],
        )
        session.execute(
            insert(Membership),
            [
                {
                    "community_id": community_id,
                    "user_id": i,
                    "role": Role.member,
                    "delivery": Delivery.daily if i % 5 == 0 else Delivery.each,
                    "status": MemberStatus.active,
                    "bounce_score": 1.0 if i % 10 == 0 else 0.0,
                    "bounce_disabled_at": now - timedelta(days=1) if i % 100 == 0 else None,
                    "created_at": now,
                }
                for i in ids
            ],
        )


@contextmanager
def counting_queries(app: Flask) -> Iterator[list[str]]:
    engine = app.extensions["listbridge"].sessions.kw["bind"]
    seen: list[str] = []

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


class TestMembersPage:
    def test_ten_thousand_members_a_page_at_a_time_in_bounded_queries(
        self, app: Flask, client: FlaskClient, as_user: Callable[[str], None], sessionmaker: SessionMaker[Session]
    ) -> None:
        as_user(ANN)
        with counting_queries(app) as few:
            assert client.get("/c/housing/manage/members").status_code == 200
        add_members(sessionmaker, "housing", 10_000)
        with counting_queries(app) as many:
            page = client.get("/c/housing/manage/members?page=3")
        assert page.status_code == 200
        assert len(many) == len(few) <= 15, "as many queries for 10,003 members as for 3"
        html = soup(page)
        assert html.select_one("#members-heading").get_text(strip=True) == "10,003 members"
        assert len(html.select("table.members tbody tr")) == 50
        status = html.find("p", role="status").get_text(" ", strip=True)
        assert status.startswith("Showing 101 to 150 of 10,003.")
        pages = html.select_one("nav.pagination")
        assert pages is not None and "Page 3 of 201" in pages.get_text()
        assert pages.find("a", rel="next")["href"] == "/c/housing/manage/members?page=4"

    def test_search_and_filters_narrow_the_list_and_keep_to_the_pages(
        self, client: FlaskClient, as_user: Callable[[str], None], sessionmaker: SessionMaker[Session]
    ) -> None:
        add_members(sessionmaker, "housing", 300)
        as_user(ANN)

        def shown(query: str) -> tuple[list[str], str]:
            html = soup(client.get(f"/c/housing/manage/members?{query}"))
            return [td.get_text() for td in html.select("td.address")], html.find("p", role="status").get_text(
                " ", strip=True
            )

        addresses, status = shown("q=PERSON0012")
        assert len(addresses) == 10 and all(a.startswith("person0012") for a in addresses)
        assert shown("q=Mo")[0] == [MO]
        assert shown("role=moderator")[0] == [MO]
        assert set(shown("role=facilitator")[0]) == {ANN}
        addresses, status = shown("bounce=disabled")
        assert len(addresses) == 3 and status.startswith("Showing 1 to 3 of 3.")
        assert shown("bounce=bouncing")[1].startswith("Showing 1 to 27 of 27.")  # every tenth, less the stopped
        assert shown("delivery=daily&bounce=ok")[1].startswith("Showing 1 to 30 of 30.")  # fifths, less the tenths
        addresses, status = shown("q=nobody-at-all")
        assert addresses == [] and status.startswith("No members match.")
        html = soup(client.get("/c/housing/manage/members?bounce=ok&page=2"))
        assert html.find("a", rel="prev")["href"] == "/c/housing/manage/members?bounce=ok"
        assert client.get("/c/housing/manage/members?bounce=ok&page=99").status_code == 404
        assert client.get("/c/housing/manage/members?role=king").status_code == 200, "an unknown filter is ignored"

    def test_addresses_wrap_after_at_and_dots_never_inside_a_word(
        self, client: FlaskClient, as_user: Callable[[str], None]
    ) -> None:
        as_user(ANN)
        cell = soup(client.get("/c/housing/manage/members?q=bob")).select_one("td.address")
        assert cell is not None and cell.decode_contents() == "bob@<wbr/>example.<wbr/>org"


class TestExport:
    def test_facilitators_download_the_filtered_members(
        self, client: FlaskClient, as_user: Callable[[str], None], sessionmaker: SessionMaker[Session]
    ) -> None:
        add_members(sessionmaker, "housing", 100)
        as_user(ANN)
        page = soup(client.get("/c/housing/manage/members?bounce=disabled"))
        link = page.find("a", string="Download these members (CSV)")
        assert link is not None and link["href"] == "/c/housing/manage/members.csv?bounce=disabled"
        response = client.get(link["href"])
        assert response.status_code == 200 and response.mimetype == "text/csv"
        assert 'filename="housing-members.csv"' in response.headers["Content-Disposition"]
        rows = list(csv.reader(io.StringIO(response.text)))
        assert rows[0] == ["email", "name", "role", "delivery", "status", "joined", "bounce"]
        assert [r[0] for r in rows[1:]] == ["person00100@council.example"]
        assert rows[1][2:5] == ["member", "daily", "active"] and rows[1][6] == "disabled"
        everyone = list(csv.reader(io.StringIO(client.get("/c/housing/manage/members.csv").text)))
        assert len(everyone) == 1 + 103

    def test_cells_a_spreadsheet_would_run_are_written_as_text(
        self, client: FlaskClient, as_user: Callable[[str], None], sessionmaker: SessionMaker[Session]
    ) -> None:
        with sessionmaker.begin() as session:
            for name in ("=HYPERLINK(1)", "+1", "-2", "@SUM(A1)"):
                member = make_member(
                    session, community_by_slug(session, "housing"), f"x{len(name)}{ord(name[0])}@a.example"
                )
                session.get_one(User, member.user_id).display_name = name
        as_user(ANN)
        rows = list(csv.reader(io.StringIO(client.get("/c/housing/manage/members.csv").text)))
        names = {r[1] for r in rows[1:]}
        assert {"'=HYPERLINK(1)", "'+1", "'-2", "'@SUM(A1)"} <= names

    def test_only_facilitators_export(
        self, client: FlaskClient, as_user: Callable[[str], None], sign_in: Callable[[int | None], None]
    ) -> None:
        as_user(MO)
        assert client.get("/c/housing/manage/members.csv").status_code == 403
        assert soup(client.get("/c/housing/manage/members")).find("a", string="Download these members (CSV)") is None
        as_user(BOB)
        assert client.get("/c/housing/manage/members.csv").status_code == 403
        sign_in(None)
        assert client.get("/c/housing/manage/members.csv").status_code == 302


class TestPinned:
    def test_a_pinned_thread_comes_first_marked_and_unpins(
        self,
        client: FlaskClient,
        as_user: Callable[[str], None],
        csrf_token: Callable[[], str],
        sessionmaker: SessionMaker[Session],
        site: Site,
    ) -> None:
        rules = publish(sessionmaker, site, "House rules")
        publish(sessionmaker, site, "Newer news")
        as_user(ANN)
        thread_page = soup(client.get(f"/c/housing/t/{rules}"))
        assert thread_page.find("button", string="Pin this thread to the top") is not None
        done = client.post(f"/c/housing/manage/threads/{rules}/pin", data={"csrf_token": csrf_token(), "action": "pin"})
        assert done.status_code == 303 and done.headers["Location"] == f"/c/housing/t/{rules}"
        as_user(BOB)
        first = soup(client.get("/c/housing/")).select("table.threads tbody tr")[0]
        assert first.th.get_text(" ", strip=True) == "Pinned House rules"
        assert soup(client.get(f"/c/housing/t/{rules}")).find("button", string="Unpin this thread") is None
        refused = client.post(
            f"/c/housing/manage/threads/{rules}/pin", data={"csrf_token": csrf_token(), "action": "unpin"}
        )
        assert refused.status_code == 403
        as_user(ANN)
        section = soup(client.get("/c/housing/manage/settings")).select_one("section[aria-labelledby=pinned-heading]")
        assert section is not None and section.find("a", string="House rules") is not None
        done = client.post(
            f"/c/housing/manage/threads/{rules}/pin",
            data={"csrf_token": csrf_token(), "action": "unpin", "back": "settings"},
        )
        assert done.headers["Location"] == "/c/housing/manage/settings"
        section = soup(client.get("/c/housing/manage/settings")).select_one("section[aria-labelledby=pinned-heading]")
        assert section is not None and "No thread is pinned" in section.get_text()
        first = soup(client.get("/c/housing/")).select("table.threads tbody tr")[0]
        assert first.th.get_text(" ", strip=True) == "Newer news"
        assert (
            client.post(
                "/c/housing/manage/threads/99999/pin", data={"csrf_token": csrf_token(), "action": "pin"}
            ).status_code
            == 404
        )


class TestAnnouncements:
    def test_members_are_told_whom_to_write_to_instead_of_a_form(
        self,
        client: FlaskClient,
        as_user: Callable[[str], None],
        csrf_token: Callable[[], str],
        sessionmaker: SessionMaker[Session],
    ) -> None:
        as_user(BOB)
        page = soup(client.get("/c/news/"))
        assert page.find("a", href="/c/news/new") is None
        sentence = page.find(string=lambda s: bool(s) and "Only the facilitators post to" in s)
        assert sentence is not None
        assert page.find("a", href="mailto:news-owner@lists.example.org") is not None
        form_page = soup(client.get("/c/news/new"))
        assert form_page.find("textarea") is None and "news-owner@lists.example.org" in form_page.get_text()
        refused = client.post("/c/news/new", data={"csrf_token": csrf_token(), "subject": "Hi", "body": "Mine"})
        assert refused.status_code == 403 and "news-owner@lists.example.org" in refused.text
        as_user(ANN)
        assert soup(client.get("/c/news/")).find("a", href="/c/news/new") is not None


class TestSettings:
    def test_first_post_review_is_set_on_the_settings_page(
        self,
        client: FlaskClient,
        as_user: Callable[[str], None],
        csrf_token: Callable[[], str],
        sessionmaker: SessionMaker[Session],
        site: Site,
    ) -> None:
        as_user(ANN)
        form = {
            "csrf_token": csrf_token(),
            "name": "Housing",
            "visibility": "public",
            "posting_policy": "members",
            "moderate_new": "101",
        }
        page = client.post("/c/housing/manage/settings", data=form)
        assert page.status_code == 400 and "Enter a number from 0 to 100" in page.text
        assert client.post("/c/housing/manage/settings", data={**form, "moderate_new": "1"}).status_code == 303
        with sessionmaker() as session:
            assert session.scalar(select(Community.moderate_new).where(Community.slug == "housing")) == 1
        first = hold(sessionmaker, site)  # Bob's first post is reviewed; once one is published, no longer
        with sessionmaker.begin() as session:
            moderation.approve(session, site, first)
        publish(sessionmaker, site, "Second", author=BOB)
