"""Matrix both ways against a real Synapse homeserver on loopback (``tests/matrix_synapse.py``).

Email in → a message in the room, replies in its Matrix thread; a reply in the Matrix
thread → email to the members with the right ``In-Reply-To``; edits and redactions follow.
Synapse's virtualenv is cached; without it the test builds it in CI and is skipped, with
the command that builds it, elsewhere.
"""

from __future__ import annotations

import time
import urllib.parse
import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from forum.models import Post, PostStatus
from tests import matrix_synapse
from tests.integration.served import ServedSite
from tests.matrix_synapse import Account, Synapse
from tests.support import IN_CI, SmtpSink, unavailable

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def synapse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synapse]:
    venv = matrix_synapse.synapse_venv(may_build=IN_CI)
    if venv is None:
        unavailable(f"no Synapse virtualenv at {matrix_synapse.VENV}: build it once with "
                    "'python -m tests.matrix_synapse build' (about 90 s)")
    with Synapse(venv, tmp_path_factory.mktemp("synapse")) as server:
        yield server


def q(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def say(synapse: Synapse, who: Account, room: str, content: dict[str, Any]) -> str:
    reply = synapse.call("PUT", f"/_matrix/client/v3/rooms/{q(room)}/send/m.room.message/{uuid.uuid4().hex}",
                         who.access_token, content)
    return str(reply["event_id"])


def room_messages(synapse: Synapse, who: Account, room: str) -> list[dict[str, Any]]:
    reply = synapse.call("GET", f"/_matrix/client/v3/rooms/{q(room)}/messages?dir=b&limit=100", who.access_token)
    return [e for e in reversed(reply["chunk"]) if e["type"] == "m.room.message"]


def wait_for(check: Any, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := check()):
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.1)
    return result


def posts(db_url: str) -> list[Post]:
    engine = create_engine(db_url, poolclass=NullPool)
    try:
        with Session(engine) as session:
            return list(session.scalars(select(Post).order_by(Post.id)))
    finally:
        engine.dispose()


def mail(sender: str, subject: str, body: str, message_id: str, in_reply_to: str | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"], msg["Message-ID"] = sender, "housing@lists.example.org", subject, message_id
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    msg.set_content(body)
    return msg.as_bytes()


def test_room_threads_edits_and_redactions(synapse: Synapse, tmp_path: Path, db_url: str,
                                           smtp_sink: SmtpSink) -> None:
    relay, ana = synapse.register(f"relay{uuid.uuid4().hex[:6]}"), synapse.register(f"ana{uuid.uuid4().hex[:6]}")
    room = synapse.call("POST", "/_matrix/client/v3/createRoom", ana.access_token,
                        {"name": "Housing", "invite": [relay.user_id]})["room_id"]
    synapse.call("POST", f"/_matrix/client/v3/join/{q(room)}", relay.access_token, {})
    site = ServedSite(tmp_path, db_url, smtp_sink.port, extra=f"""
[matrix]
homeserver = "{synapse.url}"
user_id = "{relay.user_id}"
access_token = "{relay.access_token}"
""")
    site.cli("init")
    # Matrix does not reveal its users' addresses: an open community takes their posts.
    site.cli("community", "create", "housing", "--name", "Housing Advice", "--policy", "open")
    site.cli("member", "add", "housing", "bob@council.example", "--name", "Bob Example")
    site.cli("bridge", "link", "housing", "matrix", room)
    site.start()
    try:
        # Email in → a top-level message in the room naming the author.
        site.send("bob@council.example", ["housing@lists.example.org"],
                  mail("bob@council.example", "Damp in flats", "Any advice?", "<m1@council.example>"))
        root = wait_for(lambda: [e for e in room_messages(synapse, ana, room) if e["sender"] == relay.user_id])[0]
        assert "Damp in flats" in root["content"]["body"] and "Bob Example: Any advice?" in root["content"]["body"]

        # A reply in the Matrix thread → mail to the members, answering the first post.
        reply_id = say(synapse, ana, room, {"msgtype": "m.text", "body": "Open a window",
                                            "m.relates_to": {"rel_type": "m.thread", "event_id": root["event_id"]}})
        copy = smtp_sink.wait_for(1, timeout=15)[0]
        assert copy.rcpt_tos == ["bob@council.example"]
        assert copy.message["In-Reply-To"] == "<m1@council.example>"

        # A mailed reply goes into the Matrix thread; the Matrix reply was not echoed back.
        site.send("bob@council.example", ["housing@lists.example.org"],
                  mail("bob@council.example", "Re: Damp in flats", "Thanks!", "<m2@council.example>",
                       in_reply_to="<m1@council.example>"))
        ours = wait_for(lambda: [e for e in room_messages(synapse, ana, room)
                                 if e["sender"] == relay.user_id and "Thanks!" in e["content"]["body"]])
        assert ours[0]["content"]["m.relates_to"]["rel_type"] == "m.thread"
        assert ours[0]["content"]["m.relates_to"]["event_id"] == root["event_id"]
        assert len([e for e in room_messages(synapse, ana, room) if e["sender"] == relay.user_id]) == 2

        # An edit and a redaction in Matrix follow to the forum.
        say(synapse, ana, room, {"msgtype": "m.text", "body": "* Open two windows",
                                 "m.new_content": {"msgtype": "m.text", "body": "Open two windows"},
                                 "m.relates_to": {"rel_type": "m.replace", "event_id": reply_id}})
        wait_for(lambda: any(p.body == "Open two windows" for p in posts(db_url)))
        synapse.call("PUT", f"/_matrix/client/v3/rooms/{q(room)}/redact/{q(reply_id)}/{uuid.uuid4().hex}",
                     ana.access_token, {})
        wait_for(lambda: any(p.status is PostStatus.deleted for p in posts(db_url)))
        assert len(posts(db_url)) == 3
    finally:
        site.stop()
