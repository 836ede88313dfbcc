"""Importing list archives: splitting mbox files in their several dialects, and storing
their messages as history — threaded as live mail, dated as written, sent to nobody."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker as SessionMaker

from forum.archive import community_mbox
from forum.config import Settings
from forum.models import InboundMessage, InboundStatus, OutboxItem, Post, Thread
from forum.site import Site
from mailgateway.incoming.mbox_import import (
    ImportReport,
    NotAnMbox,
    count_messages,
    derived_message_id,
    open_import,
    parseable,
    read_mbox,
)
from mailgateway.text.parsing import parse_message
from tests.corpus import require_corpus
from tests.support import make_community, make_member

# A pipermail export (Mailman 2): obfuscated addresses in the "From " line and in From,
# a list tag in the subject, an escaped ">From" body line, a message without Date, one
# without Message-ID, an encoded name, and a reply found only by its subject two years ago.
MAILMAN2 = b"""\
From alice at example.org  Mon Jan  3 10:00:00 2005
From: alice at example.org (Alice Example)
Date: Mon, 03 Jan 2005 10:00:00 +0000
Subject: [Housing] Damp in the flat
Message-ID: <damp-1@example.org>

The walls are wet.
>From what I read, that is condensation.

From bob at example.net  Tue Jan  4 09:00:00 2005
From: =?iso-8859-1?q?Ren=E9_Dupont?= <rene at example.net>
Subject: Re: [Housing] Damp in the flat
In-Reply-To: <damp-1@example.org>
Message-ID: <damp-2@example.net>

Open a window.

From carol at example.com  Wed Jan  5 12:00:00 2005
From: carol at example.com (Carol)
Date: Wed, 05 Jan 2005 12:00:00 +0000
Subject: Re: [Housing] Damp in the flat

Same here: the landlord did nothing.

"""

# A Google Groups export (Takeout): CRLF line endings, the zone before the year in the
# "From " line, the author rewritten to "'X' via Group" with the real one kept in
# X-Original-From, a base64-encoded subject, and a Date far in the future.
GOOGLE = (
    b"From 1593744434371411331@xxx Thu Mar 05 21:29:36 +0000 2020\n"
    b"X-GM-THRID: 1660400000000000001\n"
    b"From: 'Dana Smith' via Tenants <tenants@googlegroups.com>\n"
    b"X-Original-From: Dana Smith <dana@example.org>\n"
    b"List-ID: <tenants.googlegroups.com>\n"
    b"Subject: =?UTF-8?B?UmVudCByaXNlcyDigJMgd2hhdCBub3c/?=\n"
    b"Date: Thu, 5 Mar 2020 21:29:36 +0000\n"
    b"Message-ID: <CAgg1@mail.gmail.com>\n"
    b"\n"
    b"Our rent goes up by 20%.\n"
    b"\n"
    b"From 1593744434371411332@xxx Fri Mar 06 08:15:00 +0000 2020\n"
    b"From: 'Eve' via Tenants <tenants@googlegroups.com>\n"
    b"X-Original-From: Eve <eve@example.org>\n"
    b"List-ID: <tenants.googlegroups.com>\n"
    b"Subject: Re: =?UTF-8?B?UmVudCByaXNlcyDigJMgd2hhdCBub3c/?=\n"
    b"Date: Sat, 6 Mar 2099 08:15:00 +0000\n"
    b"In-Reply-To: <CAgg1@mail.gmail.com>\n"
    b"References: <CAgg1@mail.gmail.com>\n"
    b"Message-ID: <CAgg2@mail.gmail.com>\n"
    b"\n"
    b"> Our rent goes up by 20%.\n"
    b"\n"
    b"Ask for the reason in writing.\n"
).replace(b"\n", b"\r\n")


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., Path]:
    def make(data: bytes, name: str = "archive.mbox") -> Path:
        path = tmp_path / name
        path.write_bytes(data)
        return path

    return make


@pytest.fixture
def community(sessionmaker: SessionMaker[Session]) -> Iterator[str]:
    with sessionmaker.begin() as session:
        housing = make_community(session, "housing")
        make_member(session, housing, "member@example.org")  # takes each post by mail
    yield "housing"


def run(sessionmaker: SessionMaker[Session], site: Site, path: Path, slug: str = "housing") -> ImportReport:
    return open_import(sessionmaker, site, slug, path).run()


def posts(session: Session) -> list[Post]:
    return list(session.scalars(select(Post).order_by(Post.created_at, Post.id)))


# Reading mbox files ----------------------------------------------------------------------


def test_splits_as_the_reference_splitter_does() -> None:
    folder = require_corpus() / "mime4j" / "mbox-split"
    messages = list(read_mbox(folder / "mbox.rlug"))
    assert [m.number for m in messages] == [1, 2, 3, 4, 5]
    assert count_messages(folder / "mbox.rlug") == 5
    for message in messages:
        # The reference keeps the blank line that separates messages; we drop it, as the
        # archive's own mbox download adds it.
        assert message.raw + b"\n" == (folder / f"mbox.rlug-{message.number - 1}").read_bytes()


def test_unescapes_from_lines_and_keeps_unescaped_ones_inside_the_body(write: Callable[..., Path]) -> None:
    path = write(
        b"From a@example.org Mon Jan  3 10:00:00 2005\nSubject: x\n\n>From here\n>>From there\n\n"
        b"From now on we talk.\n\nFrom b@example.org Mon Jan  3 11:00:00 2005\nSubject: y\n\nbody\n"
    )
    first, second = read_mbox(path)
    assert first.raw == b"Subject: x\n\nFrom here\n>From there\n\nFrom now on we talk.\n"
    assert second.raw == b"Subject: y\n\nbody\n"
    assert second.envelope_date == datetime(2005, 1, 3, 11, tzinfo=UTC)


def test_envelope_dates_in_the_dialects_archives_write(write: Callable[..., Path]) -> None:
    path = write(
        b"From alice at example.org  Mon Jan  3 10:00:00 2005\n\nx\n"
        b"From 159@xxx Thu Mar 05 21:29:36 +0000 2020\n\nx\n"
        b"From cristy@example.com Wed Jun 14 17:56 MET 2000\n\nx\n"
    )
    dates = [m.envelope_date for m in read_mbox(path)]
    assert dates == [
        datetime(2005, 1, 3, 10, tzinfo=UTC),
        datetime(2020, 3, 5, 21, 29, 36, tzinfo=UTC),
        datetime(2000, 6, 14, 17, 56, tzinfo=UTC),
    ]
    assert [m.sender for m in read_mbox(path)] == [b"alice at example.org", b"159@xxx", b"cristy@example.com"]


def test_a_file_that_is_not_an_mbox(write: Callable[..., Path]) -> None:
    with pytest.raises(NotAnMbox, match="not an mbox"):
        list(read_mbox(write(b"email,name\nalice@example.org,Alice\n")))
    assert list(read_mbox(write(b""))) == []


def test_obfuscated_and_missing_authors_are_readable(write: Callable[..., Path]) -> None:
    message = next(read_mbox(write(MAILMAN2)))
    parsed = parse_message(parseable(message))
    assert (parsed.from_addr, parsed.from_name) == ("alice@example.org", "Alice Example")
    assert b"alice at example.org (Alice Example)" in message.raw  # the original stays as it was
    no_from = next(
        read_mbox(
            write(
                b"From markov Sun Aug  8 10:04:17 1999\nReply-To: markov@example.nl (Mark)\nSubject: s\n\nhi\n",
                "old.mbox",
            )
        )
    )
    assert parse_message(parseable(no_from)).from_addr == "markov@example.nl"


# Importing -------------------------------------------------------------------------------


def test_mailman2_archive(
    sessionmaker: SessionMaker[Session], site: Site, community: str, write: Callable[..., Path]
) -> None:
    path = write(MAILMAN2)
    report = run(sessionmaker, site, path)
    assert (report.imported, report.skipped, report.refused) == (3, 0, [])
    with sessionmaker() as session:
        damp, reply, by_subject = posts(session)
        assert (damp.author_email, damp.author_name) == ("alice@example.org", "Alice Example")
        assert "From what I read" in damp.body
        assert (reply.author_name, reply.parent_id) == ("René Dupont", damp.id)
        # No Date: the "From " line's date. No Message-ID: one derived from the bytes.
        assert reply.created_at == datetime(2005, 1, 4, 9, tzinfo=UTC)
        third = list(read_mbox(path))[2]
        assert by_subject.message_id == derived_message_id(third.raw, site)
        # Two decades old, its "Re:" subject still joins the thread it answered then.
        assert by_subject.thread_id == damp.thread_id
        thread = session.get(Thread, damp.thread_id)
        assert thread is not None and thread.post_count == 3
        assert thread.last_activity_at == datetime(2005, 1, 5, 12, tzinfo=UTC)
        assert {p.source for p in (damp, reply, by_subject)} == {"import"}
    assert run(sessionmaker, site, path).summary() == "0 imported, 3 skipped (already there), 0 refused"


def test_imported_mail_loses_our_tokens_filter_clutter_and_signatures(
    sessionmaker: SessionMaker[Session], site: Site, community: str, write: Callable[..., Path]
) -> None:
    """An archive of this very list, exported and imported again: its replies quote their
    copies, footers and all, as live mail does, and go through the same cleaning."""
    leave = f"{site.settings.site.base_url}/unsubscribe/aiar7gq22huxkbr35dwq"
    reply = f"housing+amaw7grvycvyofhlm5kq@{site.mail_domain}"
    archive = (
        "From bob@example.org Tue Dec  1 10:00:00 2026\n"
        "From: Bob <bob@example.org>\nSubject: RE: [EXTERNAL] Damp\nDate: Tue, 01 Dec 2026 10:00:00 +0000\n"
        f"Message-ID: <imp-1@example.org>\nReply-To: {reply}\n\n"
        "CAUTION: This email originated from outside of the organisation. Do not click links or open attachments.\n\n"
        "The guide: https://eur02.safelinks.protection.outlook.com/?url=https%3A%2F%2Fwww.gov.uk%2Fdamp&data=05%7C02\n\n"
        "Kind regards,\nBob\n\nBob Hughes\nHousing Officer\nTel: 01632 960 412\n\n"
        f"> Earlier words\n> -- \n> View on the web: {site.settings.site.base_url}/c/housing/t/1\n> Leave Housing: {leave}\n"
        f"> Reply to: {reply}\n\n"
    ).encode()
    assert run(sessionmaker, site, write(archive)).imported == 1
    with sessionmaker() as session:
        [post] = posts(session)
    assert post.subject == "RE: Damp"
    assert post.body == "The guide: https://www.gov.uk/damp\n\nKind regards,\nBob"
    assert post.signature == "Bob Hughes\nHousing Officer\nTel: 01632 960 412"
    shown = " ".join((post.body, post.html or "", post.quoted, post.signature))
    assert "aiar7gq22huxkbr35dwq" not in shown and "amaw7grvycvyofhlm5kq" not in shown and "CAUTION" not in shown


def test_google_groups_archive(
    sessionmaker: SessionMaker[Session], site: Site, community: str, write: Callable[..., Path]
) -> None:
    report = run(sessionmaker, site, write(GOOGLE))
    assert (report.imported, report.refused) == (2, [])
    with sessionmaker() as session:
        rent, advice = posts(session)
        assert (rent.author_email, rent.author_name, rent.subject) == (
            "dana@example.org",
            "Dana Smith",
            "Rent rises – what now?",
        )
        assert advice.author_email == "eve@example.org" and advice.parent_id == rent.id
        assert advice.body.strip().endswith("Ask for the reason in writing.") and "\r" not in advice.body
        # A Date in 2099 is a broken clock: the date the archive filed it under is used.
        assert advice.created_at == datetime(2020, 3, 6, 8, 15, tzinfo=UTC)


def test_subject_matching_follows_the_message_date(
    sessionmaker: SessionMaker[Session], site: Site, community: str, write: Callable[..., Path]
) -> None:
    """A "Re:" written months after the thread went quiet starts a thread of its own, as it
    did on the list then (the window is [threading] subject_match_days before its date)."""
    late = (
        b"From x@example.org Mon Jan  3 10:00:00 2005\nFrom: x@example.org\nSubject: Boilers\n"
        b"Date: Mon, 03 Jan 2005 10:00:00 +0000\nMessage-ID: <b1@x>\n\nMine broke.\n\n"
        b"From y@example.org Mon Jun  6 10:00:00 2005\nFrom: y@example.org\nSubject: Re: Boilers\n"
        b"Date: Mon, 06 Jun 2005 10:00:00 +0000\nMessage-ID: <b2@y>\n\nMine too.\n"
    )
    run(sessionmaker, site, write(late))
    with sessionmaker() as session:
        first, second = posts(session)
        assert first.thread_id != second.thread_id


def test_an_import_is_history_not_news(
    sessionmaker: SessionMaker[Session], site: Site, community: str, write: Callable[..., Path]
) -> None:
    """Nobody is mailed, nothing waits in the spool, and the facilitators' download gives
    back the originals."""
    path = write(MAILMAN2)
    run(sessionmaker, site, path)
    with sessionmaker() as session:
        assert session.scalar(select(func.count()).select_from(OutboxItem)) == 0
        rows = session.execute(select(InboundMessage.channel, InboundMessage.status)).all()
        assert rows == [("import", InboundStatus.done)] * 3
        housing = session.scalars(select(Post.community_id).limit(1)).one()
        exported = write(b"".join(community_mbox(session, housing, site.blobs, originals=True)), "export.mbox")
    assert [m.raw for m in read_mbox(exported)] == [m.raw for m in read_mbox(path)]
    assert run(sessionmaker, site, exported).imported == 0


def test_bad_messages_are_refused_by_number(
    sessionmaker: SessionMaker[Session], site: Site, community: str, write: Callable[..., Path]
) -> None:
    path = write(
        b"From a@example.org Mon Jan  3 10:00:00 2005\nFrom: a@example.org\nSubject: ok\n\nfine\n\n"
        b"From nobody Mon Jan  3 11:00:00 2005\nSubject: who?\n\nno author anywhere\n\n"
        b"From a@example.org Mon Jan  3 12:00:00 2005\nFrom: a@example.org\nSubject: empty\n\n\n"
    )
    report = run(sessionmaker, site, path)
    assert report.imported == 1
    assert [(r.number, r.reason) for r in report.refused] == [
        (2, "the From header of the message has no usable email address"),
        (3, "the message has no text (was the reply written below the quoted message?)"),
    ]
    assert str(report.refused[0]).startswith("message 2: ")


def test_magick_archive_threads_as_notmuch_does(
    sessionmaker: SessionMaker[Session], settings: Settings, community: str, record_measurement: Callable[[str], None]
) -> None:
    """notmuch threads by References/In-Reply-To only, so with subject matching off every
    one of its threads must come out exactly; with it on (the default), threads may only
    be joined by subject, never split."""
    folder = require_corpus() / "mailbox_perl"
    reference = json.loads((folder / "notmuch-threads.json").read_text())["threads"]
    for days in (0, settings.threading.subject_match_days):
        with sessionmaker.begin() as session:
            session.query(Post).delete()
            session.query(Thread).delete()
        site = Site.from_settings(replace(settings, threading=replace(settings.threading, subject_match_days=days)))
        report = run(sessionmaker, site, folder / "magick-2000.mbox")
        assert (report.imported + report.skipped, report.refused) == (45, [])
        ours = _threads_by_number(sessionmaker, site, folder / "magick-2000.mbox")
        theirs = [frozenset(int(n["files"][0].split("#")[1]) for n in _walk(t)) for t in reference]
        exact = sum(t in ours for t in theirs)
        record_measurement(
            f"magick-2000 import, subject_match_days={days}: {exact}/{len(theirs)} notmuch threads "
            f"exact, {len(ours)} threads"
        )
        assert all(any(t <= mine for mine in ours) for t in theirs)
        if days == 0:
            assert exact == len(theirs) == len(ours)


def _threads_by_number(sessionmaker: SessionMaker[Session], site: Site, path: Path) -> set[frozenset[int]]:
    """Our threads as sets of message positions in the file (from 0, as notmuch counts)."""
    ids = [parse_message(parseable(m)).message_id or derived_message_id(m.raw, site) for m in read_mbox(path)]
    with sessionmaker() as session:
        thread_of = dict(session.execute(select(Post.message_id, Post.thread_id)).all())
    grouped: dict[int, set[int]] = {}
    for position, message_id in enumerate(ids):
        grouped.setdefault(thread_of[message_id], set()).add(position)
    return {frozenset(v) for v in grouped.values()}


def _walk(nodes: list[dict]) -> Iterator[dict]:
    for node in nodes:
        yield node
        yield from _walk(node["replies"])
