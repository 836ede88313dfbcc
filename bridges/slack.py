"""Slack, with slack-bolt (events in) and slack_sdk (Web API out).

Out: a forum thread becomes a top-level message (subject, first lines, archive link); each
reply goes into that message's Slack thread (``thread_ts``) under its author's name
(``chat:write.customize``); a post's attachments follow as files shared in the same thread
(``files_upload_v2``). In: the Events API at ``/slack/events`` on the web port (Bolt
verifies the signing secret and refuses requests older than five minutes), or Socket Mode
when an app-level token is configured. Files shared in a thread are downloaded as
attachments; one above the site's size limit is named in a note in the post instead.

A message the community's posting policy refuses or holds is answered with an ephemeral
message that only its author sees, once: Slack redelivers an event it thinks was not
acknowledged, and a refused message, unlike a stored one, has no row to recognise it by,
so only the first delivery is answered: Slack numbers the others (``X-Slack-Retry-Num``,
which Bolt also sets from a Socket Mode envelope's ``retry_attempt``), which works
whichever web process a redelivery reaches.

Bolt acknowledges only after the listener returned (``process_before_response``): the
listener is one short transaction, and a message is stored before Slack hears "200", so
Slack's own retries cover a crash. Bolt drops the bot's own new messages but not its own
``message_changed`` events; :func:`_is_bot` drops those, and the stored message ids catch
anything else of ours.
"""

from __future__ import annotations

import html
import logging
import re
import threading
import time
import urllib.request
from typing import Any

from flask import Blueprint, Response, request
from slack_bolt import App
from slack_bolt.adapter.flask import SlackRequestHandler
from slack_bolt.adapter.socket_mode.builtin import SocketModeHandler
from slack_bolt.request import BoltRequest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy.orm import Session, sessionmaker

from bridges.base import NETWORK_ERRORS, ChatPost, PermanentFailure, RateLimited, TemporaryFailure
from bridges.inbound import (
    ChatAuthor,
    ChatEvent,
    author_notice,
    receive_deletion,
    receive_edit,
    receive_message,
    too_large_note,
    unfetched_note,
)
from bridges.platforms.slack import SlackSettings
from forum.errors import describe
from forum.posting import AttachmentData
from forum.site import Site

log = logging.getLogger(__name__)
PLATFORM = "slack"
TEMPORARY_ERRORS = {"internal_error", "fatal_error", "service_unavailable", "request_timeout"}
NEW_MESSAGE_SUBTYPES = {None, "file_share", "thread_broadcast"}
PEOPLE_TTL_SECONDS = 3600.0
TIMEOUT_SECONDS = 10


def web_client(settings: SlackSettings) -> WebClient:
    base = settings.api_base_url if settings.api_base_url.endswith("/") else settings.api_base_url + "/"
    return WebClient(token=settings.bot_token, base_url=base, timeout=TIMEOUT_SECONDS)


class SlackAdapter:
    """The outbound half: the Web API calls the worker makes."""

    platform = PLATFORM

    def __init__(self, client: WebClient) -> None:
        self.client = client

    def start_thread(self, channel: str, post: ChatPost) -> str:
        uploads = _uploads(post)
        reply = self._call(
            "chat_postMessage",
            channel=channel,
            text=_text(post),
            username=post.author,
            unfurl_links=False,
            unfurl_media=False,
        )
        self._share_files(channel, str(reply["ts"]), uploads)
        return str(reply["ts"])

    def reply(self, channel: str, root_ref: str, post: ChatPost) -> str:
        uploads = _uploads(post)
        reply = self._call(
            "chat_postMessage",
            channel=channel,
            thread_ts=root_ref,
            text=_text(post),
            username=post.author,
            unfurl_links=False,
            unfurl_media=False,
        )
        self._share_files(channel, root_ref, uploads)
        return str(reply["ts"])

    def _share_files(self, channel: str, thread_ts: str, uploads: list[dict[str, Any]]) -> None:
        if uploads:
            self._call("files_upload_v2", channel=channel, thread_ts=thread_ts, file_uploads=uploads)

    def edit(self, channel: str, ref: str, post: ChatPost) -> None:
        self._call("chat_update", channel=channel, ts=ref, text=_text(post))

    def delete(self, channel: str, ref: str) -> None:
        try:
            self._call("chat_delete", channel=channel, ts=ref)
        except PermanentFailure as exc:
            if "message_not_found" not in str(exc):  # already gone is what we wanted
                raise

    def _call(self, method: str, **kwargs: Any) -> Any:
        try:
            return getattr(self.client, method)(**kwargs)
        except SlackApiError as exc:
            raise _classify(method, exc) from exc
        except NETWORK_ERRORS as exc:
            raise TemporaryFailure(f"{method}: {describe(exc)}") from exc


def _uploads(post: ChatPost) -> list[dict[str, Any]]:
    """The post's files as ``files_upload_v2`` takes them, read before anything is posted:
    a file gone from storage then leaves no text without its files in the channel."""
    return [{"content": f.read(), "filename": f.filename, "title": f.filename} for f in post.files]


def _classify(method: str, exc: SlackApiError) -> Exception:
    status = exc.response.status_code
    error = exc.response.get("error", "") if isinstance(exc.response.data, dict) else ""
    if status == 429 or error == "ratelimited":
        return RateLimited(float(exc.response.headers.get("Retry-After", exc.response.headers.get("retry-after", 1))))
    if status >= 500 or error in TEMPORARY_ERRORS:
        return TemporaryFailure(f"{method}: HTTP {status} {error}")
    return PermanentFailure(f"{method}: {error or f'HTTP {status}'}")


def _escape(text: str) -> str:
    """Slack's three control characters (its formatting docs): everything else is literal."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _text(post: ChatPost) -> str:
    link = f"<{post.archive_url}|View in the archive>"
    if post.starts_thread:
        return f"*{_escape(post.subject)}*\n{_escape(post.body)}\n{link}"
    return _escape(post.body) if post.body == post.text else f"{_escape(post.body)}\n{link}"


LINK = re.compile(r"<([^<>|]+)(?:\|([^<>]*))?>")


def plain_text(text: str) -> str:
    """Slack's message markup as plain text: ``<url|label>`` → ``label (url)``, ``<@U1>`` → ``@U1``."""

    def replace(match: re.Match[str]) -> str:
        target, label = match.group(1), match.group(2)
        if target.startswith(("@", "#")):
            return f"{target[0]}{label or target[1:]}"
        if target.startswith("!"):
            return f"@{label or target[1:]}"
        return f"{label} ({target})" if label and label != target else target

    return html.unescape(LINK.sub(replace, text))


class People:
    """Slack user id → name and email (``users.info``), cached: it is asked on every message."""

    def __init__(self, client: WebClient) -> None:
        self.client = client
        self._cache: dict[str, tuple[float, ChatAuthor]] = {}
        self._lock = threading.Lock()

    def author(self, user_id: str) -> ChatAuthor:
        with self._lock:
            hit = self._cache.get(user_id)
        if hit and time.monotonic() - hit[0] < PEOPLE_TTL_SECONDS:
            return hit[1]
        try:
            profile = self.client.users_info(user=user_id)["user"]
        except (SlackClientError, OSError) as exc:
            log.warning("users.info %s failed: %s", user_id, exc)
            return ChatAuthor(name=user_id)
        details = profile.get("profile", {})
        author = ChatAuthor(
            name=details.get("real_name") or profile.get("real_name") or profile.get("name") or user_id,
            email=(details.get("email") or "").lower(),
        )
        with self._lock:
            self._cache[user_id] = (time.monotonic(), author)
        return author


class SlackInbound:
    """The inbound half: Slack message events → the forum, one transaction each."""

    def __init__(self, site: Site, sessions: sessionmaker[Session], client: WebClient) -> None:
        self.site = site
        self.sessions = sessions
        self.client = client
        self.people = People(client)
        self.max_file_bytes = site.settings.smtp_in.max_message_bytes

    def handle(self, event: dict[str, Any], bot_ids: set[str], *, redelivered: bool = False) -> None:
        subtype = event.get("subtype")
        channel = event.get("channel", "")
        if subtype == "message_changed":
            message = event.get("message", {})
            if _is_bot(message, bot_ids):
                return
            with self.sessions.begin() as session:
                receive_edit(session, PLATFORM, channel, message.get("ts", ""), plain_text(message.get("text", "")))
        elif subtype == "message_deleted":
            with self.sessions.begin() as session:
                receive_deletion(session, PLATFORM, channel, event.get("deleted_ts", ""))
        elif subtype in NEW_MESSAGE_SUBTYPES and not _is_bot(event, bot_ids) and event.get("user"):
            notes, files = self._files(event.get("files", []))
            chat_event = ChatEvent(
                platform=PLATFORM,
                channel=channel,
                ref=event["ts"],
                author=self.people.author(event["user"]),
                text="\n\n".join(filter(None, [plain_text(event.get("text", "")), *notes])),
                root_ref=event.get("thread_ts"),
                attachments=tuple(files),
            )
            with self.sessions.begin() as session:
                result = receive_message(session, self.site, chat_event)
                notice = author_notice(session, chat_event, result)
            if notice and not redelivered:
                self._tell(channel, event["user"], event.get("thread_ts"), notice)

    def _tell(self, channel: str, user: str, thread_ts: str | None, notice: str) -> None:
        """An ephemeral message: only the author sees it, in the channel (and thread) they wrote in."""
        try:
            self.client.chat_postEphemeral(channel=channel, user=user, text=_escape(notice), thread_ts=thread_ts)
        except (SlackClientError, OSError) as exc:
            log.warning("telling %s in %s failed: %s", user, channel, exc)

    def _files(self, files: list[dict[str, Any]]) -> tuple[list[str], list[AttachmentData]]:
        """Shared files, downloaded with the bot token (Slack's file URLs need it), and a note
        for each one left out (too large, or not handed over)."""
        notes, found = [], []
        for info in files:
            url = info.get("url_private_download") or info.get("url_private")
            name, size = info.get("name") or "file", int(info.get("size") or 0)
            if not url:
                continue
            if size > self.max_file_bytes:
                notes.append(too_large_note(name, self.max_file_bytes, size))
                continue
            fetch = urllib.request.Request(url, headers={"Authorization": f"Bearer {self.client.token}"})
            try:
                with urllib.request.urlopen(fetch, timeout=TIMEOUT_SECONDS) as response:
                    data = response.read(self.max_file_bytes + 1)
            except OSError as exc:
                log.warning("downloading Slack file %s failed: %s", info.get("id"), exc)
                notes.append(unfetched_note(name))
                continue
            if len(data) > self.max_file_bytes:
                notes.append(too_large_note(name, self.max_file_bytes))
            else:
                found.append(
                    AttachmentData(
                        filename=name, content_type=info.get("mimetype") or "application/octet-stream", data=data
                    )
                )
        return notes, found


def _is_bot(message: dict[str, Any], bot_ids: set[str]) -> bool:
    """Written by a bot or an app (ours included): never bridged."""
    return bool(
        message.get("bot_id")
        or message.get("subtype") == "bot_message"
        or message.get("user") in bot_ids
        or message.get("app_id") in bot_ids
    )


def bolt_app(settings: SlackSettings, inbound: SlackInbound) -> App:
    app = App(
        client=inbound.client,
        signing_secret=settings.signing_secret or "unused-in-socket-mode",
        request_verification_enabled=not settings.app_token,
        process_before_response=True,
        token_verification_enabled=False,
    )

    @app.event("message")
    def on_message(event: dict[str, Any], context: Any, request: BoltRequest) -> None:
        retry = request.headers.get("x-slack-retry-num", ["0"])[0]
        inbound.handle(event, {i for i in (context.bot_id, context.bot_user_id) if i}, redelivered=retry != "0")

    return app


def events_blueprint(app: App) -> Blueprint:
    """``POST /slack/events`` for the web app (the runtime mounts it and exempts it from CSRF:
    Slack signs its requests instead)."""
    bp = Blueprint("slack", __name__)
    handler = SlackRequestHandler(app)

    @bp.post("/slack/events")
    def events() -> Response:
        return handler.handle(request)

    return bp


def socket_mode(app: App, settings: SlackSettings) -> SocketModeHandler:
    return SocketModeHandler(app, app_token=settings.app_token, web_client=app.client)
