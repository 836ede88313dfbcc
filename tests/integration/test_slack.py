"""Slack both ways through a real ``listbridge serve``: mail in → Web API calls out; Slack
events in → mail out, over the Events API (signed with the signing secret and POSTed to the
real ``/slack/events`` endpoint on the web port) and over Socket Mode (pushed through the
fake's websocket server). The Web API and the Socket Mode server are the local fake in
``tests/fake_slack.py``; its docstring lists what it covers.
"""

from __future__ import annotations

import hashlib
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from forum.blobs import BlobStore
from forum.models import PostStatus
from tests.fake_slack import (
    APP_TOKEN,
    BOT_ID,
    BOT_TOKEN,
    BOT_USER,
    CHANNEL,
    SIGNING_SECRET,
    FakeSlack,
    event_callback,
    signed,
)
from tests.integration.chat_site import LIST, chat_site, mail, mapped_refs, posts, wait_until
from tests.integration.served import ServedSite
from tests.support import SmtpSink

pytestmark = pytest.mark.integration
MEMBERS = ("alice@council.example", "bob@council.example")
OPERATOR = "ops@council.example"


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        fake.add_user("U1", "Alice Example", "alice@council.example")
        fake.add_user("U9", "Stranger", "stranger@elsewhere.example")
        yield fake


def slack_site(tmp_path: Path, db_url: str, smtp_sink: SmtpSink, slack: FakeSlack, how: str) -> ServedSite:
    """The chat site linked to the fake's channel; ``how``: the setting that says how Slack
    reaches it (a signing secret for the Events API, an app token for Socket Mode)."""
    return chat_site(
        tmp_path,
        db_url,
        smtp_sink.port,
        policy="members",
        members=MEMBERS,
        platform="slack",
        channel=CHANNEL,
        site_extra=f'operators = ["{OPERATOR}"]',
        settings=f"""
[slack]
bot_token = "{BOT_TOKEN}"
{how}
api_base_url = "{slack.api_url}"
""",
    )


@pytest.fixture
def served(tmp_path: Path, db_url: str, smtp_sink: SmtpSink, slack: FakeSlack) -> Iterator[ServedSite]:
    site = slack_site(tmp_path, db_url, smtp_sink, slack, f'signing_secret = "{SIGNING_SECRET}"')
    yield site
    site.stop()


def post_event(site: ServedSite, event: dict[str, Any], retry: int = 0, **sign: Any) -> int:
    """POST an event as Slack does; ``retry``: which redelivery this is (Slack numbers them in headers)."""
    body, headers = signed(event_callback(event), **sign)
    if retry:
        headers |= {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
    request = urllib.request.Request(f"http://127.0.0.1:{site.web_port}/slack/events", data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_threads_go_both_ways_without_echoes(
    served: ServedSite, slack: FakeSlack, smtp_sink: SmtpSink, db_url: str
) -> None:
    # A thread started by mail becomes a top-level Slack message under its author's name.
    served.send(
        "alice@council.example",
        [LIST],
        mail("alice@council.example", "Damp in flats", "Line one\nLine two", "<t1@council.example>"),
    )
    top = slack.wait_for("chat.postMessage", 1)[0].params
    assert top["channel"] == CHANNEL and "thread_ts" not in top
    assert top["username"] == "Alice Example"
    assert "*Damp in flats*" in top["text"] and "Line one\nLine two" in top["text"]
    assert slack.shared == [], "a post without attachments shares no files"
    assert f"http://127.0.0.1:{served.web_port}/c/housing/t/" in top["text"]
    root_ts = next(ts for (_, ts), m in slack.messages.items() if m["text"] == top["text"])
    smtp_sink.wait_for(1)  # bob's copy
    wait_until(lambda: root_ts in mapped_refs(db_url))  # a person answers after the bridge recorded its post

    # A reply in the Slack thread becomes a forum reply, mailed with the right In-Reply-To.
    assert (
        post_event(
            served,
            {
                "type": "message",
                "channel": CHANNEL,
                "user": "U1",
                "text": "Try a &lt;dehumidifier&gt;",
                "ts": "1700000001.000100",
                "thread_ts": root_ts,
            },
        )
        == 200
    )
    copy = smtp_sink.wait_for(2)[1].message
    assert copy["In-Reply-To"] == "<t1@council.example>"
    # …and is not copied back into Slack, nor is the bot's own message (or its edit) taken in.
    for event in (
        {
            "type": "message",
            "subtype": "bot_message",
            "channel": CHANNEL,
            "bot_id": BOT_ID,
            "text": "echo",
            "ts": root_ts,
        },
        {
            "type": "message",
            "subtype": "message_changed",
            "channel": CHANNEL,
            "hidden": True,
            "ts": "1700000002.000001",
            "message": {"type": "message", "bot_id": BOT_ID, "user": BOT_USER, "text": "edited by us", "ts": root_ts},
        },
    ):
        assert post_event(served, event) == 200

    # A mailed reply goes into the Slack thread under its author's name.
    served.send(
        "bob@council.example",
        [LIST],
        mail(
            "bob@council.example",
            "Re: Damp in flats",
            "Open the windows",
            "<t2@council.example>",
            in_reply_to="<t1@council.example>",
        ),
    )
    reply = slack.wait_for("chat.postMessage", 2)[1].params
    assert reply["thread_ts"] == root_ts and reply["username"] == "Bob Example"
    time.sleep(0.5)
    assert len(slack.posted()) == 2, "the Slack reply must not be echoed back to Slack"
    assert [p.body.strip() for p in posts(db_url)] == ["Line one\nLine two", "Try a <dehumidifier>", "Open the windows"]

    # A top-level Slack message starts a forum thread; its first line is the subject.
    assert (
        post_event(
            served,
            {
                "type": "message",
                "channel": CHANNEL,
                "user": "U1",
                "text": "Rent rises\nAnyone else?",
                "ts": "1700000003.000100",
            },
        )
        == 200
    )
    new = wait_until(lambda: [m for m in smtp_sink.messages if "Rent rises" in str(m.message["Subject"])])
    assert new[0].message["In-Reply-To"] is None
    assert slack.posted("chat.postEphemeral") == [], "members and bots are never sent a notice"


def test_edits_deletions_files_and_strangers(
    served: ServedSite, slack: FakeSlack, smtp_sink: SmtpSink, db_url: str
) -> None:
    url = slack.add_file("plan.txt", b"the plan")
    event = {
        "type": "message",
        "subtype": "file_share",
        "channel": CHANNEL,
        "user": "U1",
        "text": "See the plan",
        "ts": "1700000010.000100",
        "files": [
            {"id": "F1", "name": "plan.txt", "mimetype": "text/plain", "size": 8, "url_private_download": url},
            {
                "id": "F2",
                "name": "survey.mov",
                "mimetype": "video/quicktime",
                "size": 30_000_000,
                "url_private_download": slack.add_file("survey.mov", b"too big to fetch"),
            },
        ],
    }
    assert post_event(served, event) == 200
    assert post_event(served, event, retry=1) == 200  # Slack retries: the same message is stored once
    [post] = wait_until(lambda: posts(db_url))
    assert [(a.filename, a.size) for a in post.attachments] == [("plan.txt", 8)]
    assert post.body.startswith("See the plan\n\n")
    assert '"survey.mov" (30.0 MB) was not kept' in post.body, "readers learn that a file was left out"

    assert (
        post_event(
            served,
            {
                "type": "message",
                "subtype": "message_changed",
                "channel": CHANNEL,
                "hidden": True,
                "ts": "1700000011.000001",
                "message": {"type": "message", "user": "U1", "text": "See the new plan", "ts": "1700000010.000100"},
            },
        )
        == 200
    )
    assert wait_until(lambda: posts(db_url)[0].body == "See the new plan")
    assert (
        post_event(
            served,
            {
                "type": "message",
                "subtype": "message_deleted",
                "channel": CHANNEL,
                "hidden": True,
                "ts": "1700000012.000001",
                "deleted_ts": "1700000010.000100",
            },
        )
        == 200
    )
    assert wait_until(lambda: posts(db_url)[0].status is PostStatus.deleted)

    # Someone who is not a member of a members-only community is not posted, and is told so
    # where only they see it — once, however often Slack redelivers the event.
    refused = {
        "type": "message",
        "channel": CHANNEL,
        "user": "U9",
        "text": "spam",
        "ts": "1700000013.000100",
        "thread_ts": "1700000010.000100",
    }
    assert post_event(served, refused) == 200
    [told] = slack.wait_for("chat.postEphemeral", 1)
    assert (told.params["channel"], told.params["user"], told.params["thread_ts"]) == (
        CHANNEL,
        "U9",
        "1700000010.000100",
    )
    assert "not posted to Housing Advice" in told.params["text"] and "only members may post" in told.params["text"]
    assert post_event(served, refused, retry=1) == 200
    time.sleep(0.3)
    assert len(posts(db_url)) == 1
    assert len(slack.posted("chat.postEphemeral")) == 1
    assert slack.posted() == [], "messages from Slack are never copied back into Slack"


def test_attachments_are_shared_in_the_thread(served: ServedSite, slack: FakeSlack) -> None:
    served.send(
        "alice@council.example",
        [LIST],
        mail(
            "alice@council.example",
            "Minutes",
            "Attached.",
            "<f1@council.example>",
            attachment=("minutes.pdf", "application/pdf", b"%PDF-1.4 minutes"),
        ),
    )
    [top] = slack.wait_for("chat.postMessage", 1)
    root_ts = next(ts for (_, ts), m in slack.messages.items() if m["text"] == top.params["text"])
    slack.wait(lambda: bool(slack.shared))
    assert [(f["channel"], f["thread_ts"], f["name"], f["data"]) for f in slack.shared] == [
        (CHANNEL, root_ts, "minutes.pdf", b"%PDF-1.4 minutes")
    ]


def test_requests_without_a_valid_recent_signature_are_refused(served: ServedSite, db_url: str) -> None:
    event = {"type": "message", "channel": CHANNEL, "user": "U1", "text": "forged", "ts": "1700000020.000100"}
    assert post_event(served, event, secret="wrong-secret") == 401
    assert post_event(served, event, at=time.time() - 6 * 60) == 401  # outside the 5-minute window
    assert posts(db_url) == []


def test_rate_limit_is_honoured(served: ServedSite, slack: FakeSlack) -> None:
    slack.limit("chat.postMessage", retry_after=1)
    served.send(
        "alice@council.example", [LIST], mail("alice@council.example", "Hello", "Hi all", "<r1@council.example>")
    )
    first, second = slack.wait_for("chat.postMessage", 2)
    assert second.at - first.at >= 0.95, "the retry must wait for Retry-After"
    assert "*Hello*" in second.params["text"]


def test_a_copy_whose_file_is_gone_fails_at_once_and_the_operators_are_told(
    served: ServedSite, slack: FakeSlack, smtp_sink: SmtpSink, db_url: str
) -> None:
    """An attachment's file gone from storage: retrying for three days, a traceback each
    time, would not bring it back. The copy fails at once without posting its text alone,
    one ERROR is logged, and one mail tells the operators."""
    minutes = b"%PDF-1.4 minutes of the housing forum"
    slack.limit("chat.postMessage", retry_after=1.5)  # the worker pauses: time to lose the file
    served.send(
        "alice@council.example",
        [LIST],
        mail(
            "alice@council.example",
            "Minutes",
            "Attached.",
            "<gone1@council.example>",
            attachment=("minutes.pdf", "application/pdf", minutes),
        ),
    )
    slack.wait_for("chat.postMessage", 1)
    smtp_sink.wait_for(1)  # bob's copy by mail went before the file was lost
    BlobStore(served.workdir / "storage" / "blobs").path_for(hashlib.sha256(minutes).hexdigest()).unlink()

    [notice] = [m for m in smtp_sink.wait_for(2, timeout=15) if m.rcpt_tos == [OPERATOR]]
    text = notice.message.get_content()
    assert "slack copy" in notice.message["Subject"] and "FileNotFoundError" in text
    time.sleep(1)  # long enough for a retry with the test site's backoff
    assert len(slack.posted()) == 1 and slack.shared == [], "no text without its file, nothing retried"
    errors = [line for line in served.log().splitlines() if " ERROR " in line]
    assert len(errors) == 1 and "FileNotFoundError" in errors[0]
    assert [m.rcpt_tos for m in smtp_sink.messages] == [["bob@council.example"], [OPERATOR]]


@pytest.fixture
def socket_served(tmp_path: Path, db_url: str, smtp_sink: SmtpSink, slack: FakeSlack) -> Iterator[ServedSite]:
    site = slack_site(tmp_path, db_url, smtp_sink, slack, f'app_token = "{APP_TOKEN}"')
    yield site
    site.stop()


def test_socket_mode_threads_acks_and_reconnects(
    socket_served: ServedSite, slack: FakeSlack, smtp_sink: SmtpSink
) -> None:
    slack.wait_connected(1)
    # A top-level message pushed over the socket starts a forum thread, mailed to the members.
    first = slack.push(
        {
            "type": "message",
            "channel": CHANNEL,
            "user": "U1",
            "text": "Boiler broken\nSince Monday",
            "ts": "1700000100.000100",
        }
    )
    slack.wait_acked(first)
    started = smtp_sink.wait_for(1)[0].message
    assert "Boiler broken" in str(started["Subject"])
    # A reply in its Slack thread is a reply in the forum.
    reply = slack.push(
        {
            "type": "message",
            "channel": CHANNEL,
            "user": "U1",
            "text": "Fixed now",
            "ts": "1700000101.000100",
            "thread_ts": "1700000100.000100",
        }
    )
    slack.wait_acked(reply)
    answered = smtp_sink.wait_for(2)[1].message
    assert answered["In-Reply-To"] == started["Message-ID"]

    # Slack asks for a fresh connection: the bridge opens one at once and goes on.
    slack.refresh()
    slack.wait_connected(2)
    refreshed = slack.push(
        {
            "type": "message",
            "channel": CHANNEL,
            "user": "U1",
            "text": "Still here",
            "ts": "1700000101.000200",
            "thread_ts": "1700000100.000100",
        }
    )
    slack.wait_acked(refreshed)
    smtp_sink.wait_for(3)
    # The connection drops: the bridge's monitor finds it closed and opens another.
    slack.drop()
    slack.wait_connected(3, timeout=30)
    assert len(slack.posted("apps.connections.open")) == 3
    later = slack.push(
        {
            "type": "message",
            "channel": CHANNEL,
            "user": "U1",
            "text": "Thanks all",
            "ts": "1700000102.000100",
            "thread_ts": "1700000100.000100",
        }
    )
    slack.wait_acked(later)
    assert "Thanks all" in smtp_sink.wait_for(4)[3].message.get_body(("plain",)).get_content()
    assert (
        post_event(
            socket_served, {"type": "message", "channel": CHANNEL, "user": "U1", "text": "x", "ts": "1700000103.000100"}
        )
        == 404
    ), "Socket Mode opens no events endpoint"
