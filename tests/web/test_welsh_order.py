"""Lists of names in the page's alphabetical order: on a Welsh page "Llanelli" follows
"Lymm" and "Rhyl" follows "Ruthin" (forum.collation); on an English page they go before."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker as SessionMaker

from tests.support import make_community
from web.archive import views as archive_views

ANN = "ann@example.org"
NAMES = {"llanelli": "Llanelli", "lymm": "Lymm", "rhyl": "Rhyl", "ruthin": "Ruthin"}
WELSH_ORDER, ENGLISH_ORDER = ["Lymm", "Llanelli", "Ruthin", "Rhyl"], ["Llanelli", "Lymm", "Rhyl", "Ruthin"]


def shown(page: str, pattern: str) -> list[str]:
    return [name for name in re.findall(pattern, page) if name in NAMES.values()]


def test_communities_are_listed_in_the_pages_order(
    client: FlaskClient, sessionmaker: SessionMaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    with sessionmaker.begin() as session:
        for slug, name in NAMES.items():
            make_community(session, slug).name = name
    link = r'<a href="/c/\w+/">([^<]+)</a>'
    assert shown(client.get("/communities?sort=name&lang=cy").text, link) == WELSH_ORDER
    assert shown(client.get("/communities?sort=name&lang=en").text, link) == ENGLISH_ORDER
    monkeypatch.setattr(archive_views, "COMMUNITIES_PER_PAGE", 3)
    pages = [shown(client.get(f"/communities?sort=name&lang=cy&page={n}").text, link) for n in (1, 2)]
    assert pages == [WELSH_ORDER[:3], WELSH_ORDER[3:]]
