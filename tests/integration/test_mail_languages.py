"""Our own words in each member's copy are in their language: the member's setting, else
their community's, and both (Welsh first) from a bilingual community to a member who chose
none; and a post is known by its own language. Posts go in over SMTP to a served site and
copies come out of its delivery worker."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select

from forum import db
from forum.models import Post
from tests.head_schema import copy_head_schema
from tests.integration.served import DOMAIN, Browser, ServedSite, mail
from tests.support import SmtpSink

pytestmark = pytest.mark.integration

ENGLISH = ("View on the web", "Reply privately to", "Change your delivery", "Leave ")
WELSH = ("Gweld ar y we", "Ateb Alice Example yn breifat", "Newid eich dull danfon", "Gadael ")


@pytest.fixture
def served(tmp_path: Path, db_url: str, smtp_sink: SmtpSink) -> Iterator[ServedSite]:
    site = ServedSite(tmp_path, db_url, smtp_sink.port)
    copy_head_schema(db_url)
    site.cli("community", "create", "housing", "--name", "Housing Advice")
    site.cli("community", "create", "tai", "--name", "Tai Cymru", "--language", "bilingual")
    site.cli("member", "add", "housing", "alice@council.example", "--name", "Alice Example")
    site.cli("member", "add", "housing", "bob@council.example", "--language", "cy")
    site.cli("member", "add", "housing", "carol@council.example", "--language", "en")
    site.cli("member", "add", "housing", "dave@council.example")
    site.cli("member", "add", "tai", "alice@council.example")
    site.cli("member", "add", "tai", "erin@council.example")
    site.cli("member", "add", "tai", "bob@council.example")
    site.start()
    yield site
    site.stop()


def footer(copy: EmailMessage, subtype: str) -> str:
    part = copy.get_body((subtype,))
    assert part is not None
    return str(part.get_content()).split("Damp survey results attached.")[-1]


def test_each_members_copy_has_its_footer_in_their_language(served: ServedSite, smtp_sink: SmtpSink) -> None:
    for community, message_id in (("housing", "m1@council.example"), ("tai", "m2@council.example")):
        post = mail(
            "Alice Example <alice@council.example>",
            f"{community}@{DOMAIN}",
            "Damp survey results",
            "Damp survey results attached.",
            message_id,
        )
        assert served.send("alice@council.example", [f"{community}@{DOMAIN}"], post)[0] == 250
    copies = {
        (m.message["List-Id"].split("<")[1].split(".")[0], m.rcpt_tos[0]): m.message for m in smtp_sink.wait_for(5, 30)
    }

    for subtype in ("plain", "html"):
        welsh = footer(copies["housing", "bob@council.example"], subtype)
        assert all(words in welsh for words in WELSH), welsh
        assert not any(words in welsh for words in ENGLISH), "a member who chose Welsh reads no English of ours"
        for english in (copies["housing", "carol@council.example"], copies["housing", "dave@council.example"]):
            text = footer(english, subtype)
            assert all(words in text for words in ENGLISH) and not any(words in text for words in WELSH)
        both = footer(copies["tai", "erin@council.example"], subtype)
        assert "Gweld ar y we / View on the web" in both, "a bilingual community's member who chose none reads both"
        assert both.index("Gadael Tai Cymru") < both.index("Leave Tai Cymru"), "Welsh first"
        chosen = footer(copies["tai", "bob@council.example"], subtype)
        assert "Gweld ar y we" in chosen and "View on the web" not in chosen, "a member's own choice wins"


def test_a_welsh_post_mailed_in_is_stored_marked_and_found_as_welsh(served: ServedSite, smtp_sink: SmtpSink) -> None:
    """What members write is in their language too: a Welsh post mailed to an English
    community is stored as Welsh, marked so on the English page, and found by its words
    with or without their accents."""
    post = mail(
        "Alice Example <alice@council.example>",
        f"housing@{DOMAIN}",
        "Dŵr yn y tŷ",
        "Mae dŵr yn dod drwy'r to ac mae'r tŷ yn llaith iawn ers mis Tachwedd.",
        "cy1@council.example",
    )
    assert served.send("alice@council.example", [f"housing@{DOMAIN}"], post)[0] == 250
    served.wait_until_processed()
    engine = db.make_engine(served.db_url)
    try:
        with engine.connect() as conn:
            thread_id, language = conn.execute(select(Post.thread_id, Post.language)).one()
    finally:
        engine.dispose()
    assert language == "cy"
    browser, base = Browser(), f"http://127.0.0.1:{served.web_port}"
    status, page = browser.get(f"{base}/c/housing/t/{thread_id}?lang=en")
    assert status == 200 and '<div class="post-body" lang="cy">' in page
    for word in ("dwr", "dŵr"):
        status, page = browser.get(f"{base}/search?lang=en&q={urllib.parse.quote(word)}")
        assert status == 200 and "1 result" in page and '<h3 class="result-title" lang="cy">' in page, word


def test_a_welsh_members_copy_comes_from_a_welsh_name_and_links_to_welsh_pages(
    served: ServedSite, smtp_sink: SmtpSink
) -> None:
    for community, message_id in (("housing", "m3@council.example"), ("tai", "m4@council.example")):
        post = mail(
            "Alice Example <alice@council.example>",
            f"{community}@{DOMAIN}",
            "Damp survey results",
            "Damp survey results attached.",
            message_id,
        )
        assert served.send("alice@council.example", [f"{community}@{DOMAIN}"], post)[0] == 250
    copies = {
        (m.message["List-Id"].split("<")[1].split(".")[0], m.rcpt_tos[0]): m.message for m in smtp_sink.wait_for(5, 30)
    }

    sender = {key: copy["From"].addresses[0].display_name for key, copy in copies.items()}
    assert sender["housing", "bob@council.example"] == "Alice Example drwy Housing Advice"
    assert sender["housing", "carol@council.example"] == "Alice Example via Housing Advice"
    assert sender["tai", "erin@council.example"] == "Alice Example drwy/via Tai Cymru", "bilingual: Welsh first"
    welsh = footer(copies["housing", "bob@council.example"], "plain")
    links = [word for word in welsh.split() if word.startswith("http")]
    assert len(links) == 3 and all(link.endswith("?lang=cy") for link in links), links
    for english in ("membership", "unsubscribe", "private", "post-", "mailto"):
        assert english not in welsh, "a Welsh reader reads no English word of ours, in links either"
    english = footer(copies["housing", "carol@council.example"], "plain")
    assert "lang=" not in english and "/c/housing/membership" in english
