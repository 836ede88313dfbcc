"""Slack both ways through a real ``listbridge serve``: mail in → Web API calls out; signed
Events API requests in → mail out. The Web API is the local fake in ``tests/fake_slack.py``
(its docstring lists what it covers); events are signed with the signing secret and sent
over HTTP to the real ``/slack/events`` endpoint on the web port.
"""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from forum.models import ChatMessage, Post, PostStatus
from tests.fake_slack import (
    BOT_ID,
    BOT_TOKEN,
    BOT_USER,
    SIGNING_SECRET,
    FakeSlack,
    event_callback,
    signed,
)
from tests.integration.served import ServedSite
from tests.support import SmtpSink

pytestmark = pytest.mark.integration
CHANNEL = "C0001"


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        fake.add_user("U1", "Alice Example", "alice@council.example")
        fake.add_user("U9", "Stranger", "stranger@elsewhere.example")
        yield fake


@pytest.fixture
def served(tmp_path: Path, db_url: str, smtp_sink: SmtpSink, slack: FakeSlack) -> Iterator[ServedSite]:
    site = ServedSite(tmp_path, db_url, smtp_sink.port, extra=f"""
[slack]
bot_token = "{BOT_TOKEN}"
signing_secret = "{SIGNING_SECRET}"
api_base_url = "{slack.api_url}"
""")
    site.cli("init")
    site.cli("community", "create", "housing", "--name", "Housing Advice", "--policy", "members")
    for who in ("alice", "bob"):
        site.cli("member", "add", "housing", f"{who}@council.example", "--name", f"{who.title()} Example")
    site.cli("bridge", "link", "housing", "slack", CHANNEL)
    site.start()
    wait_until(lambda: _accepts(site.web_port))  # start() waits for SMTP; events need the web port too
    yield site
    site.stop()


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), 0.5).close()
        return True
    except OSError:
        return False


def mail(sender: str, subject: str, body: str, message_id: str, in_reply_to: str | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"], msg["Message-ID"] = sender, "housing@lists.example.org", subject, message_id
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    msg.set_content(body)
    return msg.as_bytes()


def post_event(site: ServedSite, event: dict[str, Any], **sign: Any) -> int:
    body, headers = signed(event_callback(event), **sign)
    request = urllib.request.Request(f"http://127.0.0.1:{site.web_port}/slack/events", data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def posts(db_url: str) -> list[Post]:
    engine = create_engine(db_url, poolclass=NullPool)
    try:
        with Session(engine) as session:
            found = list(session.scalars(select(Post).order_by(Post.id)))
            for post in found:
                post.attachments  # noqa: B018 - loaded while the session is open
            return found
    finally:
        engine.dispose()


def mapped_refs(db_url: str) -> list[str]:
    engine = create_engine(db_url, poolclass=NullPool)
    try:
        with Session(engine) as session:
            return list(session.scalars(select(ChatMessage.message_ref)))
    finally:
        engine.dispose()


def wait_until(check: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := check()):
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)
    return result


def test_threads_go_both_ways_without_echoes(served: ServedSite, slack: FakeSlack, smtp_sink: SmtpSink,
                                             db_url: str) -> None:
    # A thread started by mail becomes a top-level Slack message under its author's name.
    served.send("alice@council.example", ["housing@lists.example.org"],
                mail("alice@council.example", "Damp in flats", "Line one\nLine two", "<t1@council.example>"))
    top = slack.wait_for("chat.postMessage", 1)[0].params
    assert top["channel"] == CHANNEL and "thread_ts" not in top
    assert top["username"] == "Alice Example"
    assert "*Damp in flats*" in top["text"] and "Line one\nLine two" in top["text"]
    assert f"http://127.0.0.1:{served.web_port}/c/housing/t/" in top["text"]
    root_ts = next(ts for (_, ts), m in slack.messages.items() if m["text"] == top["text"])
    smtp_sink.wait_for(1)  # bob's copy
    wait_until(lambda: root_ts in mapped_refs(db_url))  # a person answers after the bridge recorded its post

    # A reply in the Slack thread becomes a forum reply, mailed with the right In-Reply-To.
    assert post_event(served, {"type": "message", "channel": CHANNEL, "user": "U1", "text": "Try a &lt;dehumidifier&gt;",
                               "ts": "1700000001.000100", "thread_ts": root_ts}) == 200
    copy = smtp_sink.wait_for(2)[1].message
    assert copy["In-Reply-To"] == "<t1@council.example>"
    # …and is not copied back into Slack, nor is the bot's own message (or its edit) taken in.
    for event in ({"type": "message", "subtype": "bot_message", "channel": CHANNEL, "bot_id": BOT_ID,
                   "text": "echo", "ts": root_ts},
                  {"type": "message", "subtype": "message_changed", "channel": CHANNEL, "hidden": True,
                   "ts": "1700000002.000001",
                   "message": {"type": "message", "bot_id": BOT_ID, "user": BOT_USER, "text": "edited by us",
                               "ts": root_ts}}):
        assert post_event(served, event) == 200

    # A mailed reply goes into the Slack thread under its author's name.
    served.send("bob@council.example", ["housing@lists.example.org"],
                mail("bob@council.example", "Re: Damp in flats", "Open the windows", "<t2@council.example>",
                     in_reply_to="<t1@council.example>"))
    reply = slack.wait_for("chat.postMessage", 2)[1].params
    assert reply["thread_ts"] == root_ts and reply["username"] == "Bob Example"
    time.sleep(0.5)
    assert len(slack.posted()) == 2, "the Slack reply must not be echoed back to Slack"
    assert [p.body.strip() for p in posts(db_url)] == ["Line one\nLine two", "Try a <dehumidifier>", "Open the windows"]

    # A top-level Slack message starts a forum thread; its first line is the subject.
    assert post_event(served, {"type": "message", "channel": CHANNEL, "user": "U1",
                               "text": "Rent rises\nAnyone else?", "ts": "1700000003.000100"}) == 200
    new = wait_until(lambda: [m for m in smtp_sink.messages if "Rent rises" in str(m.message["Subject"])])
    assert new[0].message["In-Reply-To"] is None


def test_edits_deletions_files_and_strangers(served: ServedSite, slack: FakeSlack, smtp_sink: SmtpSink,
                                             db_url: str) -> None:
    url = slack.add_file("plan.txt", b"the plan")
    event = {"type": "message", "subtype": "file_share", "channel": CHANNEL, "user": "U1", "text": "See the plan",
             "ts": "1700000010.000100",
             "files": [{"id": "F1", "name": "plan.txt", "mimetype": "text/plain", "size": 8,
                        "url_private_download": url}]}
    assert post_event(served, event) == 200
    assert post_event(served, event) == 200  # Slack retries: the same message is stored once
    [post] = wait_until(lambda: posts(db_url))
    assert [(a.filename, a.size) for a in post.attachments] == [("plan.txt", 8)]

    assert post_event(served, {"type": "message", "subtype": "message_changed", "channel": CHANNEL, "hidden": True,
                               "ts": "1700000011.000001",
                               "message": {"type": "message", "user": "U1", "text": "See the new plan",
                                           "ts": "1700000010.000100"}}) == 200
    assert wait_until(lambda: posts(db_url)[0].body == "See the new plan")
    assert post_event(served, {"type": "message", "subtype": "message_deleted", "channel": CHANNEL, "hidden": True,
                               "ts": "1700000012.000001", "deleted_ts": "1700000010.000100"}) == 200
    assert wait_until(lambda: posts(db_url)[0].status is PostStatus.deleted)

    # Someone who is not a member of a members-only community is not posted.
    assert post_event(served, {"type": "message", "channel": CHANNEL, "user": "U9", "text": "spam",
                               "ts": "1700000013.000100"}) == 200
    time.sleep(0.3)
    assert len(posts(db_url)) == 1
    assert slack.posted() == [], "messages from Slack are never copied back into Slack"


def test_requests_without_a_valid_recent_signature_are_refused(served: ServedSite, db_url: str) -> None:
    event = {"type": "message", "channel": CHANNEL, "user": "U1", "text": "forged", "ts": "1700000020.000100"}
    assert post_event(served, event, secret="wrong-secret") == 401
    assert post_event(served, event, at=time.time() - 6 * 60) == 401  # outside the 5-minute window
    assert posts(db_url) == []


def test_rate_limit_is_honoured(served: ServedSite, slack: FakeSlack) -> None:
    slack.limit("chat.postMessage", retry_after=1)
    served.send("alice@council.example", ["housing@lists.example.org"],
                mail("alice@council.example", "Hello", "Hi all", "<r1@council.example>"))
    first, second = slack.wait_for("chat.postMessage", 2)
    assert second.at - first.at >= 0.95, "the retry must wait for Retry-After"
    assert "*Hello*" in second.params["text"]
