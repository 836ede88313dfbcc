"""IMAP ingestion: list mail fetched from a mailbox, for sites that cannot point an MX at us.

A council on Microsoft 365 or Exchange can usually give listbridge a mailbox (with the list
addresses as its aliases) long before it can change where its mail is delivered. The
poller reads that mailbox and feeds each message through the gateway's own steps
(:func:`.judging.judge`, :func:`.spooling.spool`, :func:`.processing.process`), so it is
routed exactly as SMTP would route it: to the recipients named by ``Delivered-To`` / ``X-Original-To`` /
``Envelope-To`` (what the delivering server wrote), else by ``To`` and ``Cc``, keeping
those on our list domain.

Its promises, like the SMTP gateway's "250 means stored":

* a message leaves the folder (moved to ``processed_folder``) only after it is committed;
* it is never stored twice: each is recorded under its IMAP URL with UIDVALIDITY and UID
  (RFC 5092), so a crash between storing and moving leaves a message that is moved, not
  stored again, next time;
* it waits with IDLE where the server offers it (new mail arrives within a second) and
  polls otherwise, and after any failure it reconnects with exponential backoff.

imapclient is blocking, so the poller is a thread of its own; stopping it takes at most a
second (IDLE is checked in one-second slices).
"""

from __future__ import annotations

import contextlib
import logging
import shlex
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses
from urllib.parse import quote

from imapclient import IMAPClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from forum.config import ImapSettings
from forum.errors import ConfigError, describe
from forum.models import InboundMessage
from forum.site import Site
from mailgateway.addresses import split_address
from mailgateway.incoming import judging, spooling

log = logging.getLogger(__name__)

ENVELOPE_HEADERS = ("Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To")
FETCH_BATCH = 20  # messages fetched at once: bounded memory with 25 MB messages
IDLE_SLICE_SECONDS = 1.0  # how often an IDLE wait looks at the stop flag
CONNECT_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class Addressing:
    """Who a fetched message was for, as the gateway would have heard it over SMTP."""

    mail_from: str
    rcpts: tuple[str, ...]


def addressing(raw: bytes, mail_domain: str) -> Addressing:
    """Envelope sender from ``Return-Path``; recipients on ``mail_domain`` from the headers
    the delivering server wrote, else from ``To`` and ``Cc`` (Exchange writes none)."""
    headers = BytesHeaderParser(policy=compat32).parsebytes(raw)

    def ours(*names: str) -> tuple[str, ...]:
        found = getaddresses([str(v) for name in names for v in headers.get_all(name, [])])
        return tuple(dict.fromkeys(a.lower() for _, a in found if split_address(a)[1] == mail_domain))

    return_path = getaddresses([str(headers.get("Return-Path", ""))])
    from_ = getaddresses([str(headers.get("From", ""))])
    # No Return-Path at all (some servers drop it) is not a bounce's empty one: use From.
    mail_from = return_path[0][1] if "Return-Path" in headers else (from_[0][1] if from_ else "")
    return Addressing(mail_from, ours(*ENVELOPE_HEADERS) or ours("To", "Cc"))


def source_ref(settings: ImapSettings, uidvalidity: int, uid: int) -> str:
    """RFC 5092 IMAP URL of one message: the same message always has the same one."""
    return (
        f"imap://{quote(settings.user, safe='')}@{settings.host}:{settings.port}/"
        f"{quote(settings.folder)};UIDVALIDITY={uidvalidity}/;UID={uid}"
    )


class ImapPoller:
    """Fetches, stores and moves list mail until :meth:`stop`; see the module docstring."""

    def __init__(self, site: Site, sessions: sessionmaker[Session], on_spooled: Callable[[int], None]) -> None:
        self.site = site
        self.settings = site.settings.imap
        self.sessions = sessions
        self.on_spooled = on_spooled  # called from this thread with each stored message's id
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self.run, name="imap", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(CONNECT_TIMEOUT_SECONDS + 5)

    def run(self) -> None:
        s = self.settings
        pause = 1.0
        while not self._stop.is_set():
            try:
                client = self._connect()
            except Exception as exc:  # noqa: BLE001 - refused, TLS, login, DNS: all mean "try again later"
                log.warning(
                    "IMAP %s:%d: cannot connect as %s: %s; again in %.0f s",
                    s.host,
                    s.port,
                    s.user,
                    describe(exc),
                    pause,
                )
                self._stop.wait(pause)
                pause = min(pause * 2, s.reconnect_max_seconds)
                continue
            pause = 1.0
            try:
                self._serve(client)
            except Exception as exc:  # noqa: BLE001 - the connection broke (a server restart, a timeout)
                log.warning("IMAP %s:%d: connection lost: %s; reconnecting", s.host, s.port, describe(exc))
                self._stop.wait(pause)
            finally:
                _close(client)

    def _connect(self) -> IMAPClient:
        s = self.settings
        client = IMAPClient(s.host, port=s.port, ssl=s.tls, timeout=CONNECT_TIMEOUT_SECONDS)
        try:
            if s.oauth2_token_command:
                client.oauth2_login(s.user, oauth2_token(s.oauth2_token_command))
            else:
                client.login(s.user, s.password)
            if not client.folder_exists(s.processed_folder):
                client.create_folder(s.processed_folder)
        except BaseException:
            _close(client)
            raise
        log.info(
            "IMAP %s:%d: reading %s as %s (%s)",
            s.host,
            s.port,
            s.folder,
            s.user,
            "IDLE" if s.idle and client.has_capability("IDLE") else f"polling every {s.poll_seconds:g} s",
        )
        return client

    def _serve(self, client: IMAPClient) -> None:
        while not self._stop.is_set():
            uidvalidity = int(client.select_folder(self.settings.folder)[b"UIDVALIDITY"])
            self.ingest(client, uidvalidity)
            self._wait(client)

    def ingest(self, client: IMAPClient, uidvalidity: int) -> int:
        """Store and move every message in the folder; the number stored (not seen before)."""
        stored = 0
        uids = sorted(client.search(["ALL"]))
        for start in range(0, len(uids), FETCH_BATCH):
            batch = uids[start : start + FETCH_BATCH]
            for uid, data in sorted(client.fetch(batch, ["BODY.PEEK[]"]).items()):
                if self._stop.is_set():
                    return stored
                inbound_id = self._store(bytes(data[b"BODY[]"]), source_ref(self.settings, uidvalidity, uid))
                if inbound_id is not None:
                    stored += 1
                    self.on_spooled(inbound_id)
                self._move(client, uid)
        return stored

    def _store(self, raw: bytes, ref: str) -> int | None:
        """Spool one message unless its URL is already stored; the id to process, if any."""
        with self.sessions.begin() as session:
            if session.scalar(select(InboundMessage.id).where(InboundMessage.source_ref == ref)) is not None:
                log.info("IMAP message %s was stored before; moving it only", ref)
                return None
            to = addressing(raw, self.site.mail_domain)
            replies = judging.judge(session, self.site, raw, to.mail_from, list(to.rcpts))
            accepted = [r for r, reply in zip(to.rcpts, replies, strict=True) if reply.code == 250]
            refused = [
                f"{r}: {reply.line}" for r, reply in zip(to.rcpts, replies, strict=True) if reply.code != 250
            ] or [f"refused: no recipient on {self.site.mail_domain} in {', '.join(ENVELOPE_HEADERS)}, To or Cc"]
            inbound_id = spooling.spool(session, raw, to.mail_from, accepted, "imap", source_ref=ref, refused=refused)
        log.info(
            "IMAP message %s stored as inbound %s for %s",
            ref,
            inbound_id,
            ", ".join(accepted) or "nobody",
            extra={"recipient": ",".join(to.rcpts), "sender": to.mail_from},
        )
        return inbound_id if accepted else None

    def _move(self, client: IMAPClient, uid: int) -> None:
        target = self.settings.processed_folder
        if client.has_capability("MOVE"):
            client.move([uid], target)
            return
        client.copy([uid], target)
        client.delete_messages([uid])
        if client.has_capability("UIDPLUS"):
            client.uid_expunge([uid])
        else:
            client.expunge()

    def _wait(self, client: IMAPClient) -> None:
        """Until new mail may have come, ``poll_seconds`` pass, or we are told to stop."""
        seconds = self.settings.poll_seconds
        if not (self.settings.idle and client.has_capability("IDLE")):
            self._stop.wait(seconds)
            return
        deadline = time.monotonic() + seconds
        client.idle()
        try:
            while not self._stop.is_set() and (left := deadline - time.monotonic()) > 0:
                responses = client.idle_check(timeout=min(IDLE_SLICE_SECONDS, left))
                if any(isinstance(r, tuple) and len(r) > 1 and r[1] in (b"EXISTS", b"RECENT") for r in responses):
                    return
        finally:
            client.idle_done()


def oauth2_token(command: str) -> str:
    """The access token ``[imap] oauth2_token_command`` prints (its last non-empty line)."""
    try:
        done = subprocess.run(shlex.split(command), capture_output=True, text=True, timeout=60, check=False)
    except (OSError, ValueError, subprocess.TimeoutExpired) as exc:
        raise ConfigError(f"setting [imap] oauth2_token_command {command!r} could not run: {exc}") from None
    lines = [line.strip() for line in done.stdout.splitlines() if line.strip()]
    if done.returncode != 0 or not lines:
        why = done.stderr.strip().splitlines()[-1:] or [f"exit status {done.returncode}, no output"]
        raise ConfigError(f"setting [imap] oauth2_token_command {command!r} gave no token: {why[0]}")
    return lines[-1]


def _close(client: IMAPClient) -> None:
    try:
        client.logout()
    except Exception:  # noqa: BLE001 - the connection may be gone already
        with contextlib.suppress(Exception):  # closing a dead socket: nothing left to do
            client.shutdown()
