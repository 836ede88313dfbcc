"""Matrix both ways against a real Synapse homeserver on loopback (``tests/matrix_synapse.py``).

Email in → a message in the room, replies in its Matrix thread; a reply in the Matrix
thread → email to the members with the right ``In-Reply-To``; edits and redactions follow;
files go both ways through Synapse's media repository; a message the community's policy
holds is answered in the room; with the application service registration that
``listbridge bridge matrix-registration`` prints loaded into Synapse, authors post as
puppet users of their own (that test also links a channel of the fake Slack of
``tests/fake_slack.py``, whose author's edit and deletion the puppet must make).
Synapse's virtualenv is cached; without it the test builds it
in CI and is skipped, with the command that builds it, elsewhere.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from forum import editing
from forum.models import Post, PostStatus
from tests import matrix_synapse
from tests.fake_slack import BOT_TOKEN, CHANNEL, SIGNING_SECRET, FakeSlack, event_callback, signed
from tests.integration.chat_site import LIST, chat_site, mail, posts, wait_until
from tests.integration.served import ServedSite
from tests.matrix_synapse import Account, Synapse
from tests.support import IN_CI, SmtpSink, unavailable

pytestmark = pytest.mark.integration
FILE_LIMIT = 20_000  # the site's message size limit in these tests, so "too large" is cheap to reach
PUPPETS = """
appservice_token = "as-token-for-tests"
hs_token = "hs-token-for-tests"
user_prefix = "lb_"
"""


@pytest.fixture(scope="module")
def synapse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synapse]:
    venv = matrix_synapse.synapse_venv(may_build=IN_CI)
    if venv is None:
        unavailable(
            f"no Synapse virtualenv at {matrix_synapse.VENV}: build it once with "
            "'python -m tests.matrix_synapse build' (about 90 s)"
        )
    directory = tmp_path_factory.mktemp("synapse")
    config = directory / "listbridge.toml"
    config.write_text(
        f'[site]\nmail_domain = "lists.example.org"\nsecret_key = "0123456789abcdef0123"\n'
        f'[matrix]\nuser_id = "@listbridge:localhost"\n{PUPPETS}'
    )
    printed = subprocess.run(
        [sys.executable, "-m", "listbridge", "--config", str(config), "bridge", "matrix-registration"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    registration = directory / "listbridge-registration.yaml"
    registration.write_text(printed)
    with Synapse(venv, directory / "server", app_services=(registration,)) as server:
        yield server


def q(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def say(synapse: Synapse, who: Account, room: str, content: dict[str, Any]) -> str:
    reply = synapse.call(
        "PUT", f"/_matrix/client/v3/rooms/{q(room)}/send/m.room.message/{uuid.uuid4().hex}", who.access_token, content
    )
    return str(reply["event_id"])


def room_messages(synapse: Synapse, who: Account, room: str) -> list[dict[str, Any]]:
    reply = synapse.call("GET", f"/_matrix/client/v3/rooms/{q(room)}/messages?dir=b&limit=100", who.access_token)
    return [e for e in reversed(reply["chunk"]) if e["type"] == "m.room.message"]


def upload(synapse: Synapse, who: Account, filename: str, content_type: str, data: bytes) -> str:
    request = urllib.request.Request(
        f"{synapse.url}/_matrix/media/v3/upload?filename={q(filename)}",
        data=data,
        headers={"Content-Type": content_type, "Authorization": f"Bearer {who.access_token}"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return str(json.loads(response.read())["content_uri"])


def download(synapse: Synapse, who: Account, mxc: str) -> bytes:
    request = urllib.request.Request(
        f"{synapse.url}/_matrix/client/v1/media/download/{mxc.removeprefix('mxc://')}",
        headers={"Authorization": f"Bearer {who.access_token}"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return bytes(response.read())


def new_room(synapse: Synapse, owner: Account, relay: Account) -> str:
    room = str(
        synapse.call(
            "POST", "/_matrix/client/v3/createRoom", owner.access_token, {"name": "Housing", "invite": [relay.user_id]}
        )["room_id"]
    )
    synapse.call("POST", f"/_matrix/client/v3/join/{q(room)}", relay.access_token, {})
    return room


def in_thread(root: str) -> dict[str, Any]:
    return {"m.relates_to": {"rel_type": "m.thread", "event_id": root}}


def test_room_threads_files_edits_and_redactions(
    synapse: Synapse, tmp_path: Path, db_url: str, smtp_sink: SmtpSink
) -> None:
    relay, ana = synapse.register(f"relay{uuid.uuid4().hex[:6]}"), synapse.register(f"ana{uuid.uuid4().hex[:6]}")
    room = new_room(synapse, ana, relay)
    # Matrix does not reveal its users' addresses: an open community takes their posts.
    site = chat_site(
        tmp_path,
        db_url,
        smtp_sink.port,
        policy="open",
        members=("bob@council.example",),
        platform="matrix",
        channel=room,
        max_message_bytes=FILE_LIMIT,
        settings=f"""
[matrix]
homeserver = "{synapse.url}"
user_id = "{relay.user_id}"
access_token = "{relay.access_token}"
""",
    )
    try:
        # Email in → a top-level message in the room naming the author.
        site.send(
            "bob@council.example",
            [LIST],
            mail("bob@council.example", "Damp in flats", "Any advice?", "<m1@council.example>"),
        )
        root = wait_until(lambda: [e for e in room_messages(synapse, ana, room) if e["sender"] == relay.user_id])[0]
        assert "Damp in flats" in root["content"]["body"] and "Bob Example: Any advice?" in root["content"]["body"]

        # A reply in the Matrix thread → mail to the members, answering the first post.
        reply_id = say(synapse, ana, room, {"msgtype": "m.text", "body": "Open a window"} | in_thread(root["event_id"]))
        copy = smtp_sink.wait_for(1, timeout=15)[0]
        assert copy.rcpt_tos == ["bob@council.example"]
        assert copy.message["In-Reply-To"] == "<m1@council.example>"

        # A mailed reply with a file goes into the Matrix thread: the text, then the file,
        # uploaded to the homeserver. The Matrix reply was not echoed back.
        site.send(
            "bob@council.example",
            [LIST],
            mail(
                "bob@council.example",
                "Re: Damp in flats",
                "Thanks! Photo attached.",
                "<m2@council.example>",
                in_reply_to="<m1@council.example>",
                attachment=("mould.png", "image/png", b"\x89PNG mould"),
            ),
        )
        ours = wait_until(
            lambda: [
                e
                for e in room_messages(synapse, ana, room)
                if e["sender"] == relay.user_id and e["content"].get("msgtype") == "m.image"
            ]
        )
        text = [e for e in room_messages(synapse, ana, room) if "Thanks!" in e["content"]["body"]]
        assert [e["content"]["m.relates_to"]["event_id"] for e in text + ours] == [root["event_id"]] * 2
        assert all(e["content"]["m.relates_to"]["rel_type"] == "m.thread" for e in text + ours)
        image = ours[0]["content"]
        assert (image["body"], image["info"]["mimetype"]) == ("mould.png", "image/png")
        assert download(synapse, ana, image["url"]) == b"\x89PNG mould"
        assert len([e for e in room_messages(synapse, ana, room) if e["sender"] == relay.user_id]) == 3

        # That post deleted in the forum: its text and its file are redacted in the room.
        delete_post(db_url, "<m2@council.example>")
        for event_id in (text[0]["event_id"], ours[0]["event_id"]):
            # wait_until calls it at once, in this iteration: the loop variable is the one meant.
            wait_until(
                lambda: (
                    synapse.call(
                        "GET",
                        f"/_matrix/client/v3/rooms/{q(room)}/event/{q(event_id)}",  # noqa: B023
                        ana.access_token,
                    )["content"]
                    == {}
                )
            )

        # A file shared in the thread becomes an attachment, mailed to the members; one over
        # the site's limit becomes a note saying so.
        say(
            synapse,
            ana,
            room,
            {
                "msgtype": "m.file",
                "body": "Landlord letter",
                "filename": "letter.txt",
                "url": upload(synapse, ana, "letter.txt", "text/plain", b"Dear tenant"),
                "info": {"mimetype": "text/plain", "size": 11},
            }
            | in_thread(root["event_id"]),
        )
        say(
            synapse,
            ana,
            room,
            {
                "msgtype": "m.video",
                "body": "walkthrough.mp4",  # no size given: counted
                "url": upload(synapse, ana, "walkthrough.mp4", "video/mp4", b"v" * (FILE_LIMIT + 1)),
            }
            | in_thread(root["event_id"]),
        )
        letter = smtp_sink.wait_for(2, timeout=15)[1].message
        assert [(p.get_filename(), p.get_content()) for p in letter.iter_attachments()] == [
            ("letter.txt", "Dear tenant")
        ]
        assert "Landlord letter" in letter.get_body(("plain",)).get_content()
        video = wait_until(lambda: [p for p in posts(db_url) if "walkthrough.mp4" in p.body])[0]
        assert video.attachments == []
        assert '"walkthrough.mp4" was not kept: files larger than 20 kB are not accepted' in video.body

        # An edit and a redaction in Matrix follow to the forum.
        say(
            synapse,
            ana,
            room,
            {
                "msgtype": "m.text",
                "body": "* Open two windows",
                "m.new_content": {"msgtype": "m.text", "body": "Open two windows"},
                "m.relates_to": {"rel_type": "m.replace", "event_id": reply_id},
            },
        )
        wait_until(lambda: any(p.body == "Open two windows" for p in posts(db_url)))
        synapse.call(
            "PUT", f"/_matrix/client/v3/rooms/{q(room)}/redact/{q(reply_id)}/{uuid.uuid4().hex}", ana.access_token, {}
        )
        wait_until(lambda: sum(p.status is PostStatus.deleted for p in posts(db_url)) == 2)
        assert len(posts(db_url)) == 5

        # In a moderated community, a message from the room waits for a moderator, and the
        # relay account says so in the message's thread, once.
        board = new_room(synapse, ana, relay)
        site.cli("community", "create", "board", "--name", "Tenants Board", "--policy", "moderated")
        site.cli("bridge", "link", "board", "matrix", board)
        held_root = say(synapse, ana, board, {"msgtype": "m.text", "body": "Meeting moved"})
        say(synapse, ana, board, {"msgtype": "m.text", "body": "To Thursday"} | in_thread(held_root))

        def notices() -> list[dict[str, Any]]:
            found = [e for e in room_messages(synapse, ana, board) if e["content"].get("msgtype") == "m.notice"]
            return found if len(found) >= 2 else []

        told = wait_until(notices)
        assert [e["content"]["m.relates_to"].get("rel_type") for e in told] == [None, "m.thread"]
        for notice in told:  # one for each message
            assert notice["sender"] == relay.user_id
            assert notice["content"]["m.relates_to"]["m.in_reply_to"] == {"event_id": held_root}
            assert notice["content"]["body"].startswith(
                f"{ana.user_id}: Your message to Tenants Board is waiting for a moderator"
            )
        assert len([p for p in posts(db_url) if p.status is PostStatus.held]) == 2
    finally:
        site.stop()


def delete_post(db_url: str, message_id: str) -> None:
    """What a facilitator's "delete" does, committed by another process as the web app would."""
    engine = create_engine(db_url, poolclass=NullPool)
    try:
        with Session(engine) as session, session.begin():
            post = session.scalars(select(Post).where(Post.message_id == message_id.strip("<>"))).one()
            editing.delete_post(session, post)
    finally:
        engine.dispose()


def post_slack_event(site: ServedSite, event: dict[str, Any]) -> None:
    body, headers = signed(event_callback(event))
    request = urllib.request.Request(f"http://127.0.0.1:{site.web_port}/slack/events", data=body, headers=headers)
    urllib.request.urlopen(request, timeout=10).close()


def test_authors_post_as_puppets(synapse: Synapse, tmp_path: Path, db_url: str, smtp_sink: SmtpSink) -> None:
    relay, ana = synapse.register(f"relay{uuid.uuid4().hex[:6]}"), synapse.register(f"ana{uuid.uuid4().hex[:6]}")
    room = new_room(synapse, ana, relay)
    with FakeSlack() as slack:
        slack.add_user("U1", "Alice Example", "alice@council.example")
        site = chat_site(
            tmp_path,
            db_url,
            smtp_sink.port,
            policy="open",
            members=("bob@council.example", "alice@council.example"),
            platform="matrix",
            channel=room,
            settings=f"""
[matrix]
homeserver = "{synapse.url}"
user_id = "{relay.user_id}"
access_token = "{relay.access_token}"
{PUPPETS}
[slack]
bot_token = "{BOT_TOKEN}"
signing_secret = "{SIGNING_SECRET}"
api_base_url = "{slack.api_url}"
""",
        )
        try:
            check_puppets(synapse, site, relay, ana, room, slack, db_url, smtp_sink)
        finally:
            site.stop()


def check_puppets(
    synapse: Synapse,
    site: ServedSite,
    relay: Account,
    ana: Account,
    room: str,
    slack: FakeSlack,
    db_url: str,
    smtp_sink: SmtpSink,
) -> None:
    bob, alice = "@lb_bob=40council.example:localhost", "@lb_alice=40council.example:localhost"
    # A mailed thread appears in the room from Bob's own Matrix user, under his name.
    site.send(
        "bob@council.example",
        [LIST],
        mail("bob@council.example", "Damp in flats", "Any advice?", "<p1@council.example>"),
    )
    root = wait_until(lambda: [e for e in room_messages(synapse, ana, room) if e["sender"] == bob])[0]
    assert root["content"]["body"].startswith("Damp in flats\nAny advice?\n"), "no name prefix: the sender is Bob"
    member = synapse.call("GET", f"/_matrix/client/v3/rooms/{q(room)}/state/m.room.member/{q(bob)}", ana.access_token)
    assert (member["membership"], member["displayname"]) == ("join", "Bob Example")

    # Replies from Matrix still reach the members; the puppet's own messages never come back.
    say(synapse, ana, room, {"msgtype": "m.text", "body": "Open a window"} | in_thread(root["event_id"]))
    replies = smtp_sink.wait_for(3, timeout=15)[1:]  # the first is Alice's copy of Bob's thread
    assert sorted(r.rcpt_tos[0] for r in replies) == ["alice@council.example", "bob@council.example"]
    assert {r.message["In-Reply-To"] for r in replies} == {"<p1@council.example>"}
    site.send(
        "bob@council.example",
        [LIST],
        mail(
            "bob@council.example",
            "Re: Damp in flats",
            "Thanks!",
            "<p2@council.example>",
            in_reply_to="<p1@council.example>",
        ),
    )
    thanks = wait_until(
        lambda: [
            e for e in room_messages(synapse, ana, room) if e["sender"] == bob and e["content"]["body"] == "Thanks!"
        ]
    )
    assert thanks[0]["content"]["m.relates_to"]["event_id"] == root["event_id"]

    # A Slack message is posted in the room by its author's puppet, and her edit and her
    # deletion in Slack are made by that puppet too (Matrix honours an edit only from the
    # message's sender).
    site.cli("bridge", "link", "housing", "slack", CHANNEL)
    post_slack_event(
        site, {"type": "message", "channel": CHANNEL, "user": "U1", "text": "Heating off", "ts": "1700000200.000100"}
    )
    heating = wait_until(lambda: [e for e in room_messages(synapse, ana, room) if e["sender"] == alice])[0]
    post_slack_event(
        site,
        {
            "type": "message",
            "subtype": "message_changed",
            "channel": CHANNEL,
            "hidden": True,
            "ts": "1700000201.000001",
            "message": {"type": "message", "user": "U1", "text": "Heating off since Monday", "ts": "1700000200.000100"},
        },
    )
    edit = wait_until(
        lambda: [
            e
            for e in room_messages(synapse, ana, room)
            if e["content"].get("m.relates_to", {}).get("rel_type") == "m.replace"
        ]
    )[0]
    assert edit["sender"] == alice and "Heating off since Monday" in edit["content"]["m.new_content"]["body"]
    post_slack_event(
        site,
        {
            "type": "message",
            "subtype": "message_deleted",
            "channel": CHANNEL,
            "hidden": True,
            "ts": "1700000202.000001",
            "deleted_ts": "1700000200.000100",
        },
    )
    gone = wait_until(
        lambda: (
            synapse.call("GET", f"/_matrix/client/v3/rooms/{q(room)}/event/{q(heating['event_id'])}", ana.access_token)
            .get("unsigned", {})
            .get("redacted_because")
        )
    )
    assert gone["sender"] == alice

    time.sleep(1)  # a sync round trip: an echo of any puppet message would be a post by now
    assert len(posts(db_url)) == 4
    assert not [e for e in room_messages(synapse, ana, room) if e["sender"] == relay.user_id]
