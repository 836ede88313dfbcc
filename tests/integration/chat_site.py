"""The site both chat bridge suites run: one community, its members, one linked channel,
and what the tests read back (posts, mapped chat messages) and send in (mail).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from typing import TypeVar

from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from forum.models import ChatMessage, Post
from tests.head_schema import copy_head_schema
from tests.integration.served import ServedSite

LIST = "housing@lists.example.org"
T = TypeVar("T")


def chat_site(
    tmp_path: Path,
    db_url: str,
    smarthost_port: int,
    *,
    policy: str,
    members: tuple[str, ...],
    platform: str,
    channel: str,
    settings: str,
    max_message_bytes: int = 26_214_400,
    site_extra: str = "",
) -> ServedSite:
    """A started site whose community "housing" (``policy``) has ``members`` and lives in ``channel`` too."""
    site = ServedSite(
        tmp_path, db_url, smarthost_port, extra=settings, max_message_bytes=max_message_bytes, site_extra=site_extra
    )
    copy_head_schema(db_url)
    site.cli("community", "create", "housing", "--name", "Housing Advice", "--policy", policy)
    for address in members:
        site.cli("member", "add", "housing", address, "--name", f"{address.split('@')[0].title()} Example")
    site.cli("bridge", "link", "housing", platform, channel)
    site.start()
    wait_until(lambda: _accepts(site.web_port))  # start() waits for SMTP; chat needs the web port too
    return site


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), 0.5).close()
        return True
    except OSError:
        return False


def mail(
    sender: str,
    subject: str,
    body: str,
    message_id: str,
    in_reply_to: str | None = None,
    attachment: tuple[str, str, bytes] | None = None,
) -> bytes:
    """A message to the community; ``attachment`` is (filename, content type, bytes)."""
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"], msg["Message-ID"] = sender, LIST, subject, message_id
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    msg.set_content(body)
    if attachment:
        name, content_type, data = attachment
        maintype, subtype = content_type.split("/", 1)
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg.as_bytes()


def posts(db_url: str) -> list[Post]:
    """Every post, oldest first, with its attachments loaded."""
    engine = create_engine(db_url, poolclass=NullPool)
    try:
        with Session(engine) as session:
            found = list(session.scalars(select(Post).order_by(Post.id)))
            for post in found:
                post.attachments  # noqa: B018 - loaded while the session is open
            return found
    finally:
        engine.dispose()


def mapped_refs(db_url: str) -> list[str]:
    """The chat message ids the bridge knows (its own copies and messages it took in)."""
    engine = create_engine(db_url, poolclass=NullPool)
    try:
        with Session(engine) as session:
            return list(session.scalars(select(ChatMessage.message_ref)))
    finally:
        engine.dispose()


def wait_until(check: Callable[[], T], timeout: float = 15.0) -> T:
    deadline = time.monotonic() + timeout
    while not (result := check()):
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)
    return result
