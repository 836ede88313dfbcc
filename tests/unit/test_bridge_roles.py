"""Which parts of the bridges each ``listbridge serve`` role runs: Slack's Events API
requests reach the web role even when the workers run on another machine; the chat
workers and long-lived connections run with the worker role only."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker as SessionMaker

from bridges import running
from forum import chat_platforms
from forum.config import Settings
from forum.site import Site

SLACK = {"bot_token": "xoxb-test", "signing_secret": "secret"}
MATRIX = {"homeserver": "http://127.0.0.1:9", "user_id": "@relay:example.org", "access_token": "token"}


def build(
    make_settings: Callable[..., Settings],
    sessionmaker: SessionMaker[Session],
    *,
    web: bool,
    worker: bool,
    **sections: dict[str, str],
) -> running.Bridges:
    return running.build(
        Site.from_settings(make_settings(**sections)), sessionmaker, chat_platforms.registered(), web=web, worker=worker
    )


def test_a_web_only_process_serves_the_slack_events_endpoint_and_runs_no_chat_worker(
    make_settings: Callable[..., Settings], sessionmaker: SessionMaker[Session]
) -> None:
    bridges = build(make_settings, sessionmaker, web=True, worker=False, slack=SLACK, matrix=MATRIX)
    assert [endpoint.name for endpoint in bridges.endpoints] == ["slack"]
    assert bridges.workers == [] and bridges.listeners == []


def test_a_worker_only_process_runs_the_chat_workers_and_serves_no_endpoint(
    make_settings: Callable[..., Settings], sessionmaker: SessionMaker[Session]
) -> None:
    bridges = build(make_settings, sessionmaker, web=False, worker=True, slack=SLACK, matrix=MATRIX)
    assert bridges.endpoints == []
    assert [w.adapter.platform for w in bridges.workers] == ["slack", "matrix"]
    assert len(bridges.listeners) == 1  # the Matrix sync loop


def test_socket_mode_is_the_workers_business_and_needs_no_endpoint(
    make_settings: Callable[..., Settings], sessionmaker: SessionMaker[Session]
) -> None:
    socket_mode = {**SLACK, "app_token": "xapp-test"}
    assert build(make_settings, sessionmaker, web=True, worker=False, slack=socket_mode).endpoints == []
    assert len(build(make_settings, sessionmaker, web=False, worker=True, slack=socket_mode).listeners) == 1
