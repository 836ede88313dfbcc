"""IMAP ingestion against a real Dovecot: IDLE, polling, moving only what is stored,
never storing twice, and a server restart in the middle."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from imapclient import IMAPClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker as SessionMaker

from forum.config import Settings
from forum.models import InboundMessage, InboundStatus, Post
from forum.site import Site
from mailgateway.incoming import processing
from mailgateway.incoming.imap import ImapPoller, addressing
from tests.dovecot import PASSWORD, USER, Dovecot
from tests.support import make_community, make_member

pytestmark = pytest.mark.integration

DOMAIN = "lists.example.org"


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    server = Dovecot()
    try:
        yield server.start()
    finally:
        server.close()


def mailbox(server: Dovecot) -> IMAPClient:
    client = IMAPClient("127.0.0.1", port=server.port, ssl=False, timeout=10)
    client.login(USER, PASSWORD)
    return client


def deliver(server: Dovecot, n: int, to: str = f"housing@{DOMAIN}", sender: str = "alice@council.example") -> None:
    """What the council's server does: file a message in the mailbox, with the envelope."""
    raw = (
        f"Return-Path: <{sender}>\r\nDelivered-To: {to}\r\nFrom: Alice <{sender}>\r\n"
        f"To: Housing <housing@{DOMAIN}>\r\nSubject: Question {n}\r\nMessage-ID: <imap{n}@council.example>\r\n"
        f"Date: Sat, 28 Nov 2026 09:00:00 +0000\r\n\r\nQuestion number {n} about damp.\r\n"
    ).encode()
    with mailbox(server) as client:
        client.append("INBOX", raw)


def counts(server: Dovecot) -> tuple[int, int]:
    """(messages in INBOX, in Processed)."""
    with mailbox(server) as client:
        inbox = client.folder_status("INBOX", ["MESSAGES"])[b"MESSAGES"]
        done = client.folder_status("Processed", ["MESSAGES"])[b"MESSAGES"] if client.folder_exists("Processed") else 0
    return inbox, done


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> float:
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.05)
    return time.monotonic() - started


def site_for(make_settings: Callable[..., Settings], server: Dovecot, **imap: object) -> Site:
    return Site.from_settings(
        make_settings(
            imap={"host": "127.0.0.1", "port": server.port, "tls": False, "user": USER, "password": PASSWORD, **imap}
        )
    )


def posts(sessionmaker: SessionMaker[Session]) -> list[str]:
    with sessionmaker() as session:
        return list(session.scalars(select(Post.subject).order_by(Post.id)))


@pytest.fixture
def community(sessionmaker: SessionMaker[Session]) -> None:
    with sessionmaker.begin() as session:
        housing = make_community(session, "housing")
        make_member(session, housing, "alice@council.example")
        make_member(session, housing, "bob@council.example")


def run_poller(site: Site, sessionmaker: SessionMaker[Session]) -> ImapPoller:
    def process(inbound_id: int) -> None:  # what the runtime's spool processor does
        with sessionmaker.begin() as session:
            processing.process(session, site, inbound_id)

    poller = ImapPoller(site, sessionmaker, process)
    poller.start()
    return poller


def test_idle_ingests_at_once_and_survives_a_server_restart(
    dovecot: Dovecot, community: None, make_settings: Callable[..., Settings], sessionmaker: SessionMaker[Session]
) -> None:
    # poll_seconds far beyond the waits below: only IDLE can make these arrive in time.
    site = site_for(make_settings, dovecot, poll_seconds=600.0, reconnect_max_seconds=1.0)
    poller = run_poller(site, sessionmaker)
    try:
        wait_until(lambda: counts(dovecot) == (0, 0) and poller._thread.is_alive(), 5, "poller connected")
        time.sleep(0.3)  # in IDLE now
        deliver(dovecot, 1)
        wait_until(lambda: posts(sessionmaker) == ["Question 1"], 30, "the first message posted (by IDLE)")
        wait_until(lambda: counts(dovecot) == (0, 1), 5, "moved to Processed once stored")

        dovecot.restart()
        deliver(dovecot, 2)
        wait_until(lambda: posts(sessionmaker) == ["Question 1", "Question 2"], 15, "posted after the restart")
        wait_until(lambda: counts(dovecot) == (0, 2), 5, "the second moved too")
    finally:
        poller.stop()
    with sessionmaker() as session:
        rows = session.execute(select(InboundMessage.channel, InboundMessage.source_ref, InboundMessage.status)).all()
    assert [r.channel for r in rows] == ["imap", "imap"] and all(r.status is InboundStatus.done for r in rows)
    assert all(";UIDVALIDITY=" in r.source_ref and ";UID=" in r.source_ref for r in rows)


def test_a_message_stored_but_not_moved_is_moved_not_stored_again(
    dovecot: Dovecot,
    community: None,
    make_settings: Callable[..., Settings],
    sessionmaker: SessionMaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    site = site_for(make_settings, dovecot, idle=False, poll_seconds=0.2)
    deliver(dovecot, 1)
    poller = ImapPoller(site, sessionmaker, lambda _id: None)
    client = poller._connect()
    try:
        uidvalidity = int(client.select_folder("INBOX")[b"UIDVALIDITY"])
        with monkeypatch.context() as patch:  # the crash: stored, then the connection died before the move
            patch.setattr(poller, "_move", lambda *_: (_ for _ in ()).throw(ConnectionResetError("gone")))
            with pytest.raises(ConnectionResetError):
                poller.ingest(client, uidvalidity)
        assert counts(dovecot) == (1, 0), "not moved: the move failed"
        assert poller.ingest(client, uidvalidity) == 0, "stored before: not stored again"
        assert counts(dovecot) == (0, 1)
    finally:
        client.logout()
    with sessionmaker() as session:
        assert session.scalar(select(func.count()).select_from(InboundMessage)) == 1


def test_polling_routes_like_smtp_and_keeps_a_record_of_what_it_refused(
    dovecot: Dovecot, community: None, make_settings: Callable[..., Settings], sessionmaker: SessionMaker[Session]
) -> None:
    site = site_for(make_settings, dovecot, idle=False, poll_seconds=0.2, processed_folder="Done by listbridge")
    deliver(dovecot, 1, sender="stranger@elsewhere.example")  # not a member: refused, as at SMTP DATA
    deliver(dovecot, 2, to=f"nosuch@{DOMAIN}")  # no such community: refused, as at RCPT
    deliver(dovecot, 3)
    poller = run_poller(site, sessionmaker)
    try:
        wait_until(lambda: posts(sessionmaker) == ["Question 3"], 10, "the member's message posted")
        with mailbox(dovecot) as client:
            wait_until(
                lambda: client.folder_status("Done by listbridge", ["MESSAGES"])[b"MESSAGES"] == 3, 5, "all three moved"
            )
    finally:
        poller.stop()
    with sessionmaker() as session:
        outcomes = list(session.scalars(select(InboundMessage.outcome).order_by(InboundMessage.id)))
    assert "5.7.1" in outcomes[0] and "not a member" in outcomes[0]
    assert "5.1.1" in outcomes[1]
    assert "posted as" in outcomes[2]


def test_addressing_reads_the_envelope_headers_first() -> None:
    raw = (
        b"Return-Path: <>\r\nDelivered-To: housing-bounces+bob=council.example@lists.example.org\r\n"
        b"From: MAILER-DAEMON@mx.example\r\nTo: someone@else.example\r\nSubject: failure\r\n\r\nx\r\n"
    )
    assert addressing(raw, DOMAIN).rcpts == ("housing-bounces+bob=council.example@lists.example.org",)
    assert addressing(raw, DOMAIN).mail_from == ""
    exchange = (
        b"From: Alice <alice@council.example>\r\nTo: Housing <HOUSING@lists.example.org>, x@y.example\r\n"
        b"Cc: planning@lists.example.org\r\nSubject: hi\r\n\r\nx\r\n"
    )
    assert addressing(exchange, DOMAIN).rcpts == ("housing@lists.example.org", "planning@lists.example.org")
    assert addressing(exchange, DOMAIN).mail_from == "alice@council.example", "no Return-Path: From stands in"
