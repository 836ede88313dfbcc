"""The web in Welsh: choosing the language, every page's own text in Welsh, and the catalogue.

Each page is fetched twice through the real app, in English and in Welsh; a word of the
English page's own text (not the community's, the posts' or the people's) found again on
the Welsh page is English that escaped translation.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from html.parser import HTMLParser

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker as SessionMaker

from forum.models import Community, Post, Role, User
from forum.posting import AttachmentData, Draft, submit_post
from forum.site import Site
from tests.support import make_community, make_member

ANN, BOB = "ann@example.org", "bob@example.org"
# Words of the data the pages show, which are the same in both languages.
DATA_WORDS = {
    "tenantiaid",
    "helpu",
    "cwch",
    "neb",
    "lleithder",
    "gegin",
    "adroddiad",
    "gardd",
    "planhigion",
    "example",
    # names of things that are not translated: formats, products, standards, bodies
    "mbox",
    "markdown",
    "atom",
    "slack",
    "matrix",
    "listbridge",
    "europe",
    "london",
    "javascript",
    "chromium",
    "wcag",
    "ehrc",
    "eass",
    "abilitynet",
    "braille",
    "https",
    "element",
    "application",
    "core",
    "word",
    "http",
    "lists",
    "postmaster",  # the site's address and its contact
    "subscribe",  # a community's mail addresses: SLUG-subscribe@, SLUG-unsubscribe@, SLUG-owner@
    "unsubscribe",
    "owner",
}
# Words that are the same in Welsh and in English.
BOTH_LANGUAGES = {"problem", "print", "sector", "system"}
WORD = re.compile(r"[^\W\d_]{4,}")


class PageText(HTMLParser):
    """What a page says in its own language: its text and the text of the attributes people
    hear or see, leaving out what is marked as in another language (``lang`` on an element)."""

    SPOKEN = ("aria-label", "title", "alt", "placeholder")
    UNREAD = ("script", "style", "pre", "code")

    def __init__(self) -> None:
        super().__init__()
        self.lang: str | None = None
        self.words: set[str] = set()
        self.skip: list[str] = []  # the open elements whose text is left out

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "html":
            self.lang = found.get("lang")
        elif tag in self.UNREAD or found.get("lang"):
            self.skip.append(tag)
        for name, value in attrs:
            if name in self.SPOKEN and value:
                self.handle_data(value)

    def handle_endtag(self, tag: str) -> None:
        if self.skip and self.skip[-1] == tag:
            self.skip.pop()

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.words.update(w.lower() for w in WORD.findall(data))


def read(html: str) -> PageText:
    text = PageText()
    text.feed(html)
    return text


@pytest.fixture
def world(sessionmaker: SessionMaker[Session], site: Site) -> dict[str, int]:
    """tai: Ann (facilitator) and Bob, a thread with a reply and an attachment; gardd
    (moderated): Ann facilitator, a held post from Bob."""
    with sessionmaker.begin() as db:
        tai = make_community(db, "tai")
        tai.name, tai.description = "Tai", "Tenantiaid yn helpu tenantiaid."
        gardd = make_community(db, "gardd", policy="moderated")
        make_member(db, tai, ANN, role=Role.facilitator)
        bob = make_member(db, tai, BOB).user_id
        make_member(db, gardd, ANN, role=Role.facilitator)
        make_member(db, gardd, BOB)
        first = submit_post(
            db,
            Draft(
                community="tai",
                author_email=ANN,
                subject="Lleithder",
                body="Mae lleithder yn y gegin.",
                created_at=datetime(2025, 3, 3, 14, 5, tzinfo=UTC),
                attachments=(AttachmentData("adroddiad.pdf", "application/pdf", b"%PDF-1.4 adroddiad"),),
            ),
            site,
        ).post
        reply = submit_post(
            db,
            Draft(
                community="tai", author_email=BOB, subject="Re: Lleithder", body="Lleithder eto.", parent_id=first.id
            ),
            site,
        ).post
        held = submit_post(
            db, Draft(community="gardd", author_email=BOB, subject="Planhigion", body="Planhigion."), site
        ).post
        assert held.status.value == "held"
        return {"thread": first.thread_id, "first": first.id, "reply": reply.id, "bob": bob}


def pages(world: dict[str, int]) -> dict[str, tuple[str | None, str, str, dict[str, str] | None, int]]:
    """name: (signed in as, method, path, form, status)."""
    thread = f"/c/tai/t/{world['thread']}"
    return {
        "home": (None, "GET", "/", None, 200),
        "community": (None, "GET", "/c/tai/", None, 200),
        "thread": (None, "GET", thread, None, 200),
        "search": (None, "GET", "/search?q=lleithder", None, 200),
        "search-bad-date": (None, "GET", "/search?q=lleithder&from=31/12/2026", None, 200),
        "search-nothing": (None, "GET", "/search?q=cwch", None, 200),
        "sign-in": (None, "GET", "/signin", None, 200),
        "sign-in-error": (None, "POST", "/signin", {"email": ""}, 400),
        "check-email": (None, "POST", "/signin", {"email": "neb@example.org"}, 200),
        "join": (None, "GET", "/c/tai/join", None, 200),
        "join-error": (None, "POST", "/c/tai/join", {"email": "neb"}, 400),
        "join-check-email": (None, "POST", "/c/tai/join", {"email": "neb@example.org"}, 200),
        "not-found": (None, "GET", "/c/nowhere/", None, 404),
        "accessibility": (None, "GET", "/accessibility", None, 200),
        "wrong-method": (None, "GET", "/signout", None, 405),
        "bad-request": (BOB, "POST", "/c/tai/membership", {"action": "fly"}, 400),
        "members-only": (None, "GET", "/c/tai/archive.mbox", None, 403),
        "thread-member": (BOB, "GET", thread, None, 200),
        "community-member": (BOB, "GET", "/c/tai/", None, 200),
        "profile": (ANN, "GET", "/account", None, 200),
        "profile-error": (ANN, "POST", "/account", {"display_name": "", "digest_hour": "99"}, 400),
        "membership": (BOB, "GET", "/c/tai/membership", None, 200),
        "new-thread": (BOB, "GET", "/c/tai/new", None, 200),
        "new-thread-error": (BOB, "POST", "/c/tai/new", {"subject": "", "body": ""}, 400),
        "reply": (BOB, "GET", f"{thread}/reply", None, 200),
        "manage-members": (ANN, "GET", "/c/tai/manage/members", None, 200),
        "manage-held": (ANN, "GET", "/c/gardd/manage/held", None, 200),
        "manage-settings": (ANN, "GET", "/c/tai/manage/settings", None, 200),
        "thread-facilitator": (ANN, "GET", thread, None, 200),
        "edit-post": (BOB, "GET", f"/c/tai/p/{world['reply']}/edit", None, 200),
        "edit-post-error": (BOB, "POST", f"/c/tai/p/{world['reply']}/edit", {"body": ""}, 400),
        "delete-post": (BOB, "GET", f"/c/tai/p/{world['reply']}/delete", None, 200),
        "report-post": (BOB, "GET", f"/c/tai/p/{world['first']}/report", None, 200),
        "report-post-error": (BOB, "POST", f"/c/tai/p/{world['first']}/report", {"reason": ""}, 400),
        "hide-post": (ANN, "GET", f"/c/tai/p/{world['reply']}/hide", None, 200),
        "hide-thread": (ANN, "GET", f"{thread}/hide", None, 200),
        "manage-reports": (ANN, "GET", "/c/tai/manage/reports", None, 200),
        "manage-log": (ANN, "GET", "/c/tai/manage/log", None, 200),
        "ban-member": (ANN, "GET", f"/c/tai/manage/members/{world['bob']}/ban", None, 200),
    }


@pytest.fixture
def fetch(
    client: FlaskClient,
    as_user: Callable[[str], None],
    sign_in: Callable[[int | None], None],
    csrf_token: Callable[[], str],
) -> Callable[..., str]:
    def fetch(
        who: str | None, method: str, path: str, form: dict[str, str] | None, status: int, headers: dict[str, str]
    ) -> str:
        as_user(who) if who else sign_in(None)
        client.delete_cookie("lang")
        if method == "POST":
            response = client.post(path, data={"csrf_token": csrf_token(), **(form or {})}, headers=headers)
        else:
            response = client.get(path, headers=headers)
        assert response.status_code == status, (path, response.status_code)
        return response.get_data(as_text=True)

    return fetch


def test_every_page_in_welsh_has_no_english_interface_text_left(
    world: dict[str, int], fetch: Callable[..., str]
) -> None:
    for name, (who, method, path, form, status) in pages(world).items():
        english = read(fetch(who, method, path, form, status, {"Accept-Language": "en-GB,en;q=0.9"}))
        welsh = read(fetch(who, method, path, form, status, {"Accept-Language": "cy-GB,cy;q=0.9,en;q=0.5"}))
        assert english.lang == "en-GB" and welsh.lang == "cy", name
        left = (english.words & welsh.words) - DATA_WORDS - BOTH_LANGUAGES
        assert not left, f"{name}: English words on the Welsh page: {sorted(left)}"


def test_a_language_chosen_by_link_is_remembered_and_wins(client: FlaskClient, world: dict[str, int]) -> None:
    chosen = client.get("/?lang=cy", headers={"Accept-Language": "en"})
    assert '<html lang="cy">' in chosen.text and "Cymunedau" in chosen.text
    assert "lang=cy" in chosen.headers["Set-Cookie"] and "HttpOnly" in chosen.headers["Set-Cookie"]
    assert "Accept-Language" in chosen.headers["Vary"] and "Cookie" in chosen.headers["Vary"]
    remembered = client.get("/c/tai/", headers={"Accept-Language": "en"})
    assert '<html lang="cy">' in remembered.text and "Edafedd" in remembered.text
    back = client.get("/c/tai/?lang=en")
    assert '<html lang="en-GB">' in back.text and "Threads" in back.text
    assert '<html lang="en-GB">' in client.get("/", headers={"Accept-Language": "cy"}).text


def test_the_switch_link_keeps_the_page_and_its_query(client: FlaskClient, world: dict[str, int]) -> None:
    english = client.get("/search?q=lleithder&page=1")
    assert 'href="?q=lleithder&amp;page=1&amp;lang=cy" lang="cy" hreflang="cy">Cymraeg</a>' in english.text
    welsh = client.get("/search?q=lleithder&lang=cy")
    assert 'href="?q=lleithder&amp;lang=en" lang="en-GB" hreflang="en-GB">English</a>' in welsh.text


def test_a_members_language_wins_over_the_browser_until_they_choose_by_link(
    client: FlaskClient, world: dict[str, int], as_user: Callable[[str], None], sessionmaker: SessionMaker[Session]
) -> None:
    with sessionmaker.begin() as db:
        db.scalars(select(User).where(User.display_name == "Bob")).one().language = "cy"
    as_user(BOB)
    assert '<html lang="cy">' in client.get("/", headers={"Accept-Language": "en-GB"}).text
    assert '<html lang="en-GB">' in client.get("/?lang=en", headers={"Accept-Language": "en-GB"}).text
    assert '<html lang="en-GB">' in client.get("/").text  # the link's choice is remembered


def test_a_member_sets_their_language_on_the_account_page(
    client: FlaskClient,
    world: dict[str, int],
    as_user: Callable[[str], None],
    csrf_token: Callable[[], str],
    sessionmaker: SessionMaker[Session],
) -> None:
    as_user(BOB)
    page = client.get("/account")
    assert '<option selected value="">As my browser asks</option>' in page.text
    saved = client.post(
        "/account",
        data={"csrf_token": csrf_token(), "display_name": "Bob", "language": "cy"},
        follow_redirects=True,
        headers={"Accept-Language": "en"},
    )
    assert '<html lang="cy">' in saved.text and "Mae eich proffil wedi&#39;i gadw." in saved.text
    assert '<option lang="cy" selected value="cy">Cymraeg</option>' in saved.text
    with sessionmaker() as db:
        assert db.scalars(select(User.language).where(User.display_name == "Bob")).one() == "cy"
    client.delete_cookie("lang")  # another browser of theirs: the setting alone decides
    assert '<html lang="cy">' in client.get("/", headers={"Accept-Language": "en"}).text
    wrong = client.post("/account", data={"csrf_token": csrf_token(), "display_name": "Bob", "language": "fr"})
    assert wrong.status_code == 400 and "Nid yw hwn yn ddewis dilys" in wrong.text  # WTForms' own Welsh
    client.post("/account", data={"csrf_token": csrf_token(), "display_name": "Bob", "language": ""})
    with sessionmaker() as db:
        assert db.scalars(select(User.language).where(User.display_name == "Bob")).one() is None
    assert '<html lang="en-GB">' in client.get("/", headers={"Accept-Language": "en"}).text


def test_dates_and_numbers_follow_the_page_language(client: FlaskClient, world: dict[str, int]) -> None:
    thread = f"/c/tai/t/{world['thread']}"
    english, welsh = client.get(thread + "?lang=en").text, client.get(thread + "?lang=cy").text
    assert "3 Mar 2025, 14:05 GMT" in english and "3 Maw 2025, 14:05 GMT" in welsh
    assert "2 messages" in english and "2 neges" in welsh
    assert "18 bytes" in english and "18 beit" in welsh


def test_the_accessibility_statement_is_linked_from_every_page_in_both_languages(
    client: FlaskClient, world: dict[str, int]
) -> None:
    for path in ("/", "/signin", "/c/nowhere/"):
        assert '<a href="/accessibility">Accessibility statement</a>' in client.get(path + "?lang=en").text
        assert '<a href="/accessibility">Datganiad hygyrchedd</a>' in client.get(path + "?lang=cy").text
    english, welsh = client.get("/accessibility?lang=en").text, client.get("/accessibility?lang=cy").text
    for heading in (
        "How accessible this website is",
        "Feedback and contact information",
        "Reporting accessibility problems with this website",
        "Enforcement procedure",
        "Technical information about this website's accessibility",
        "How we tested this website",
    ):
        assert f"<h2>{heading}</h2>" in english
    assert "version 2.2 AA standard" in english and "Equality Advisory and Support Service" in english
    assert '<a href="mailto:postmaster@lists.example.org">postmaster@lists.example.org</a>' in english
    assert "<h2>Y weithdrefn orfodi</h2>" in welsh and "Gwasanaeth Cynghori a Chymorth Cydraddoldeb" in welsh
    assert "7 Rhagfyr 2026" in welsh and "7 December 2026" in english


def test_a_welsh_communitys_form_keeps_its_language(
    client: FlaskClient,
    world: dict[str, int],
    as_user: Callable[[str], None],
    csrf_token: Callable[[], str],
    sessionmaker: SessionMaker[Session],
) -> None:
    as_user(ANN)
    data = {
        "csrf_token": csrf_token(),
        "name": "Tai",
        "visibility": "public",
        "posting_policy": "members",
        "language": "bilingual",
    }
    assert client.post("/c/tai/manage/settings", data=data).status_code == 303
    page = client.get("/c/tai/manage/settings?lang=cy").text
    assert re.search(r'<input checked id="language-\d" name="language" type="radio" value="bilingual">', page)
    assert "Dwyieithog: Cymraeg a Saesneg" in page
    with sessionmaker() as db:
        assert db.scalars(select(Community.language).where(Community.slug == "tai")).one() == "bilingual"


def test_what_a_welsh_communitys_members_wrote_is_marked_welsh_on_english_pages(
    client: FlaskClient, world: dict[str, int], sessionmaker: SessionMaker[Session]
) -> None:
    """The community's own text by its language; a post by its own (tests/web/test_posts_in_their_language.py)."""
    thread = f"/c/tai/t/{world['thread']}"
    assert '<p class="description">Tenantiaid' in client.get("/c/tai/?lang=en").text  # an English community
    with sessionmaker.begin() as db:
        db.scalars(select(Community).where(Community.slug == "tai")).one().language = "cy"
        db.execute(update(Post).values(language=""))  # posts too short to tell: the community's language
    english, welsh = client.get(thread + "?lang=en").text, client.get(thread + "?lang=cy").text
    assert '<h1 lang="cy">Lleithder</h1>' in english and english.count('<div class="post-body" lang="cy">') == 2
    assert "<h1>Lleithder</h1>" in welsh and '<div class="post-body">' in welsh
    assert '<p class="description" lang="cy">Tenantiaid' in client.get("/c/tai/?lang=en").text
    with sessionmaker.begin() as db:
        db.scalars(select(Community).where(Community.slug == "tai")).one().language = "bilingual"
    assert "<h1>Lleithder</h1>" in client.get(thread + "?lang=en").text


def test_pages_of_results_are_counted_in_the_page_language(
    client: FlaskClient, world: dict[str, int], sessionmaker: SessionMaker[Session], site: Site
) -> None:
    with sessionmaker.begin() as db:
        for number in range(1, 22):
            submit_post(
                db, Draft(community="tai", author_email=ANN, subject=f"Lleithder {number}", body="Lleithder eto."), site
            )
    english, welsh = client.get("/search?q=lleithder&lang=en").text, client.get("/search?q=lleithder&lang=cy").text
    assert "23 results" in english and "<span>Page 1 of 2</span>" in english and ">Next page</a>" in english
    assert "23 canlyniad" in welsh and "<span>Tudalen 1 o 2</span>" in welsh and ">Tudalen nesaf</a>" in welsh


@pytest.mark.parametrize(
    ("language", "said"),
    [
        ("cy", "Nid yw&#39;r ddolen fewngofnodi hon yn ddilys: gwiriwch fod y ddolen gyfan wedi&#39;i chopïo"),
        ("en", "This sign-in link is not valid: check that the whole link was copied"),
    ],
)
def test_the_cores_refusal_is_said_in_the_page_language(client: FlaskClient, language: str, said: str) -> None:
    """A sentence of the core's (here: a sign-in link that is not one) reads in the page's
    language, as Welsh, not as English marked for screen readers."""
    page = client.get(f"/signin/not-a-token?lang={language}")
    assert page.status_code == 404
    assert said in page.text, page.text
    assert '<span lang="en-GB">' not in page.text.split("<main")[1], "nothing of ours is left in English"
