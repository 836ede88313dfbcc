"""An archived community by mail, against a real ``listbridge serve``: still there to read,
closed to posts by every sender, with a reason the sender's server passes on."""

from __future__ import annotations

from pathlib import Path

import pytest

from forum.db import make_engine, make_sessionmaker
from forum.directory import set_archived
from forum.posting import community_by_slug
from tests.integration.served import DOMAIN, ServedSite, mail
from tests.support import SmtpSink

pytestmark = pytest.mark.integration

LIST = f"housing@{DOMAIN}"


def archive(site: ServedSite, slug: str, archived: bool = True) -> None:
    engine = make_engine(site.db_url)
    try:
        with make_sessionmaker(engine).begin() as db:
            set_archived(db, community_by_slug(db, slug), archived)
    finally:
        engine.dispose()


def test_mail_to_an_archived_community_is_refused_with_the_reason(
    tmp_path: Path, db_url: str, smtp_sink: SmtpSink
) -> None:
    site = ServedSite(tmp_path, db_url, smtp_sink.port)
    site.cli("init")
    site.cli("community", "create", "housing", "--name", "Housing Advice", "--category", "Housing")
    site.cli("community", "create", "board", "--name", "Board", "--private")
    site.cli("member", "add", "housing", "alice@council.example", "--name", "Alice", "--role", "facilitator")
    archive(site, "housing")
    archive(site, "board")
    assert site.cli("community", "list").stdout.splitlines()[1].endswith("\tHousing\tarchived")
    site.start()
    try:
        for sender in ("alice@council.example", "dave@elsewhere.example"):
            code, text = site.send(sender, [LIST], mail(sender, LIST, "Still here?", "Hello", f"a-{sender}"))
            assert code == 550 and text.startswith("5.7.1") and "housing is archived" in text, (sender, text)
        board = f"board@{DOMAIN}"
        code, text = site.send(
            "dave@elsewhere.example", [board], mail("dave@elsewhere.example", board, "Hi", "Hi", "b1")
        )
        assert code == 550 and "archived" not in text  # a private community tells outsiders nothing
        archive(site, "housing", archived=False)
        code, _ = site.send("alice@council.example", [LIST], mail("alice@council.example", LIST, "Open", "Hi", "a2"))
        assert code == 250
    finally:
        site.stop()
