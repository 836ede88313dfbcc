"""What a post is written in, as readers meet it: a Welsh post written on the web is stored
as Welsh, marked ``lang="cy"`` on English pages (thread, community, search, feed) and an
English one ``lang="en-GB"`` on Welsh pages, and search finds the Welsh one by its words
with or without their accents."""

from __future__ import annotations

from collections.abc import Callable
from xml.etree import ElementTree

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker as SessionMaker

from forum.models import Post, Role
from tests.support import make_community, make_member

ANN, BOB = "ann@example.org", "bob@example.org"
WELSH = ("Dŵr yn y tŷ", "Mae dŵr yn dod drwy'r to ac mae'r tŷ yn llaith iawn ers mis Tachwedd.")
ENGLISH = "The damp came back after the new windows went in, so we asked the council again."
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture
def thread(
    client: FlaskClient,
    csrf_token: Callable[[], str],
    as_user: Callable[[str], None],
    sessionmaker: SessionMaker[Session],
) -> str:
    """An English community's thread: Ann's Welsh post and Bob's English reply, written on the web."""
    with sessionmaker.begin() as session:
        housing = make_community(session, "housing")
        make_member(session, housing, ANN, role=Role.facilitator)
        make_member(session, housing, BOB)
    as_user(ANN)
    subject, body = WELSH
    posted = client.post("/c/housing/new", data={"csrf_token": csrf_token(), "subject": subject, "body": body})
    assert posted.status_code == 303
    path = posted.headers["Location"].split("#")[0]
    as_user(BOB)
    replied = client.post(f"{path}/reply", data={"csrf_token": csrf_token(), "body": ENGLISH})
    assert replied.status_code == 303
    with sessionmaker() as session:
        assert session.scalars(select(Post.language).order_by(Post.id)).all() == ["cy", "en"]
    return path


def test_each_post_is_marked_in_its_language_where_the_page_is_in_the_other(client: FlaskClient, thread: str) -> None:
    english, welsh = client.get(f"{thread}?lang=en").text, client.get(f"{thread}?lang=cy").text
    assert '<h1 lang="cy">Dŵr yn y tŷ</h1>' in english
    assert english.count('<div class="post-body" lang="cy">') == 1 and english.count('<div class="post-body">') == 1
    assert "<h1>Dŵr yn y tŷ</h1>" in welsh
    assert welsh.count('<div class="post-body" lang="en-GB">') == 1 and welsh.count('<div class="post-body">') == 1
    assert '<th scope="row" lang="cy"><a href="' in client.get("/c/housing/?lang=en").text


def test_a_welsh_post_is_found_by_its_words_folded_or_not_and_marked_welsh(client: FlaskClient, thread: str) -> None:
    for word in ("dwr", "dŵr", "ty", "tŷ"):  # in both posts' subjects, the reply's being "Re: Dŵr yn y tŷ"
        page = client.get("/search", query_string={"q": word, "lang": "en"}).text
        assert "2 results" in page, word
        assert page.count('<h3 class="result-title" lang="cy">') == page.count('<p class="snippet" lang="cy">') == 1
    assert "<mark>dŵr</mark>" in client.get("/search?q=dwr&lang=en").text
    english = client.get("/search?q=windows&lang=cy").text  # English stemming kept: "went in" by "windows"
    assert '<h3 class="result-title" lang="en-GB">' in english and "<mark>windows</mark>" in english


def test_feed_entries_say_their_language_where_it_is_not_the_feeds(client: FlaskClient, thread: str) -> None:
    feed = ElementTree.fromstring(client.get("/c/housing/feed.atom").data)
    assert feed.get(XML_LANG) == "en-GB"
    entries = {entry.findtext(f"{ATOM}title"): entry.get(XML_LANG) for entry in feed.iter(f"{ATOM}entry")}
    assert entries == {"Dŵr yn y tŷ": "cy", "Re: Dŵr yn y tŷ": None}
