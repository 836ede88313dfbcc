"""How the Slack and Matrix adapters sort what goes wrong: a server out of reach, a 5xx or
a timeout is temporary (the worker retries it); a 429 says how long to wait; a refusal is
final; a file gone from storage is not temporary, and stops the copy before anything of
it reaches the channel."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from bridges.base import ChatFile, ChatPost, PermanentFailure, RateLimited, TemporaryFailure
from bridges.matrix import MatrixAdapter, MatrixApi
from bridges.platforms.matrix import MatrixSettings
from bridges.platforms.slack import SlackSettings
from bridges.slack import SlackAdapter, web_client
from tests.support import free_port


class _Answers(BaseHTTPRequestHandler):
    """Every request: ``status`` (503 unless a test sets another answer), as a platform
    answers while it is down."""

    calls: ClassVar[list[str]] = []
    status = 503
    body = b'{"ok": false, "error": "service_unavailable"}'
    headers_sent: ClassVar[dict[str, str]] = {}

    def log_message(self, *args: Any) -> None:
        pass

    def _answer(self) -> None:
        self.calls.append(self.path)
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        for name, value in self.headers_sent.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(self.body)

    do_GET = do_POST = do_PUT = _answer


@pytest.fixture
def failing_server() -> Iterator[str]:
    _Answers.calls, _Answers.status, _Answers.headers_sent = [], 503, {}
    _Answers.body = b'{"ok": false, "error": "service_unavailable"}'
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answers)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def chat_post(tmp_path: Path, *, with_missing_file: bool = False) -> ChatPost:
    files = (ChatFile("minutes.pdf", "application/pdf", 10, tmp_path / "gone"),) if with_missing_file else ()
    return ChatPost(
        author="Alice",
        subject="Minutes",
        text="Attached.",
        archive_url="http://x/t/1",
        starts_thread=True,
        key="post1",
        author_key="alice@example.org",
        files=files,
    )


def slack(base_url: str) -> SlackAdapter:
    return SlackAdapter(web_client(SlackSettings(bot_token="xoxb-test", api_base_url=base_url + "/api/")))


def matrix(homeserver: str) -> MatrixAdapter:
    return MatrixAdapter(
        MatrixApi(MatrixSettings(homeserver=homeserver, user_id="@relay:example.org", access_token="token"))
    )


@pytest.mark.parametrize("adapter", [slack, matrix])
def test_a_server_out_of_reach_or_answering_5xx_is_temporary(adapter: Any, failing_server: str, tmp_path: Path) -> None:
    with pytest.raises(TemporaryFailure):
        adapter(f"http://127.0.0.1:{free_port()}").start_thread("C1", chat_post(tmp_path))
    with pytest.raises(TemporaryFailure):
        adapter(failing_server).start_thread("C1", chat_post(tmp_path))
    assert _Answers.calls


@pytest.mark.parametrize("adapter", [slack, matrix])
def test_a_missing_file_is_no_temporary_failure_and_sends_nothing(
    adapter: Any, failing_server: str, tmp_path: Path
) -> None:
    with pytest.raises(FileNotFoundError):
        adapter(failing_server).start_thread("C1", chat_post(tmp_path, with_missing_file=True))
    assert _Answers.calls == [], "nothing of the copy reached the platform"


@pytest.mark.parametrize(
    ("headers", "body", "wait"),
    [
        ({"Retry-After": "7"}, b'{"errcode": "M_LIMIT_EXCEEDED", "retry_after_ms": 2000}', 7.0),  # the header wins
        ({}, b'{"errcode": "M_LIMIT_EXCEEDED", "error": "Too many requests", "retry_after_ms": 2500}', 2.5),
        ({}, b'{"errcode": "M_LIMIT_EXCEEDED"}', 1.0),
    ],
)
def test_a_matrix_429_pauses_for_the_time_the_homeserver_asks(
    failing_server: str, tmp_path: Path, headers: dict[str, str], body: bytes, wait: float
) -> None:
    _Answers.status, _Answers.headers_sent, _Answers.body = 429, headers, body
    with pytest.raises(RateLimited) as raised:
        matrix(failing_server).start_thread("!r:example.org", chat_post(tmp_path))
    assert raised.value.retry_after == wait


def test_a_matrix_refusal_is_final_and_says_why(failing_server: str, tmp_path: Path) -> None:
    _Answers.status, _Answers.body = 403, b'{"errcode": "M_FORBIDDEN", "error": "You are not in this room."}'
    with pytest.raises(PermanentFailure, match="M_FORBIDDEN You are not in this room"):
        matrix(failing_server).start_thread("!r:example.org", chat_post(tmp_path))
    assert len(_Answers.calls) == 1, "no retry inside the adapter: the worker decides"
