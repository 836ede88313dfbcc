"""A local stand-in for Slack's Web API, reached by slack_sdk through ``base_url``.

Slack's cloud cannot be reached from tests, so this is a real HTTP server on a loopback
port that answers the methods the bridge calls the way Slack documents them, and records
every request. What it covers:

* ``auth.test`` (bot user and bot id), ``chat.postMessage`` (channel, text, ``thread_ts``,
  ``username``; answers a fresh ``ts`` and the message with the bot's ``bot_id``),
  ``chat.update`` and ``chat.delete`` (of the bot's own messages only, else
  ``cant_update_message`` / ``message_not_found``), ``users.info`` (profile with email);
* authentication by the bot token in the ``Authorization`` header (``invalid_auth``),
  unknown channels (``channel_not_found``), missing text (``no_text``);
* rate limits: :meth:`FakeSlack.limit` makes the next calls of a method answer HTTP 429
  with ``Retry-After`` and ``{"ok": false, "error": "ratelimited"}``;
* private file downloads (``url_private_download``), which need the bot token.

Not covered: blocks, Socket Mode's websocket, OAuth and every other method (they answer
``unknown_method``). Inbound events are not the fake's job: tests sign them with the
signing secret and POST them to the real ``/slack/events`` endpoint (:func:`signed`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support import free_port

BOT_TOKEN = "xoxb-test-token"
SIGNING_SECRET = "test-signing-secret"
BOT_USER = "UBOT"
BOT_ID = "BBOT"
TEAM = "T0001"


@dataclass(frozen=True)
class Call:
    method: str
    params: dict[str, Any]
    at: float  # time.monotonic() when it arrived


@dataclass
class FakeSlack:
    channels: set[str] = field(default_factory=lambda: {"C0001"})
    users: dict[str, dict[str, str]] = field(default_factory=dict)  # id → {"name", "email"}
    files: dict[str, bytes] = field(default_factory=dict)  # path → bytes
    calls: list[Call] = field(default_factory=list)
    messages: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # (channel, ts) → message

    def __post_init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._limits: dict[str, list[float]] = {}
        self._ts = int(time.time())
        self._seq = 0
        self._changed = threading.Condition()
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler(self))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    def __enter__(self) -> FakeSlack:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def limit(self, method: str, retry_after: float, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` answer 429 with Retry-After."""
        self._limits[method] = [retry_after] * times

    def add_user(self, user_id: str, name: str, email: str) -> None:
        self.users[user_id] = {"name": name, "email": email}

    def add_file(self, name: str, data: bytes) -> str:
        path = f"/files-pri/{TEAM}-F{len(self.files) + 1}/{name}"
        self.files[path] = data
        return self.url + path

    def posted(self, method: str = "chat.postMessage") -> list[Call]:
        with self._changed:
            return [c for c in self.calls if c.method == method]

    def wait_for(self, method: str, count: int, timeout: float = 10.0) -> list[Call]:
        deadline = time.monotonic() + timeout
        with self._changed:
            while len([c for c in self.calls if c.method == method]) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"fake Slack got {[c.method for c in self.calls]}, not {count}× {method}")
                self._changed.wait(left)
            return [c for c in self.calls if c.method == method]

    # -- the API ---------------------------------------------------------------------------

    def answer(self, method: str, params: dict[str, Any], token: str) -> tuple[int, dict[str, str], dict[str, Any]]:
        with self._changed:
            self.calls.append(Call(method, params, time.monotonic()))
            self._changed.notify_all()
            limits = self._limits.get(method)
            if limits:
                retry_after = limits.pop(0)
                return 429, {"Retry-After": f"{retry_after:g}"}, {"ok": False, "error": "ratelimited"}
            if token != BOT_TOKEN:
                return 200, {}, {"ok": False, "error": "invalid_auth"}
            handler = getattr(self, "_" + method.replace(".", "_"), None)
            body = handler(params) if handler else {"ok": False, "error": "unknown_method"}
            return 200, {}, body

    def _auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": "https://test.slack.com/", "team": "Test", "team_id": TEAM, "user": "listbridge",
                "user_id": BOT_USER, "bot_id": BOT_ID, "is_enterprise_install": False}

    def _chat_postMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = params.get("channel", "")
        if channel not in self.channels:
            return {"ok": False, "error": "channel_not_found"}
        if not params.get("text") and not params.get("blocks"):
            return {"ok": False, "error": "no_text"}
        self._seq += 1
        ts = f"{self._ts}.{self._seq:06d}"
        message = {"type": "message", "subtype": "bot_message", "text": params["text"], "ts": ts, "bot_id": BOT_ID,
                   "username": params.get("username", "listbridge"), "app_id": "A0001"}
        if params.get("thread_ts"):
            message["thread_ts"] = params["thread_ts"]
        self.messages[(channel, ts)] = message
        return {"ok": True, "channel": channel, "ts": ts, "message": message}

    def _chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        message = self.messages.get((params.get("channel", ""), params.get("ts", "")))
        if message is None:
            return {"ok": False, "error": "message_not_found"}
        if message.get("bot_id") != BOT_ID:
            return {"ok": False, "error": "cant_update_message"}
        message["text"] = params.get("text", "")
        return {"ok": True, "channel": params["channel"], "ts": params["ts"], "text": message["text"]}

    def _chat_delete(self, params: dict[str, Any]) -> dict[str, Any]:
        key = (params.get("channel", ""), params.get("ts", ""))
        message = self.messages.get(key)
        if message is None:
            return {"ok": False, "error": "message_not_found"}
        if message.get("bot_id") != BOT_ID:
            return {"ok": False, "error": "cant_delete_message"}
        del self.messages[key]
        return {"ok": True, "channel": key[0], "ts": key[1]}

    def _users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(params.get("user", ""))
        if user is None:
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "user": {"id": params["user"], "team_id": TEAM, "name": user["name"].lower(),
                                     "real_name": user["name"], "is_bot": False,
                                     "profile": {"real_name": user["name"], "display_name": user["name"],
                                                 "email": user["email"]}}}


def _handler(fake: FakeSlack) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _token(self) -> str:
            return self.headers.get("Authorization", "").removeprefix("Bearer ")

        def do_GET(self) -> None:
            path, _, query = self.path.partition("?")
            if path.startswith("/api/"):
                self._reply(*fake.answer(path[5:], dict(urllib.parse.parse_qsl(query)), self._token()))
            elif path in fake.files and self._token() == BOT_TOKEN:
                self._send(200, {"Content-Type": "application/octet-stream"}, fake.files[path])
            else:  # Slack answers a file fetch without the token with its sign-in page
                self._send(302 if path in fake.files else 404, {"Location": "https://slack.com/signin"}, b"")

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.headers.get("Content-Type", "").startswith("application/json"):
                params = json.loads(raw or b"{}")
            else:
                params = dict(urllib.parse.parse_qsl(raw.decode()))
            path, _, query = self.path.partition("?")
            params |= dict(urllib.parse.parse_qsl(query))
            self._reply(*fake.answer(path.removeprefix("/api/"), params, self._token()))

        def _reply(self, status: int, headers: dict[str, str], body: dict[str, Any]) -> None:
            self._send(status, {"Content-Type": "application/json; charset=utf-8", **headers}, json.dumps(body).encode())

        def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


def signed(payload: dict[str, Any], *, secret: str = SIGNING_SECRET, at: float | None = None) -> tuple[bytes, dict[str, str]]:
    """An Events API request body and its headers, signed as Slack signs them (v0 HMAC-SHA256)."""
    body = json.dumps(payload).encode()
    timestamp = str(int(at if at is not None else time.time()))
    digest = hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    return body, {"Content-Type": "application/json", "X-Slack-Request-Timestamp": timestamp,
                  "X-Slack-Signature": f"v0={digest}"}


def event_callback(event: dict[str, Any]) -> dict[str, Any]:
    """The envelope the Events API wraps every event in."""
    return {"token": "unused", "team_id": TEAM, "api_app_id": "A0001", "type": "event_callback",
            "event_id": f"Ev{time.monotonic_ns()}", "event_time": int(time.time()), "event": event}
