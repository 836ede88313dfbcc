"""How the Slack and Matrix adapters sort what goes wrong: a server out of reach, a 5xx or
a timeout is temporary (the worker retries it); a file gone from storage is not, and
stops the copy before anything of it reaches the channel."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from bridges.base import ChatFile, ChatPost, TemporaryFailure
from bridges.matrix import MatrixAdapter, MatrixApi
from bridges.slack import SlackAdapter, web_client
from forum.config import MatrixSettings, SlackSettings
from tests.support import free_port


class _Answers(BaseHTTPRequestHandler):
    """Every request: 503, as a platform answers while it is down."""

    calls: ClassVar[list[str]] = []

    def log_message(self, *args: Any) -> None:
        pass

    def _answer(self) -> None:
        self.calls.append(self.path)
        self.send_response(503)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"ok": false, "error": "service_unavailable"}')

    do_GET = do_POST = do_PUT = _answer


@pytest.fixture
def failing_server() -> Iterator[str]:
    _Answers.calls = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answers)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def chat_post(tmp_path: Path, *, with_missing_file: bool = False) -> ChatPost:
    files = (ChatFile("minutes.pdf", "application/pdf", 10, tmp_path / "gone"),) if with_missing_file else ()
    return ChatPost(author="Alice", subject="Minutes", text="Attached.", archive_url="http://x/t/1",
                    starts_thread=True, key="post1", author_key="alice@example.org", files=files)


def slack(base_url: str) -> SlackAdapter:
    return SlackAdapter(web_client(SlackSettings(bot_token="xoxb-test", api_base_url=base_url + "/api/")))


def matrix(homeserver: str) -> MatrixAdapter:
    return MatrixAdapter(MatrixApi(MatrixSettings(homeserver=homeserver, user_id="@relay:example.org",
                                                  access_token="token")))


@pytest.mark.parametrize("adapter", [slack, matrix])
def test_a_server_out_of_reach_or_answering_5xx_is_temporary(adapter: Any, failing_server: str,
                                                              tmp_path: Path) -> None:
    with pytest.raises(TemporaryFailure):
        adapter(f"http://127.0.0.1:{free_port()}").start_thread("C1", chat_post(tmp_path))
    with pytest.raises(TemporaryFailure):
        adapter(failing_server).start_thread("C1", chat_post(tmp_path))
    assert _Answers.calls


@pytest.mark.parametrize("adapter", [slack, matrix])
def test_a_missing_file_is_no_temporary_failure_and_sends_nothing(adapter: Any, failing_server: str,
                                                                  tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        adapter(failing_server).start_thread("C1", chat_post(tmp_path, with_missing_file=True))
    assert _Answers.calls == [], "nothing of the copy reached the platform"
