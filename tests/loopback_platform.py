"""A chat platform only the tests know: its channels are lists in the process using them.

It is written as a new platform's module is (``bridges/platforms/slack.py`` and
``matrix.py`` are the real ones): a settings section, a channel-id rule, what a site must
set, and how it runs — an adapter for its outbox rows (worker role) and an endpoint its
messages come in at (web role). Registered by the ``loopback`` fixture, it shows that
nothing outside a platform's module has to name it.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import asdict, dataclass

from flask import Blueprint, jsonify, request
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.wrappers import Response

from bridges.base import ChatPost
from bridges.inbound import ChatAuthor, ChatEvent, author_notice, receive_message
from bridges.platforms import ChatBridge, Running
from forum.config import setting
from forum.site import Site

NAME = "loopback"
CHANNEL = re.compile(r"loop-[0-9]+")


@dataclass(frozen=True)
class Message:
    ref: str
    text: str
    by_bridge: bool
    root_ref: str | None = None


# The platform's side: every channel's messages, in order (cleared by the fixture).
CHANNELS: dict[str, list[Message]] = defaultdict(list)


@dataclass(frozen=True, kw_only=True)
class LoopbackSettings:
    enabled: bool = setting(False, "Bridge the loopback platform.")


def channel_problem(channel: str) -> str | None:
    return None if CHANNEL.fullmatch(channel) else "A loopback channel ID is loop- and a number, like loop-1"


def unconfigured(options: LoopbackSettings) -> str | None:
    return None if options.enabled else "setting [loopback] enabled is false"


class LoopbackAdapter:
    platform = NAME

    def start_thread(self, channel: str, post: ChatPost) -> str:
        return _add(channel, Message(f"{channel}/{len(CHANNELS[channel])}", post.body, by_bridge=True))

    def reply(self, channel: str, root_ref: str, post: ChatPost) -> str:
        return _add(
            channel, Message(f"{channel}/{len(CHANNELS[channel])}", post.body, by_bridge=True, root_ref=root_ref)
        )

    def edit(self, channel: str, ref: str, post: ChatPost) -> None:
        CHANNELS[channel] = [
            Message(m.ref, post.body, True, m.root_ref) if m.ref == ref else m for m in CHANNELS[channel]
        ]

    def delete(self, channel: str, ref: str) -> None:
        CHANNELS[channel] = [m for m in CHANNELS[channel] if m.ref != ref]


def _add(channel: str, message: Message) -> str:
    CHANNELS[channel].append(message)
    return message.ref


def endpoint(site: Site, sessions: sessionmaker[Session]) -> Blueprint:
    """``POST /loopback/CHANNEL`` (email, name, text): a person's message in the channel;
    ``GET`` it: the channel's messages."""
    bp = Blueprint(NAME, __name__)

    @bp.post("/loopback/<channel>")
    def receive(channel: str) -> Response:
        message = _add(channel, Message(f"{channel}/{len(CHANNELS[channel])}", request.form["text"], by_bridge=False))
        event = ChatEvent(
            platform=NAME,
            channel=channel,
            ref=message,
            author=ChatAuthor(name=request.form["name"], email=request.form["email"]),
            text=request.form["text"],
        )
        with sessions.begin() as session:
            notice = author_notice(session, event, receive_message(session, site, event))
        return jsonify(ref=message, notice=notice)

    @bp.get("/loopback/<channel>")
    def read(channel: str) -> Response:
        return jsonify([asdict(message) for message in CHANNELS[channel]])

    return bp


def start(
    site: Site, sessions: sessionmaker[Session], options: LoopbackSettings, *, web: bool, worker: bool
) -> Running:
    return Running(adapter=LoopbackAdapter() if worker else None, endpoints=[endpoint(site, sessions)] if web else [])


PLATFORM = ChatBridge(
    name=NAME,
    label="Loopback",
    settings=LoopbackSettings,
    channel_problem=channel_problem,
    channel_help="the number after loop-, like loop-1.",
    unconfigured=unconfigured,
    start=start,
)
