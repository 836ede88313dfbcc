"""Helpers shared by the test suite: free ports, a real SMTP sink, missing-server policy,
and the few rows most database tests start from.

The SMTP sink plays the smarthost listbridge relays through. It is a real aiosmtpd server
on a loopback port, so delivery code is tested over an actual SMTP conversation
(per-recipient replies, DATA) rather than against a mock. It can run inside
the test process (the ``smtp_sink`` fixture) or as a separate process that stores each
message as an ``.eml`` file, as a real relay would::

    python -m tests.support sink DIR PORTFILE

writes the port it listens on to PORTFILE once it accepts connections, then stores
every message it receives in DIR until it is terminated.
"""

from __future__ import annotations

import email.policy
import itertools
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import NoReturn

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm import sessionmaker as SessionMaker

from forum import browser_sessions
from forum.directory import create_community
from forum.models import Community, Delivery, Membership, MemberStatus, Role, User, UserEmail
from forum.site import Site
from mailgateway.incoming import judging, processing, spooling
from mailgateway.incoming.judging import Reply

IN_CI = os.environ.get("CI") == "true"
# Settings of a site that bridges both chat platforms (``make_settings(**BRIDGED)``);
# nothing is contacted unless a bridge is started.
BRIDGED = {
    "slack": {"bot_token": "xoxb-test", "signing_secret": "test-secret"},
    "matrix": {"homeserver": "http://127.0.0.1:9", "user_id": "@relay:example.org", "access_token": "token"},
}


def unavailable(reason: str) -> NoReturn:
    """Skip a test whose external prerequisite is missing; in CI, fail it instead.

    A developer without PostgreSQL still gets a useful run, but CI must never report green
    while silently skipping the half of the suite it exists to run.
    """
    if IN_CI:
        pytest.fail(f"{reason} (required when CI=true)", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """``count`` different such ports (asked for one at a time, the system may hand out the
    same port twice, and a site's web and SMTP listeners would clash)."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def make_community(
    session: DbSession, slug: str = "housing", *, policy: str = "members", private: bool = False, visibility: str = ""
) -> Community:
    return create_community(session, slug, slug.title(), policy=policy, private=private, visibility=visibility)


def make_member(
    session: DbSession,
    community: Community,
    address: str,
    *,
    role: Role = Role.member,
    delivery: Delivery = Delivery.each,
    status: MemberStatus = MemberStatus.active,
) -> Membership:
    """A person with ``address`` as primary email, member of ``community`` (creating the person if new)."""
    known = session.scalar(select(UserEmail).where(UserEmail.email == address))
    user = (
        known.user
        if known
        else User(
            display_name=address.split("@")[0].title(),
            emails=[UserEmail(email=address, is_primary=True, verified=True)],
        )
    )
    membership = Membership(community=community, user=user, role=role, delivery=delivery, status=status)
    session.add(membership)
    session.flush()
    return membership


@dataclass(frozen=True)
class Received:
    """One message as the sink accepted it."""

    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    message: EmailMessage


class _Handler:
    """aiosmtpd handler: scripted replies at RCPT, recording at DATA."""

    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        reply = self.sink.scripted_reply(address)
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        self.sink.record(
            Received(
                mail_from=envelope.mail_from or "",
                rcpt_tos=list(envelope.rcpt_tos),
                raw=raw,
                message=email.message_from_bytes(raw, policy=email.policy.default),
            )
        )
        return "250 2.0.0 OK: queued"


class SmtpSink:
    """A smarthost that accepts everything, except what a test scripts it to refuse.

    ``reply_for[address]`` makes RCPT TO that address answer differently: a string is the
    reply every time (``"550 5.1.1 no such user"``); a list is a queue of replies used one
    per attempt, after which the address is accepted again
    (``["451 4.3.0 try later"]`` defers it once).
    """

    def __init__(self, port: int | None = None, on_message: Callable[[Received], None] | None = None) -> None:
        self.port = port or free_port()
        self.messages: list[Received] = []
        self.reply_for: dict[str, str | list[str]] = {}
        self._on_message = on_message
        self._changed = threading.Condition()
        # No size limit: refusing big messages is listbridge's job, not the smarthost's.
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port, data_size_limit=None)

    def start(self) -> SmtpSink:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def scripted_reply(self, address: str) -> str | None:
        with self._changed:
            script = self.reply_for.get(address)
            if isinstance(script, list):
                return script.pop(0) if script else None
            return script

    def record(self, received: Received) -> None:
        if self._on_message is not None:
            self._on_message(received)
        with self._changed:
            self.messages.append(received)
            self._changed.notify_all()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """Wait until at least ``count`` messages arrived; fail the test naming what did arrive."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.messages) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    got = [(m.mail_from, m.rcpt_tos, m.message.get("Subject")) for m in self.messages]
                    raise AssertionError(f"SMTP sink got {len(self.messages)} of {count} messages in {timeout}s: {got}")
                self._changed.wait(left)
            return list(self.messages)


def _store_as_eml(directory: Path) -> Callable[[Received], None]:
    """A sink callback that writes each message like a local delivery agent would.

    ``Return-Path`` and one ``X-Original-To`` per recipient carry the envelope, so a test
    reading the files sees who the message was really sent to, not only its headers.
    """
    counter = itertools.count(1)
    lock = threading.Lock()

    def store(received: Received) -> None:
        head = f"Return-Path: <{received.mail_from}>\r\n".encode()
        head += b"".join(f"X-Original-To: {rcpt}\r\n".encode() for rcpt in received.rcpt_tos)
        with lock:
            name = f"{next(counter):06d}.eml"
        tmp = directory / f".{name}.tmp"
        tmp.write_bytes(head + received.raw)
        tmp.replace(directory / name)  # readers never see a half-written message

    return store


def _serve_sink(directory: Path, port_file: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    # A plain flag: a handler that takes a lock (Event.set) can deadlock on the lock held by
    # the code it interrupted (Event.wait), and the sink would never stop.
    stopping: list[bool] = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(True))
    with SmtpSink(on_message=_store_as_eml(directory)) as sink:
        tmp = port_file.with_name(port_file.name + ".tmp")
        tmp.write_text(f"{sink.port}\n")
        tmp.replace(port_file)
        while not stopping:
            time.sleep(0.2)


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[0] != "sink":
        print("usage: python -m tests.support sink DIR PORTFILE", file=sys.stderr)
        return 2
    _serve_sink(Path(argv[1]), Path(argv[2]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))


def browser_session(sessions: SessionMaker[DbSession], user_id: int) -> str:
    """A web session signed in as ``user_id``, started as signing in starts one: the key
    the session cookie carries (``web.auth.SESSION_KEY``)."""
    with sessions.begin() as session:
        return browser_sessions.start(session, user_id)


def through_the_gateway(
    site: Site, sessions: SessionMaker[DbSession], raw: bytes, sender: str, to: str
) -> tuple[Reply, list[str]]:
    """One message to one address by the gateway's own steps, without a socket: the DATA
    answer, then (only if it was 250) the message spooled and processed, and the outcomes."""
    with sessions() as session:
        [reply] = judging.judge(session, site, raw, sender, [to])
    if reply.code != 250:
        return reply, []
    with sessions.begin() as session:
        inbound_id = spooling.spool(session, raw, sender, [to], "smtp")
    with sessions.begin() as session:
        return reply, processing.process(session, site, inbound_id)
