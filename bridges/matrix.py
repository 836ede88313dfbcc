"""Matrix, over the plain Client-Server API (a few JSON calls need no client library).

One relay account posts for everyone and names the author in each message ("**Ana**:
…"), unless the bridge is registered as an application service: then each author posts
as a Matrix user of their own (:mod:`bridges.matrix_puppets`). Forum threads are Matrix
threads (``m.thread`` relations on the thread's first message), edits are ``m.replace``
events and deletions redactions.

Files travel both ways as files: a post's attachments are uploaded to the homeserver's
media repository and follow its text in the same thread as ``m.file``/``m.image``/…
events; a file shared in the room is downloaded (authenticated media, with the relay's
token) and becomes an attachment, or, above the site's size limit, a note in the post.
Each event the bridge sends for a post has a transaction id made from the post, so a
retry after a failure half-way repeats nothing (the homeserver answers a transaction id
it has seen recently with the event it already made).

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
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from bridges.base import NETWORK_ERRORS, ChatFile, ChatPost, PermanentFailure, RateLimited, TemporaryFailure
from bridges.inbound import (
    ChatAuthor,
    ChatEvent,
    Refused,
    author_notice,
    receive_deletion,
    receive_edit,
    receive_message,
    too_large_note,
    unfetched_note,
)
from bridges.matrix_puppets import Puppets
from bridges.platforms.matrix import MatrixSettings
from forum import chat
from forum.errors import describe
from forum.posting import AttachmentData
from forum.site import Site

log = logging.getLogger(__name__)
PLATFORM = "matrix"
SYNC_TIMEOUT_MS = 5000  # a stop request waits at most this long
FRESH_START = {"room": {"timeline": {"limit": 0}}}  # a first sync skips the rooms' history
FILE_MSGTYPES = {"m.file", "m.image", "m.audio", "m.video"}
# In a file event the bridge sends after a post's text: the text's event id, so deleting
# the post finds its files (Matrix has one relation per event, and that one is the thread).
FILE_OF = "org.listbridge.file_of"


# On urllib, not mautrix or matrix-nio (measured by bench/matrix_client.py; figures in
# bench/README.md): both are asyncio libraries, which the worker's threads would have to
# call through an event loop of their own, and so they cost more CPU per message sent, for
# no measurable gain in wall time (the homeserver's time dominates). Nor would they make
# this module shorter: the calls below would become coroutines run on that loop, mautrix
# drops a 429's retry_after_ms and reads a download whole (the size limit would stay ours),
# and the sorting of failures into temporary, rate-limited and final would stay ours too.
class MatrixApi:
    def __init__(self, settings: MatrixSettings) -> None:
        self.homeserver = settings.homeserver.rstrip("/")
        self.client = self.homeserver + "/_matrix/client"
        self.user_id = settings.user_id
        self.token = settings.access_token
        self.appservice_token = settings.appservice_token

    def call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        query: dict[str, str] | None = None,
        timeout: float = 30,
        as_user: str | None = None,
        version: str = "v3",
    ) -> dict[str, Any]:
        """One Client-Server API call, by the relay account or, with ``as_user``, by the
        application service acting as that user (``""``: as the service itself)."""
        data = json.dumps(body).encode() if body is not None else None
        token = self.token
        if as_user is not None:
            token, query = self.appservice_token, (query or {}) | ({"user_id": as_user} if as_user else {})
        return _json(
            self._request(
                method, f"{self.client}/{version}{path}", data, "application/json", query, timeout, token=token
            )
        )

    def send(
        self, room: str, event_type: str, content: dict[str, Any], txn: str = "", as_user: str | None = None
    ) -> str:
        """Send an event; a repeated ``txn`` returns the first event's id instead of a second event."""
        path = f"/rooms/{_q(room)}/send/{event_type}/{_q(txn or uuid.uuid4().hex)}"
        return str(self.call("PUT", path, content, as_user=as_user)["event_id"])

    def upload(self, file: ChatFile) -> str:
        """Put a file in the media repository; its ``mxc://`` URI."""
        reply = self._request(
            "POST",
            f"{self.homeserver}/_matrix/media/v3/upload",
            file.read(),
            file.content_type,
            {"filename": file.filename},
            120,
        )
        return str(_json(reply)["content_uri"])

    def download(self, mxc: str, limit: int) -> bytes | None:
        """A file of the media repository, by its ``mxc://`` URI; None when it is larger than ``limit``."""
        server_and_id = mxc.removeprefix("mxc://")
        data = self._request(
            "GET",
            f"{self.homeserver}/_matrix/client/v1/media/download/{server_and_id}",
            None,
            None,
            None,
            120,
            limit + 1,
        )
        return data if len(data) <= limit else None

    def _request(
        self,
        method: str,
        url: str,
        data: bytes | None,
        content_type: str | None,
        query: dict[str, str] | None,
        timeout: float,
        limit: int | None = None,
        token: str = "",
    ) -> bytes:
        path = urllib.parse.urlsplit(url).path
        request = urllib.request.Request(
            url + (f"?{urllib.parse.urlencode(query)}" if query else ""),
            method=method,
            data=data,
            headers={"Authorization": f"Bearer {token or self.token}"},
        )
        if content_type:
            request.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return bytes(response.read(limit))
        except urllib.error.HTTPError as exc:
            detail = _json(exc.read())
            if exc.code == 429:
                raise RateLimited(_retry_after(exc.headers.get("Retry-After", ""), detail)) from exc
            if exc.code >= 500:
                raise TemporaryFailure(f"{method} {path}: HTTP {exc.code}") from exc
            raise PermanentFailure(
                f"{method} {path}: {detail.get('errcode', exc.code)} {detail.get('error', '')}"
            ) from exc
        except NETWORK_ERRORS as exc:
            raise TemporaryFailure(f"{method} {path}: {describe(exc)}") from exc


class MatrixAdapter:
    """The outbound half: as the relay account naming each author, or as each author's puppet."""

    platform = PLATFORM

    def __init__(self, api: MatrixApi, puppets: Puppets | None = None) -> None:
        self.api = api
        self.puppets = puppets

    def start_thread(self, channel: str, post: ChatPost) -> str:
        return self._post(channel, None, post)

    def reply(self, channel: str, root_ref: str, post: ChatPost) -> str:
        return self._post(channel, root_ref, post)

    def _post(self, channel: str, root_ref: str | None, post: ChatPost) -> str:
        """The text, then the files in its thread; every file is uploaded first, so a failed
        upload leaves nothing half-sent in the room."""
        sender = self._sender(channel, post)
        uploaded = [self.api.upload(file) for file in post.files]
        content = _content(post, named=sender is None) | (_in_thread(root_ref) if root_ref else {})
        ref = self.api.send(channel, "m.room.message", content, _txn(post, "text"), as_user=sender)
        for number, (file, mxc) in enumerate(zip(post.files, uploaded, strict=True)):
            content = _file_content(file, mxc) | {FILE_OF: ref} | _in_thread(root_ref or ref)
            self.api.send(channel, "m.room.message", content, _txn(post, f"file{number}"), as_user=sender)
        return ref

    def edit(self, channel: str, ref: str, post: ChatPost) -> None:
        sender = self._sender(channel, post)  # an edit counts only from the message's own sender
        new = _content(post, named=sender is None)
        self.api.send(
            channel,
            "m.room.message",
            {
                "msgtype": "m.text",
                "body": f"* {new['body']}",
                "m.new_content": new,
                "m.relates_to": {"rel_type": "m.replace", "event_id": ref},
            },
            as_user=sender,
        )

    def delete(self, channel: str, ref: str) -> None:
        """Redact the post's text and the files sent after it."""
        event = self.api.call("GET", f"/rooms/{_q(channel)}/event/{_q(ref)}")
        sender = None
        if self.puppets is not None:  # a puppet removes its own message: the relay may lack the power to
            sender = event.get("sender") if self.puppets.owns(event.get("sender", "")) else None
        for file_ref in self._files_of(channel, ref, event):
            self.api.call("PUT", f"/rooms/{_q(channel)}/redact/{_q(file_ref)}/{uuid.uuid4().hex}", {}, as_user=sender)
        self.api.call("PUT", f"/rooms/{_q(channel)}/redact/{_q(ref)}/{uuid.uuid4().hex}", {}, as_user=sender)

    def _files_of(self, channel: str, ref: str, event: dict[str, Any]) -> list[str]:
        """The file events sent after the text ``ref``: in its thread, marked ``FILE_OF``."""
        relation: dict[str, Any] = event.get("content", {}).get("m.relates_to") or {}
        root: str = (relation.get("event_id") if relation.get("rel_type") == "m.thread" else None) or ref
        found: list[str] = []
        query = {"limit": "100"}
        while True:
            page = self.api.call(
                "GET", f"/rooms/{_q(channel)}/relations/{_q(root)}/m.thread", query=query, version="v1"
            )
            found += [e["event_id"] for e in page.get("chunk", []) if e.get("content", {}).get(FILE_OF) == ref]
            if not page.get("next_batch"):
                return found
            query = {"limit": "100", "from": page["next_batch"]}

    def _sender(self, channel: str, post: ChatPost) -> str | None:
        """The author's puppet, ready in ``channel``; None when the relay account posts."""
        return self.puppets.ready(channel, post.author_key, post.author) if self.puppets else None


def _in_thread(root_ref: str) -> dict[str, Any]:
    return {
        "m.relates_to": {
            "rel_type": "m.thread",
            "event_id": root_ref,
            "is_falling_back": True,
            "m.in_reply_to": {"event_id": root_ref},  # for clients without threads
        }
    }


def _txn(post: ChatPost, part: str) -> str:
    return f"listbridge-{post.key}-{part}" if post.key else ""


def _file_content(file: ChatFile, mxc: str) -> dict[str, Any]:
    kind = file.content_type.split("/", 1)[0]
    msgtype = f"m.{kind}" if f"m.{kind}" in FILE_MSGTYPES else "m.file"
    return {
        "msgtype": msgtype,
        "body": file.filename,
        "filename": file.filename,
        "url": mxc,
        "info": {"mimetype": file.content_type, "size": file.size},
    }


def _content(post: ChatPost, *, named: bool) -> dict[str, Any]:
    """The message; ``named``: it starts with the author's name (the relay account posts it)."""
    body = f"{post.author}: {post.body}" if named else post.body
    formatted = f"<b>{_h(post.author)}</b>: {_h(post.body)}" if named else _h(post.body)
    if post.starts_thread:
        text = f"{post.subject}\n{body}\n{post.archive_url}"
        formatted = (
            f'<b>{_h(post.subject)}</b><br>{formatted}<br><a href="{_h(post.archive_url)}">View in the archive</a>'
        )
    else:
        text = body
    return {"msgtype": "m.text", "body": text, "format": "org.matrix.custom.html", "formatted_body": formatted}


class MatrixSync:
    """The inbound half: ``/sync`` → the forum, until stopped."""

    def __init__(
        self, api: MatrixApi, site: Site, sessions: sessionmaker[Session], puppets: Puppets | None = None
    ) -> None:
        self.api = api
        self.puppets = puppets
        self.site = site
        self.sessions = sessions
        self.max_file_bytes = site.settings.smtp_in.max_message_bytes

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
            since = next((link.cursor for link in chat.platform_links(session, PLATFORM) if link.cursor), None)
        query = {"timeout": str(SYNC_TIMEOUT_MS)} | ({"since": since} if since else {"filter": json.dumps(FRESH_START)})
        reply = self.api.call("GET", "/sync", query=query, timeout=SYNC_TIMEOUT_MS / 1000 + 30)
        with self.sessions() as session:  # read after the long poll: a room linked meanwhile is in it
            rooms = {link.channel for link in chat.platform_links(session, PLATFORM)}
        for room, joined in reply.get("rooms", {}).get("join", {}).items():
            if room in rooms:
                for event in joined.get("timeline", {}).get("events", []):
                    self._receive(room, event)
        with self.sessions.begin() as session:
            for link in chat.platform_links(session, PLATFORM):
                link.cursor = reply["next_batch"]

    def _receive(self, room: str, event: dict[str, Any]) -> bool:
        sender = event.get("sender", "")
        if sender == self.api.user_id or (self.puppets and self.puppets.owns(sender)) or "event_id" not in event:
            return False  # the relay account's and the puppets' messages: ours, never bridged back
        content = event.get("content", {})
        if event.get("type") == "m.room.redaction":
            with self.sessions.begin() as session:
                return receive_deletion(session, PLATFORM, room, event.get("redacts") or content.get("redacts", ""))
        if event.get("type") != "m.room.message" or "body" not in content:
            return False
        relation = content.get("m.relates_to", {})
        if relation.get("rel_type") == "m.replace":
            with self.sessions.begin() as session:
                return receive_edit(
                    session,
                    PLATFORM,
                    room,
                    relation.get("event_id", ""),
                    content.get("m.new_content", {}).get("body", ""),
                )
        thread = relation.get("event_id") if relation.get("rel_type") == "m.thread" else None
        text, attachments = self._text_and_files(content)  # downloads happen outside the transaction
        chat_event = ChatEvent(
            platform=PLATFORM,
            channel=room,
            ref=event["event_id"],
            author=ChatAuthor(name=sender.split(":")[0].lstrip("@")),
            text=text,
            root_ref=thread,
            attachments=attachments,
        )
        with self.sessions.begin() as session:
            result = receive_message(session, self.site, chat_event)
            notice = author_notice(session, chat_event, result)
        if notice:
            self._tell(room, event["event_id"], thread, sender, notice)
        return result is not None and not isinstance(result, Refused)

    def _text_and_files(self, content: dict[str, Any]) -> tuple[str, tuple[AttachmentData, ...]]:
        """A file event's caption and file (a body that is not the file's name is a caption)."""
        url = content.get("url", "")
        if content.get("msgtype") not in FILE_MSGTYPES or not url.startswith("mxc://"):
            return content["body"], ()
        filename = content.get("filename") or content["body"] or "file"
        caption = content["body"] if content.get("filename") and content["body"] != content["filename"] else ""
        info = content.get("info") or {}
        size = info.get("size") if isinstance(info.get("size"), int) else None
        try:
            data = None if size and size > self.max_file_bytes else self.api.download(url, self.max_file_bytes)
        except PermanentFailure as exc:  # gone or refused: the message still comes, and says so
            log.warning("downloading %s failed: %s", url, exc)
            return "\n\n".join(filter(None, [caption, unfetched_note(filename)])), ()
        if data is None:
            return "\n\n".join(filter(None, [caption, too_large_note(filename, self.max_file_bytes, size)])), ()
        return caption, (
            AttachmentData(
                filename=filename, data=data, content_type=info.get("mimetype") or "application/octet-stream"
            ),
        )

    def _tell(self, room: str, event_id: str, thread: str | None, sender: str, notice: str) -> None:
        """Answer a refused or held message in its thread, naming its author (a room has no private replies)."""
        relation = _in_thread(thread) if thread else {"m.relates_to": {"m.in_reply_to": {"event_id": event_id}}}
        try:
            self.api.send(
                room,
                "m.room.message",
                {"msgtype": "m.notice", "body": f"{sender}: {notice}"} | relation,
                f"listbridge-notice-{event_id}",
            )
        except (TemporaryFailure, PermanentFailure, RateLimited) as exc:
            log.warning("telling %s in %s failed: %s", sender, room, exc)


def _q(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def _h(text: str) -> str:
    return html.escape(text).replace("\n", "<br>")


def _retry_after(header: str, detail: dict[str, Any]) -> float:
    """Seconds a 429 asks us to wait: its ``Retry-After`` header, which the spec now prefers
    (homeservers that predate it send only the body's ``retry_after_ms``), else that field,
    else one second."""
    if header.strip().isdigit():
        return float(header)
    return float(detail.get("retry_after_ms", 1000)) / 1000


def _json(data: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(data)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}
