"""Matrix, over the plain Client-Server API (a few JSON calls need no client library).

One relay account posts for everyone and names the author in each message ("**Ana**:
…"); puppet users through an application service would show each author as themselves,
and are left for later. Forum threads are Matrix threads (``m.thread`` relations on the
thread's first message), edits are ``m.replace`` events and deletions redactions.

Inbound, a long-polling ``/sync`` loop reads the linked rooms. Homeservers may send an
event twice: events are known by id (``forum.chat``), so a repeat changes nothing. The
sync position is stored with the links, so messages sent while the bridge was stopped
are read when it starts; a room linked for the first time is read from that moment on.
Matrix does not tell a bot its users' email addresses, so Matrix authors post as
non-members: the community's posting policy decides (open communities take them, moderated
ones hold them).
"""

from __future__ import annotations

import html
import json
import logging
import threading
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from bridges.base import ChatPost, PermanentFailure, RateLimited, TemporaryFailure
from bridges.inbound import (
    ChatAuthor,
    ChatEvent,
    receive_deletion,
    receive_edit,
    receive_message,
)
from forum import chat
from forum.config import MatrixSettings
from forum.site import Site

log = logging.getLogger(__name__)
PLATFORM = "matrix"
SYNC_TIMEOUT_MS = 5000  # a stop request waits at most this long
FRESH_START = {"room": {"timeline": {"limit": 0}}}  # a first sync skips the rooms' history


class MatrixApi:
    def __init__(self, settings: MatrixSettings) -> None:
        self.base = settings.homeserver.rstrip("/") + "/_matrix/client/v3"
        self.user_id = settings.user_id
        self.token = settings.access_token

    def call(self, method: str, path: str, body: dict[str, Any] | None = None,
             query: dict[str, str] | None = None, timeout: float = 30) -> dict[str, Any]:
        url = self.base + path + (f"?{urllib.parse.urlencode(query)}" if query else "")
        request = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body is not None else None,
                                         headers={"Authorization": f"Bearer {self.token}",
                                                  "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return dict(json.loads(response.read() or b"{}"))
        except urllib.error.HTTPError as exc:
            detail = _json(exc.read())
            if exc.code == 429:
                raise RateLimited(float(detail.get("retry_after_ms", 1000)) / 1000) from exc
            if exc.code >= 500:
                raise TemporaryFailure(f"{method} {path}: HTTP {exc.code}") from exc
            raise PermanentFailure(f"{method} {path}: {detail.get('errcode', exc.code)} {detail.get('error', '')}") from exc
        except OSError as exc:
            raise TemporaryFailure(f"{method} {path}: {exc}") from exc

    def send(self, room: str, event_type: str, content: dict[str, Any]) -> str:
        path = f"/rooms/{_q(room)}/send/{event_type}/{uuid.uuid4().hex}"
        return str(self.call("PUT", path, content)["event_id"])


class MatrixAdapter:
    """The outbound half, as a relay account."""

    platform = PLATFORM

    def __init__(self, api: MatrixApi) -> None:
        self.api = api

    def start_thread(self, channel: str, post: ChatPost) -> str:
        return self.api.send(channel, "m.room.message", _content(post))

    def reply(self, channel: str, root_ref: str, post: ChatPost) -> str:
        content = _content(post) | {"m.relates_to": {
            "rel_type": "m.thread", "event_id": root_ref,
            "is_falling_back": True, "m.in_reply_to": {"event_id": root_ref},  # for clients without threads
        }}
        return self.api.send(channel, "m.room.message", content)

    def edit(self, channel: str, ref: str, post: ChatPost) -> None:
        new = _content(post)
        self.api.send(channel, "m.room.message", {
            "msgtype": "m.text", "body": f"* {new['body']}", "m.new_content": new,
            "m.relates_to": {"rel_type": "m.replace", "event_id": ref},
        })

    def delete(self, channel: str, ref: str) -> None:
        self.api.call("PUT", f"/rooms/{_q(channel)}/redact/{_q(ref)}/{uuid.uuid4().hex}", {})


def _content(post: ChatPost) -> dict[str, Any]:
    author, body = post.author, post.body
    if post.starts_thread:
        text = f"{post.subject}\n{author}: {body}\n{post.archive_url}"
        formatted = (f"<b>{_h(post.subject)}</b><br><b>{_h(author)}</b>: {_h(body)}<br>"
                     f'<a href="{_h(post.archive_url)}">View in the archive</a>')
    else:
        text = f"{author}: {body}"
        formatted = f"<b>{_h(author)}</b>: {_h(body)}"
    return {"msgtype": "m.text", "body": text, "format": "org.matrix.custom.html", "formatted_body": formatted}


class MatrixSync:
    """The inbound half: ``/sync`` → the forum, until stopped."""

    def __init__(self, api: MatrixApi, site: Site, sessions: sessionmaker[Session],
                 on_committed: Callable[[], None]) -> None:
        self.api = api
        self.site = site
        self.sessions = sessions
        self.on_committed = on_committed

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.step()
            except (TemporaryFailure, PermanentFailure, RateLimited) as exc:
                log.warning("matrix sync failed: %s", exc)
                stop.wait(getattr(exc, "retry_after", 5.0))
            except Exception:  # a bug in one batch must not end the bridge
                log.exception("matrix sync failed")
                stop.wait(5.0)

    def step(self) -> None:
        with self.sessions() as session:
            links = chat.platform_links(session, PLATFORM)
            rooms = {link.channel for link in links}
            since = next((link.cursor for link in links if link.cursor), None)
        query = {"timeout": str(SYNC_TIMEOUT_MS)} | ({"since": since} if since else {"filter": json.dumps(FRESH_START)})
        reply = self.api.call("GET", "/sync", query=query, timeout=SYNC_TIMEOUT_MS / 1000 + 30)
        changed = False
        for room, joined in reply.get("rooms", {}).get("join", {}).items():
            if room in rooms:
                for event in joined.get("timeline", {}).get("events", []):
                    changed |= self._receive(room, event)
        with self.sessions.begin() as session:
            for link in chat.platform_links(session, PLATFORM):
                link.cursor = reply["next_batch"]
        if changed:
            self.on_committed()

    def _receive(self, room: str, event: dict[str, Any]) -> bool:
        if event.get("sender") == self.api.user_id or "event_id" not in event:
            return False  # the relay account's own messages: ours, never bridged back
        content = event.get("content", {})
        with self.sessions.begin() as session:
            if event.get("type") == "m.room.redaction":
                return receive_deletion(session, PLATFORM, room, event.get("redacts") or content.get("redacts", ""))
            if event.get("type") != "m.room.message" or "body" not in content:
                return False
            relation = content.get("m.relates_to", {})
            if relation.get("rel_type") == "m.replace":
                return receive_edit(session, PLATFORM, room, relation.get("event_id", ""),
                                    content.get("m.new_content", {}).get("body", ""))
            thread = relation.get("event_id") if relation.get("rel_type") == "m.thread" else None
            sender = event["sender"]
            chat_event = ChatEvent(platform=PLATFORM, channel=room, ref=event["event_id"],
                                   author=ChatAuthor(name=sender.split(":")[0].lstrip("@")), text=content["body"],
                                   root_ref=thread)
            return receive_message(session, self.site, chat_event) is not None


def _q(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def _h(text: str) -> str:
    return html.escape(text).replace("\n", "<br>")


def _json(data: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(data)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}
