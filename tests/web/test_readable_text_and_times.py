"""A post written on the web in Markdown, and the times of posts, as members read them in
the mail the site sends: the plain-text copy, and a digest's text and HTML.

The posts go in through the web app, the mail comes out of the real delivery worker into
an SMTP sink and is parsed as a mail client parses it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker as SessionMaker

from bridges.base import chat_post
from digest.run import Digests
from forum import config
from forum.models import Delivery, Post, Role
from forum.posting import Draft, submit_post
from forum.site import Site
from tests.integration.test_delivery import all_settled, deliver
from tests.support import SmtpSink, make_community, make_member

ANN, BOB, CEM = "ann@example.org", "bob@example.org", "cem@example.org"
MARKDOWN = (
    "## Boiler grants\n\nIs the **boiler** scheme open? See [the council page](https://council.example/b)"
    " or ask *Cem*.\n\n- the form\n- the deadline\n"
)
SITE_NAME = "Rhwydwaith Tai Cymru ac ymlaen cyngor i swyddogion tai ŵ ŷ ledled y wlad"  # folded wrongly before
MARKUP = ("**", "##", "](", "[the", "*Cem*")


@pytest.fixture
def settings(make_settings: Callable[..., config.Settings], smtp_sink: SmtpSink) -> config.Settings:
    """The app's settings, with the sink as smarthost and the default zone (Europe/London)."""
    return make_settings(site={"name": SITE_NAME}, smtp_out={"port": smtp_sink.port, "connections": 2})


def test_markdown_and_times_read_plainly_in_copies_and_digests(
    client: FlaskClient,
    csrf_token: Callable[[], str],
    as_user: Callable[[str], None],
    site: Site,
    engine: Engine,
    sessionmaker: SessionMaker[Session],
    smtp_sink: SmtpSink,
) -> None:
    with sessionmaker.begin() as session:
        housing = make_community(session, "housing")
        make_member(session, housing, ANN, role=Role.facilitator)
        make_member(session, housing, BOB)
        make_member(session, housing, CEM, delivery=Delivery.daily)
    digests = Digests(site, engine)
    digests.run(Delivery.daily, datetime(2025, 1, 14, 12, tzinfo=UTC))  # Cem's first digest: the next morning

    as_user(BOB)
    posted = client.post("/c/housing/new", data={"csrf_token": csrf_token(), "subject": "Boilers", "body": MARKDOWN})
    assert posted.status_code == 303
    with sessionmaker.begin() as session:
        for subject, moment in (
            ("Summer fete", datetime(2025, 7, 1, 12, tzinfo=UTC)),
            ("Winter fuel", datetime(2025, 1, 15, 12, tzinfo=UTC)),
        ):
            submit_post(
                session,
                Draft(
                    community="housing",
                    author_email=ANN,
                    author_name="Ann",
                    subject=subject,
                    body=f"{subject}: who is going?",
                    created_at=moment,
                ),
                site,
            )
    assert digests.run(Delivery.daily, datetime(2025, 1, 15, 7, tzinfo=UTC)).queued == 1

    asyncio.run(deliver(site, sessionmaker, all_settled(sessionmaker)))

    received = {(m.rcpt_tos[0], str(m.message["Subject"])): m.message for m in smtp_sink.messages}
    copy = received[(ANN, "Boilers")].get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert copy.startswith(
        "Boiler grants\n\nIs the boiler scheme open? See the council page "
        "<https://council.example/b> or ask Cem.\n\n- the form\n- the deadline\n"
    )
    [digest] = [m for (rcpt, _), m in received.items() if rcpt == CEM]
    assert digest["Subject"] == "Daily digest: 3 new posts in 1 community"
    assert digest["From"].addresses[0].display_name == SITE_NAME
    text = digest.get_body(("plain",)).get_content()
    html = digest.get_body(("html",)).get_content()
    flowing = " ".join(text.split())
    assert (
        "Boiler grants Is the boiler scheme open? See the council page <https://council.example/b> "
        "or ask Cem. - the form - the deadline"
    ) in flowing
    assert "Is the boiler scheme open? See the council page &lt;https://council.example/b&gt;" in html
    assert not [mark for mark in MARKUP if mark in text or mark in html]
    assert "Ann, 1 Jul 2025, 13:00 BST" in text and "Ann, 15 Jan 2025, 12:00 GMT" in text
    assert "1 Jul 2025, 13:00 BST" in html and "15 Jan 2025, 12:00 GMT" in html

    with sessionmaker() as session:  # the text a chat copy carries (bridges' workers send it as it is)
        web_post = session.scalars(select(Post).where(Post.source == "web")).one()
        assert chat_post(session, site, web_post, starts_thread=True).text == copy.split("\n\n-- \n")[0].strip()
