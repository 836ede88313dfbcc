"""The delivery worker against a real SMTP smarthost and a real database.

Each test runs :class:`DeliveryWorker` as ``listbridge serve`` does (``await
worker.run(stop)`` on an event loop) and reads what a member would see: the messages the
sink accepted, with their envelopes, and the outbox rows' final state.
"""

from __future__ import annotations

import asyncio
import email
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker as SessionMaker

from forum import outbox
from forum.config import Settings
from forum.directory import member_row, upsert_members
from forum.models import OutboxItem, OutboxStatus, Post, PostStatus, UserEmail
from forum.posting import AttachmentData, Draft, submit_post
from forum.site import Site
from mailgateway.addresses import read_reply_token
from mailgateway.outgoing import delivery
from mailgateway.outgoing.delivery import DeliveryWorker
from tests.support import Received, SmtpSink, free_port, make_community

pytestmark = pytest.mark.integration

AUTHOR = "alice@council.example"
DOMAIN = "lists.example.org"


@pytest.fixture
def mail_site(make_settings: Callable[..., Settings], smtp_sink: SmtpSink) -> Site:
    """A site whose smarthost is the test's sink."""
    return Site.from_settings(make_settings(smtp_out={"port": smtp_sink.port, "connections": 4}))


def add_members(sessionmaker: SessionMaker[Session], emails: list[str]) -> None:
    with sessionmaker.begin() as session:
        community = make_community(session, "housing")
        upsert_members(session, community, [member_row(AUTHOR, "Alice Example")] + [member_row(e) for e in emails])


QUESTION = "Who fixed their boiler this winter?\n.\n.profile, .bashrc: lines a lone dot would cut short\n"


def post(sessionmaker: SessionMaker[Session], site: Site, subject: str = "Heating repairs") -> Post:
    with sessionmaker.begin() as session:
        return submit_post(
            session,
            Draft(
                community="housing", author_email=AUTHOR, author_name="Alice Example", subject=subject, body=QUESTION
            ),
            site,
        ).post


def rows(sessionmaker: SessionMaker[Session]) -> dict[str, OutboxItem]:
    with sessionmaker() as session:
        return {row.address: row for row in session.scalars(select(OutboxItem))}


def user_ids(sessionmaker: SessionMaker[Session]) -> dict[str, int]:
    with sessionmaker() as session:
        return {ue.email: ue.user_id for ue in session.scalars(select(UserEmail))}


def by_recipient(messages: list[Received]) -> dict[str, Received]:
    counts = Counter(rcpt for m in messages for rcpt in m.rcpt_tos)
    assert all(n == 1 for n in counts.values()), f"sent more than once: {counts.most_common(3)}"
    return {m.rcpt_tos[0]: m for m in messages}


async def deliver(
    site: Site,
    sessionmaker: SessionMaker[Session],
    until: Callable[[], bool],
    *,
    timeout: float = 15.0,
    stop: asyncio.Event | None = None,
) -> None:
    """Run a worker until ``until()`` holds (checked every 20 ms), then stop it cleanly."""
    stop = stop or asyncio.Event()
    task = asyncio.create_task(DeliveryWorker(site, sessionmaker).run(stop))
    deadline = time.monotonic() + timeout
    while not until() and not task.done():
        assert time.monotonic() < deadline, "delivery did not finish in time"
        await asyncio.sleep(0.02)
    stop.set()
    await task


def all_settled(sessionmaker: SessionMaker[Session]) -> Callable[[], bool]:
    return lambda: all(r.status in (OutboxStatus.done, OutboxStatus.failed) for r in rows(sessionmaker).values())


def test_each_member_gets_one_personal_copy_moments_after_the_post(
    mail_site: Site, sessionmaker: SessionMaker[Session], smtp_sink: SmtpSink
) -> None:
    members = ["bob@council.example", "carol@council.example", "dave@elsewhere.example"]
    add_members(sessionmaker, members)

    async def scenario() -> None:
        # A worker that would not look for work by itself for ten minutes: only wake() can
        # explain copies arriving (the 60 s wait below is a ceiling, not a speed claim).
        worker, stop = DeliveryWorker(mail_site, sessionmaker, poll_seconds=600), asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        await asyncio.sleep(0.3)  # let its first look (rows left from an earlier run) find nothing
        published = post(sessionmaker, mail_site)
        worker.wake()
        await asyncio.to_thread(smtp_sink.wait_for, 3, 60)
        while not all_settled(sessionmaker)():
            await asyncio.sleep(0.02)
        stop.set()
        await task
        assert published.id

    asyncio.run(scenario())

    copies = by_recipient(smtp_sink.messages)
    assert sorted(copies) == sorted(members)
    ids = user_ids(sessionmaker)
    with sessionmaker() as session:
        published = session.scalars(select(Post)).one()
    reply_addresses = set()
    for rcpt, copy in copies.items():
        local, domain = rcpt.split("@")
        assert copy.mail_from == f"housing-bounces+{local}={domain}@{DOMAIN}"
        msg = copy.message
        assert msg["From"].addresses[0].addr_spec == f"housing@{DOMAIN}"
        assert msg["From"].addresses[0].display_name == "Alice Example via Housing"
        assert msg["Message-ID"] == f"<{published.message_id}>"
        assert msg["Subject"] == "Heating repairs"
        reply_to = msg["Reply-To"].addresses[0].addr_spec
        assert read_reply_token(mail_site.signer, reply_to.split("@")[0].split("+")[1]) == (ids[rcpt], published.id)
        reply_addresses.add(reply_to)
        assert msg.get_body(("plain",)).get_content().replace("\r\n", "\n").startswith(QUESTION)
    assert len(reply_addresses) == 3
    assert AUTHOR not in copies
    assert {r.status for r in rows(sessionmaker).values()} == {OutboxStatus.done}


def test_a_deferred_recipient_is_retried_and_then_delivered(
    mail_site: Site, sessionmaker: SessionMaker[Session], smtp_sink: SmtpSink
) -> None:
    add_members(sessionmaker, ["bob@council.example", "carol@council.example"])
    smtp_sink.reply_for["carol@council.example"] = ["451 4.3.0 mailbox busy, try later"]
    post(sessionmaker, mail_site)

    asyncio.run(deliver(mail_site, sessionmaker, all_settled(sessionmaker)))

    assert sorted(by_recipient(smtp_sink.messages)) == ["bob@council.example", "carol@council.example"]
    carol = rows(sessionmaker)["carol@council.example"]
    assert (carol.status, carol.attempts) == (OutboxStatus.done, 2)


def test_a_permanent_refusal_is_recorded_and_never_retried(
    mail_site: Site, sessionmaker: SessionMaker[Session], smtp_sink: SmtpSink
) -> None:
    add_members(sessionmaker, ["bob@council.example", "nobody@council.example"])
    # Refused once: were it ever retried, the retry would be accepted and show up below.
    smtp_sink.reply_for["nobody@council.example"] = ["550 5.1.1 no such user"]
    post(sessionmaker, mail_site)

    settled_at: list[float] = []

    def settled_a_while_ago() -> bool:
        if not settled_at and all_settled(sessionmaker)():
            settled_at.append(time.monotonic())
        return bool(settled_at) and time.monotonic() - settled_at[0] > 0.6  # > 10 retry delays

    asyncio.run(deliver(mail_site, sessionmaker, settled_a_while_ago))

    assert sorted(by_recipient(smtp_sink.messages)) == ["bob@council.example"]
    nobody = rows(sessionmaker)["nobody@council.example"]
    assert (nobody.status, nobody.attempts) == (OutboxStatus.failed, 1)
    assert "550 5.1.1 no such user" in nobody.last_error


def test_stopping_mid_fan_out_and_restarting_sends_the_rest_exactly_once(
    make_settings: Callable[..., Settings], sessionmaker: SessionMaker[Session]
) -> None:
    members = [f"m{i}@members.example" for i in range(150)]
    add_members(sessionmaker, members)
    stop = asyncio.Event()
    loop_of_first_run: list[asyncio.AbstractEventLoop] = []

    def stop_after_30(received: Received) -> None:
        if len(sink.messages) == 29:  # this is the 30th: stop while the rest are in flight
            loop_of_first_run[0].call_soon_threadsafe(stop.set)

    with SmtpSink(on_message=stop_after_30) as sink:
        site = Site.from_settings(
            make_settings(smtp_out={"port": sink.port, "connections": 4}, delivery={"batch_size": 40})
        )
        post(sessionmaker, site)

        async def first_run() -> None:
            loop_of_first_run.append(asyncio.get_running_loop())
            await deliver(site, sessionmaker, stop.is_set, stop=stop)

        asyncio.run(first_run())
        sent_before_restart = len(sink.messages)
        states = Counter(r.status for r in rows(sessionmaker).values())
        assert 30 <= sent_before_restart < 150
        assert states[OutboxStatus.sending] == 0, "a clean stop hands back what it claimed"
        assert states[OutboxStatus.done] == sent_before_restart, "everything accepted is recorded as sent"

        asyncio.run(deliver(site, sessionmaker, all_settled(sessionmaker)))

    assert sorted(by_recipient(sink.messages)) == sorted(members)
    assert {r.status for r in rows(sessionmaker).values()} == {OutboxStatus.done}


def test_mail_waits_while_the_smarthost_is_down_and_goes_out_when_it_is_back(
    make_settings: Callable[..., Settings], sessionmaker: SessionMaker[Session]
) -> None:
    port = free_port()
    site = Site.from_settings(make_settings(smtp_out={"port": port, "connections": 2}))
    add_members(sessionmaker, ["bob@council.example", "carol@council.example"])
    post(sessionmaker, site)
    sink = SmtpSink(port=port)
    started = threading.Event()

    def deferred_then_back() -> bool:
        if not started.is_set():
            tried = rows(sessionmaker).values()
            if all(r.attempts >= 1 and "unavailable" in r.last_error for r in tried):
                sink.start()
                started.set()
            return False
        return all_settled(sessionmaker)()

    try:
        asyncio.run(deliver(site, sessionmaker, deferred_then_back, timeout=30))
    finally:
        if started.is_set():
            sink.stop()

    assert sorted(by_recipient(sink.messages)) == ["bob@council.example", "carol@council.example"]
    assert all(r.status is OutboxStatus.done and r.attempts >= 2 for r in rows(sessionmaker).values())


class ResetsIdleConnections:
    """A smarthost that resets a connection when its second transaction begins, as one does
    whose idle timer fired while the client still believed the connection open."""

    def __init__(self) -> None:
        self.transactions: Counter[int] = Counter()
        self.subjects: list[str] = []

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        self.transactions[id(session)] += 1
        if self.transactions[id(session)] == 2:
            server.transport.abort()
        envelope.mail_from = address
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.subjects.append(email.message_from_bytes(envelope.original_content)["Subject"])
        return "250 OK"


def test_a_connection_the_smarthost_reset_is_replaced_without_delaying_the_message(
    make_settings: Callable[..., Settings], sessionmaker: SessionMaker[Session]
) -> None:
    handler = ResetsIdleConnections()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    site = Site.from_settings(make_settings(smtp_out={"port": controller.port, "connections": 1}))
    add_members(sessionmaker, ["bob@council.example"])

    async def two_posts_one_after_the_other() -> None:
        stop = asyncio.Event()
        worker = DeliveryWorker(site, sessionmaker)
        task = asyncio.create_task(worker.run(stop))
        for subject in ("First", "Second"):
            post(sessionmaker, site, subject)
            worker.wake()
            while subject not in handler.subjects:
                await asyncio.sleep(0.02)
        while not all_settled(sessionmaker)():
            await asyncio.sleep(0.02)
        stop.set()
        await task

    controller.start()
    try:
        asyncio.run(two_posts_one_after_the_other())
    finally:
        controller.stop()
    assert handler.subjects == ["First", "Second"]
    assert len(handler.transactions) == 2, "the second post went out on a fresh connection"
    with sessionmaker() as session:
        assert list(session.scalars(select(OutboxItem.attempts))) == [1, 1], "no send was counted as failed"


def test_copies_of_a_post_deleted_before_delivery_are_not_sent(
    mail_site: Site, sessionmaker: SessionMaker[Session], smtp_sink: SmtpSink
) -> None:
    add_members(sessionmaker, ["bob@council.example"])
    published = post(sessionmaker, mail_site)
    with sessionmaker.begin() as session:
        session.get(Post, published.id).status = PostStatus.deleted

    asyncio.run(deliver(mail_site, sessionmaker, all_settled(sessionmaker)))

    assert smtp_sink.messages == []
    bob = rows(sessionmaker)["bob@council.example"]
    assert bob.status is OutboxStatus.failed and "no longer published" in bob.last_error


def test_a_copy_that_waited_past_its_lease_is_handed_back_not_sent(
    mail_site: Site, sessionmaker: SessionMaker[Session], smtp_sink: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past its lease a row may be claimed again; sending it then could send it twice."""
    add_members(sessionmaker, ["bob@council.example"])
    post(sessionmaker, mail_site)
    monkeypatch.setattr(delivery, "SEND_WITHIN_SHARE", 0.0)
    started = time.monotonic()

    asyncio.run(deliver(mail_site, sessionmaker, lambda: time.monotonic() - started > 0.5))

    assert smtp_sink.messages == []
    bob = rows(sessionmaker)["bob@council.example"]
    assert (bob.status, bob.attempts) == (OutboxStatus.pending, 0)


def test_notices_go_out_with_the_community_headers_and_a_bounce_address(
    mail_site: Site, sessionmaker: SessionMaker[Session], smtp_sink: SmtpSink
) -> None:
    add_members(sessionmaker, [])
    with sessionmaker.begin() as session:
        outbox.enqueue_notice(
            session,
            dedupe_key="confirm:1",
            address="newbie@council.example",
            payload={
                "subject": "Confirm you want to join Housing",
                "text": "Reply to this message to confirm.",
                "slug": "housing",
                "reply_to": f"housing-confirm+abc@{DOMAIN}",
                "in_reply_to": "join1@council.example",
            },
        )
        outbox.enqueue_notice(
            session,
            dedupe_key="site:1",
            address="someone@elsewhere.example",
            payload={"subject": "Your login link", "text": "Click: http://x/login/abc"},
        )

    asyncio.run(deliver(mail_site, sessionmaker, all_settled(sessionmaker)))

    copies = by_recipient(smtp_sink.messages)
    confirm = copies["newbie@council.example"]
    assert confirm.mail_from == f"housing-bounces+newbie=council.example@{DOMAIN}"
    assert confirm.message["From"].addresses[0].addr_spec == f"housing-owner@{DOMAIN}"
    assert confirm.message["Reply-To"] == f"housing-confirm+abc@{DOMAIN}"
    assert confirm.message["Auto-Submitted"] == "auto-replied"
    assert confirm.message["In-Reply-To"] == "<join1@council.example>"
    assert confirm.message["List-Id"] == f"Housing <housing.{DOMAIN}>"
    login = copies["someone@elsewhere.example"].message
    assert login["From"].addresses[0].addr_spec == f"noreply@{DOMAIN}"
    assert login["Auto-Submitted"] == "auto-generated"
    assert login.get_content().strip() == "Click: http://x/login/abc"


def test_a_copy_that_cannot_be_composed_fails_at_once_and_the_operators_are_told(
    make_settings: Callable[..., Settings],
    sessionmaker: SessionMaker[Session],
    smtp_sink: SmtpSink,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An attachment's file gone from storage: no retry would compose the copies, so they
    fail at once (not every 30 s for three days), one ERROR says why, and one mail tells
    the operators, however many batches the copies took."""
    site = Site.from_settings(
        make_settings(
            site={"operators": ["ops@council.example"]},
            smtp_out={"port": smtp_sink.port, "connections": 2},
            delivery={"batch_size": 2},
        )
    )
    members = [f"member{i}@council.example" for i in range(5)]
    add_members(sessionmaker, members)
    with sessionmaker.begin() as session:
        published = submit_post(
            session,
            Draft(
                community="housing",
                author_email=AUTHOR,
                subject="Minutes",
                body="The minutes are attached.",
                attachments=(AttachmentData("minutes.pdf", "application/pdf", b"%PDF-1.4 minutes"),),
            ),
            site,
        ).post
        sha256 = published.attachments[0].sha256
    site.blobs.path_for(sha256).unlink()

    caplog.set_level("INFO", logger="mailgateway.outgoing.delivery")
    asyncio.run(deliver(site, sessionmaker, lambda: all_settled(sessionmaker)() and len(smtp_sink.messages) >= 1))

    copies = {address: row for address, row in rows(sessionmaker).items() if address in members}
    assert {row.status for row in copies.values()} == {OutboxStatus.failed}
    assert {row.attempts for row in copies.values()} == {1}
    assert all(
        "cannot be composed" in row.last_error and "FileNotFoundError" in row.last_error for row in copies.values()
    )
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and "cannot compose" in errors[0].getMessage()
    [notice] = smtp_sink.messages
    assert notice.rcpt_tos == ["ops@council.example"]
    text = notice.message.get_body(("plain",)).get_content()
    assert f"post {published.id}" in text and '"Minutes" in Housing' in text and "FileNotFoundError" in text
    assert "could not be composed" in notice.message["Subject"]


def test_an_address_that_is_not_ascii_fails_at_once_and_the_others_get_their_copies(
    mail_site: Site, sessionmaker: SessionMaker[Session], smtp_sink: SmtpSink, caplog: pytest.LogCaptureFixture
) -> None:
    """Such an address is accepted as a member's, but sending to it needs SMTPUTF8: retrying
    for three days, a traceback each time, would not change that."""
    add_members(sessionmaker, ["siân@council.example", "bob@council.example"])
    post(sessionmaker, mail_site)

    asyncio.run(deliver(mail_site, sessionmaker, all_settled(sessionmaker)))

    assert [m.rcpt_tos for m in smtp_sink.messages] == [["bob@council.example"]]
    sian = rows(sessionmaker)["siân@council.example"]
    assert (sian.status, sian.attempts) == (OutboxStatus.failed, 1)
    assert "not an ASCII address" in sian.last_error and "SMTPUTF8" in sian.last_error
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
