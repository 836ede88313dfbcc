"""A local stand-in for Slack's Web API, reached by slack_sdk through ``base_url``.

Slack's cloud cannot be reached from tests, so this is a real HTTP server on a loopback
port that answers the methods the bridge calls the way Slack documents them, and records
every request. What it covers:

* ``auth.test`` (bot user and bot id), ``chat.postMessage`` (channel, text, ``thread_ts``,
  ``username``; answers a fresh ``ts`` and the message with the bot's ``bot_id``),
  ``chat.update`` and ``chat.delete`` (of the bot's own messages only, else
  ``cant_update_message`` / ``message_not_found``), ``chat.postEphemeral`` (channel,
  user, text, ``thread_ts``), ``users.info`` (profile with email);
* file uploads as ``files_upload_v2`` makes them: ``files.getUploadURLExternal`` (a
  one-time upload URL on this server, no token needed, as Slack's are pre-signed), the
  bytes POSTed there, then ``files.completeUploadExternal`` sharing them in a channel and
  thread (:attr:`FakeSlack.shared` holds what was shared, with the bytes);
* authentication by the bot token in the ``Authorization`` header (``invalid_auth``),
  unknown channels (``channel_not_found``), missing text (``no_text``);
* rate limits: :meth:`FakeSlack.limit` makes the next calls of a method answer HTTP 429
  with ``Retry-After`` and ``{"ok": false, "error": "ratelimited"}``;
* private file downloads (``url_private_download``), which need the bot token;
* Socket Mode: ``apps.connections.open`` (only with the app-level token) answers the
  ``ws://`` URL of a websocket server in the fake, which greets each connection with
  ``hello``, pushes ``events_api`` envelopes (:meth:`FakeSlack.push`), records the
  client's acknowledgements by ``envelope_id`` and answers pings. It can ask the client
  to move to a new connection as Slack does every few hours (a ``disconnect`` message
  with ``refresh_requested``, the old connection closed once the new one is greeted:
  :meth:`FakeSlack.refresh`), or drop the connection without warning beyond the close
  frame (:meth:`FakeSlack.drop`).

Not covered: blocks, OAuth, interactive payloads and every other method (they answer
``unknown_method``). Inbound HTTP events are not the fake's job: tests sign them with the
signing secret and POST them to the real ``/slack/events`` endpoint (:func:`signed`).
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import hmac
import json
import socket
import struct
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support import free_port

BOT_TOKEN = "xoxb-test-token"
APP_TOKEN = "xapp-test-token"
CHANNEL = "C0123ABCD"
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
    channels: set[str] = field(default_factory=lambda: {CHANNEL})
    users: dict[str, dict[str, str]] = field(default_factory=dict)  # id → {"name", "email"}
    files: dict[str, bytes] = field(default_factory=dict)  # path → bytes
    calls: list[Call] = field(default_factory=list)
    messages: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # (channel, ts) → message
    shared: list[dict[str, Any]] = field(default_factory=list)  # files shared: channel, thread_ts, name, data
    acks: list[str] = field(default_factory=list)  # envelope ids the Socket Mode client acknowledged

    def __post_init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._limits: dict[str, list[float]] = {}
        self._ts = int(time.time())
        self._seq = 0
        self._changed = threading.Condition()
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler(self))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._uploads: dict[str, dict[str, Any]] = {}  # file id → name, data
        self.sockets = SocketModeServer(self)

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    def __enter__(self) -> FakeSlack:
        self._thread.start()
        self.sockets.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.sockets.stop()
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
        self.wait(
            lambda: len([c for c in self.calls if c.method == method]) >= count,
            timeout,
            lambda: f"fake Slack got {[c.method for c in self.calls]}, not {count}× {method}",
        )
        return self.posted(method)

    def wait(self, check: Callable[[], bool], timeout: float = 10.0, what: Callable[[], str] = lambda: "") -> None:
        """Until ``check()`` holds (it is asked whenever the fake records something new)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not check():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(what() or "the fake Slack did not see it in time")
                self._changed.wait(left)

    def record(self, change: Callable[[], None]) -> None:
        with self._changed:
            change()
            self._changed.notify_all()

    # -- Socket Mode ---------------------------------------------------------------------

    def push(self, event: dict[str, Any]) -> str:
        """Send ``event`` to the connected Socket Mode client in an envelope; its envelope id."""
        return self.sockets.push(event)

    def refresh(self) -> None:
        """Ask the Socket Mode client to reconnect, as Slack does before it retires a connection."""
        self.sockets.send({"type": "disconnect", "reason": "refresh_requested", "debug_info": {"host": "fake"}})

    def drop(self) -> None:
        """Close the current Socket Mode connection (a close frame, then the TCP connection)."""
        self.sockets.drop()

    def wait_connected(self, count: int, timeout: float = 10.0) -> None:
        """Until the client has opened its ``count``-th connection and been greeted on it."""
        self.wait(
            lambda: self.sockets.greeted >= count,
            timeout,
            lambda: f"{self.sockets.greeted} Socket Mode connection(s), not {count}",
        )

    def wait_acked(self, envelope_id: str, timeout: float = 10.0) -> None:
        self.wait(lambda: envelope_id in self.acks, timeout, lambda: f"envelope {envelope_id} was not acknowledged")

    # -- the API ---------------------------------------------------------------------------

    def answer(self, method: str, params: dict[str, Any], token: str) -> tuple[int, dict[str, str], dict[str, Any]]:
        with self._changed:
            self.calls.append(Call(method, params, time.monotonic()))
            self._changed.notify_all()
            limits = self._limits.get(method)
            if limits:
                retry_after = limits.pop(0)
                return 429, {"Retry-After": f"{retry_after:g}"}, {"ok": False, "error": "ratelimited"}
            if token != (APP_TOKEN if method == "apps.connections.open" else BOT_TOKEN):
                return 200, {}, {"ok": False, "error": "invalid_auth"}
            handler = getattr(self, "_" + method.replace(".", "_"), None)
            body = handler(params) if handler else {"ok": False, "error": "unknown_method"}
            return 200, {}, body

    def _auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://test.slack.com/",
            "team": "Test",
            "team_id": TEAM,
            "user": "listbridge",
            "user_id": BOT_USER,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _chat_postMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = params.get("channel", "")
        if channel not in self.channels:
            return {"ok": False, "error": "channel_not_found"}
        if not params.get("text") and not params.get("blocks"):
            return {"ok": False, "error": "no_text"}
        self._seq += 1
        ts = f"{self._ts}.{self._seq:06d}"
        message = {
            "type": "message",
            "subtype": "bot_message",
            "text": params["text"],
            "ts": ts,
            "bot_id": BOT_ID,
            "username": params.get("username", "listbridge"),
            "app_id": "A0001",
        }
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

    def _chat_postEphemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("channel", "") not in self.channels:
            return {"ok": False, "error": "channel_not_found"}
        if not params.get("user"):
            return {"ok": False, "error": "user_not_found"}
        if not params.get("text"):
            return {"ok": False, "error": "no_text"}
        self._seq += 1
        return {"ok": True, "message_ts": f"{self._ts}.{self._seq:06d}"}

    def _files_getUploadURLExternal(self, params: dict[str, Any]) -> dict[str, Any]:
        if not params.get("filename") or not str(params.get("length", "")).isdigit():
            return {"ok": False, "error": "invalid_arguments"}
        file_id = f"F{len(self._uploads) + 100}"
        self._uploads[file_id] = {"name": params["filename"], "length": int(params["length"]), "data": None}
        return {"ok": True, "upload_url": f"{self.url}/upload/v1/{file_id}", "file_id": file_id}

    def upload(self, file_id: str, data: bytes) -> bool:
        """The bytes POSTed to an upload URL (Slack checks them against the announced length)."""
        upload = self._uploads.get(file_id)
        if upload is None or upload["data"] is not None or len(data) != upload["length"]:
            return False
        upload["data"] = data
        return True

    def _files_completeUploadExternal(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = params.get("channel_id", "")
        if channel not in self.channels:
            return {"ok": False, "error": "channel_not_found"}
        files = json.loads(params.get("files") or "[]")
        uploads = [self._uploads.get(f.get("id", "")) for f in files]
        if not files or any(u is None or u["data"] is None for u in uploads):
            return {"ok": False, "error": "file_not_found"}
        for item, upload in zip(files, uploads, strict=True):
            assert upload is not None
            self.shared.append(
                {
                    "channel": channel,
                    "thread_ts": params.get("thread_ts"),
                    "name": upload["name"],
                    "title": item.get("title"),
                    "data": upload["data"],
                }
            )
        return {"ok": True, "files": [{"id": f["id"], "title": f.get("title")} for f in files]}

    def _apps_connections_open(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": f"ws://127.0.0.1:{self.sockets.port}/link/?ticket={uuid.uuid4().hex}"}

    def _users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(params.get("user", ""))
        if user is None:
            return {"ok": False, "error": "user_not_found"}
        return {
            "ok": True,
            "user": {
                "id": params["user"],
                "team_id": TEAM,
                "name": user["name"].lower(),
                "real_name": user["name"],
                "is_bot": False,
                "profile": {"real_name": user["name"], "display_name": user["name"], "email": user["email"]},
            },
        }


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
            if path.startswith("/upload/v1/"):
                ok = fake.upload(path.removeprefix("/upload/v1/"), raw)
                self._send(200 if ok else 400, {"Content-Type": "text/plain"}, f"OK - {len(raw)}".encode())
                return
            params = dict(params) | dict(urllib.parse.parse_qsl(query))
            self._reply(*fake.answer(path.removeprefix("/api/"), params, self._token()))

        def _reply(self, status: int, headers: dict[str, str], body: dict[str, Any]) -> None:
            self._send(
                status, {"Content-Type": "application/json; charset=utf-8", **headers}, json.dumps(body).encode()
            )

        def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


def signed(
    payload: dict[str, Any], *, secret: str = SIGNING_SECRET, at: float | None = None
) -> tuple[bytes, dict[str, str]]:
    """An Events API request body and its headers, signed as Slack signs them (v0 HMAC-SHA256)."""
    body = json.dumps(payload).encode()
    timestamp = str(int(at if at is not None else time.time()))
    digest = hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    return body, {
        "Content-Type": "application/json",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": f"v0={digest}",
    }


def event_callback(event: dict[str, Any]) -> dict[str, Any]:
    """The envelope the Events API wraps every event in."""
    return {
        "token": "unused",
        "team_id": TEAM,
        "api_app_id": "A0001",
        "type": "event_callback",
        "event_id": f"Ev{time.monotonic_ns()}",
        "event_time": int(time.time()),
        "event": event,
    }


WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455, section 1.3
TEXT, CLOSE, PING, PONG = 0x1, 0x8, 0x9, 0xA


class SocketModeServer:
    """The websocket end of Socket Mode (RFC 6455, the little of it Slack's protocol uses).

    One client connection at a time, as Slack keeps per app when ``num_connections`` is 1;
    a new connection replaces the old one.
    """

    def __init__(self, fake: FakeSlack) -> None:
        self.fake = fake
        self.port = free_port()
        self.greeted = 0
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._current: socket.socket | None = None
        self._send_lock = threading.Lock()
        self._stopped = False

    def start(self) -> None:
        threading.Thread(target=self._accept, daemon=True).start()

    def stop(self) -> None:
        self._stopped = True
        self._listener.close()
        self.drop()

    def push(self, event: dict[str, Any]) -> str:
        envelope_id = str(uuid.uuid4())
        self.send(
            {
                "envelope_id": envelope_id,
                "type": "events_api",
                "accepts_response_payload": False,
                "retry_attempt": 0,
                "retry_reason": "",
                "payload": event_callback(event),
            }
        )
        return envelope_id

    def drop(self) -> None:
        with self._send_lock:
            sock, self._current = self._current, None
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.sendall(_frame(CLOSE, struct.pack("!H", 1001) + b"refresh"))
                sock.close()

    def send(self, message: dict[str, Any]) -> None:
        with self._send_lock:
            if self._current is None:
                raise AssertionError("no Socket Mode client is connected")
            self._current.sendall(_frame(TEXT, json.dumps(message).encode()))

    def _accept(self) -> None:
        while not self._stopped:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock: socket.socket) -> None:
        reader = sock.makefile("rb")
        try:
            request = b""
            while not request.endswith(b"\r\n\r\n"):
                line = reader.readline()
                if not line:
                    return
                request += line
            headers = dict(line.split(": ", 1) for line in request.decode().split("\r\n")[1:] if ": " in line)
            accept = base64.b64encode(hashlib.sha1((headers["Sec-WebSocket-Key"] + WEBSOCKET_GUID).encode()).digest())
            sock.sendall(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
            )
            old = self._current
            with self._send_lock:
                self._current = sock
                sock.sendall(
                    _frame(
                        TEXT,
                        json.dumps(
                            {
                                "type": "hello",
                                "num_connections": 1,
                                "connection_info": {"app_id": "A0001"},
                                "debug_info": {"host": "fake"},
                            }
                        ).encode(),
                    )
                )
            if old is not None:
                old.close()
            self.fake.record(lambda: setattr(self, "greeted", self.greeted + 1))
            while (frame := _read_frame(reader)) is not None:
                opcode, payload = frame
                if opcode == PING:
                    with self._send_lock:
                        sock.sendall(_frame(PONG, payload))
                elif opcode == TEXT:
                    envelope_id = json.loads(payload).get("envelope_id")
                    if envelope_id:
                        self.fake.record(functools.partial(self.fake.acks.append, envelope_id))
                elif opcode == CLOSE:
                    return
        except OSError:
            return
        finally:
            sock.close()


def _frame(opcode: int, payload: bytes) -> bytes:
    """A server frame: final, unmasked (servers never mask)."""
    size = len(payload)
    header = bytes([0x80 | opcode]) + (
        bytes([size])
        if size < 126
        else bytes([126]) + struct.pack("!H", size)
        if size < 1 << 16
        else bytes([127]) + struct.pack("!Q", size)
    )
    return header + payload


def _read_frame(reader: Any) -> tuple[int, bytes] | None:
    """A client frame (always masked, RFC 6455 5.3); None at the end of the stream."""
    head = reader.read(2)
    if len(head) < 2:
        return None
    opcode, size = head[0] & 0x0F, head[1] & 0x7F
    if size == 126:
        size = struct.unpack("!H", reader.read(2))[0]
    elif size == 127:
        size = struct.unpack("!Q", reader.read(8))[0]
    mask = reader.read(4) if head[1] & 0x80 else b"\0\0\0\0"
    payload = reader.read(size)
    return opcode, bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
