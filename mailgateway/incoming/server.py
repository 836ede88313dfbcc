"""The SMTP and LMTP listener (aiosmtpd).

The handler is thin: it hands each protocol moment to the synchronous core in the
listener's database thread (:mod:`mailgateway.incoming.gateway_db`) so the event loop never waits
on the database, and it answers 250 only once the message is committed.
Processing into posts happens right after, off the SMTP conversation, through
``on_spooled`` (the runtime's processing queue).

LMTP (RFC 2033) answers DATA once per recipient, in RCPT order; aiosmtpd sends whatever
``handle_DATA`` returns, so the handler joins one line per recipient.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, Envelope
from aiosmtpd.smtp import Session as SMTPSession
from sqlalchemy.orm import Session, sessionmaker

from forum.errors import ListbridgeError
from forum.models import Community
from forum.site import Site
from mailgateway.addresses import Route, reverse_path
from mailgateway.incoming import judging, recipients, spooling
from mailgateway.incoming.gateway_db import GatewayDB

log = logging.getLogger(__name__)

# Real clients send lines longer than RFC 5321's 1,000 characters; accept them (up to the
# message size limit) rather than refusing the whole message with "500 Line too long".
LONG_LINE_LIMIT = 8 * 1024 * 1024


class GatewayEnvelope(Envelope):
    """aiosmtpd's envelope, with the recipients found at RCPT: DATA, in the same
    transaction, judges the message by them instead of looking each one up again (a
    cost bench/README.md measures)."""

    def __init__(self) -> None:
        super().__init__()
        self.found: dict[str, tuple[Route, Community | None]] = {}


class _ListbridgeProtocol:
    """Mixin: long lines accepted, aiosmtpd's size refusals given enhanced status codes,
    an envelope that keeps what RCPT found, connections past the caps turned away, and
    a connection left idle told why it is closed."""

    line_length_limit = LONG_LINE_LIMIT
    data_size_limit: int | None
    event_handler: GatewayHandler
    transport: asyncio.BaseTransport | None
    _client: str | None = None  # the address counted against the caps; None: turned away

    def _create_envelope(self) -> GatewayEnvelope:
        return GatewayEnvelope()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self.transport is None:  # a new connection (not one upgraded by STARTTLS)
            peer = transport.get_extra_info("peername")
            client = str(peer[0]) if isinstance(peer, tuple) and peer else ""
            refusal = self.event_handler.connections.admit(client)
            if refusal:
                log.info("connection refused: %s", refusal, extra={"client": client})
                transport.write(f"{refusal}\r\n".encode())  # type: ignore[attr-defined]
                transport.close()
                return
            self._client = client
        super().connection_made(transport)  # type: ignore[misc]

    def connection_lost(self, error: Exception | None) -> None:
        if self._client is None:
            return  # turned away: aiosmtpd never saw it
        self.event_handler.connections.release(self._client)
        self._client = None
        super().connection_lost(error)  # type: ignore[misc]

    def _timeout_cb(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(b"421 4.4.2 idle too long; closing the connection\r\n")  # type: ignore[attr-defined]
        super()._timeout_cb()  # type: ignore[misc]

    async def push(self, status: str | bytes) -> None:
        if isinstance(status, str) and status.startswith("552 Error"):
            status = f"552 5.3.4 the message is larger than this server accepts ({self.data_size_limit} bytes)"
        await super().push(status)  # type: ignore[misc]


class GatewaySMTP(_ListbridgeProtocol, SMTP):
    pass


class GatewayLMTP(_ListbridgeProtocol, LMTP):
    pass


@dataclass
class ConnectionCaps:
    """Connections open at once, overall and per client address. Each costs a file
    descriptor, shared with the web server and the delivery workers: idle connections
    past the caps would take what they need."""

    overall: int
    per_client: int
    open: Counter[str] = field(default_factory=Counter)

    def admit(self, client: str) -> str:
        """The reply that turns a new connection away ("" to admit it, counted)."""
        if self.open.total() >= self.overall:
            return f"421 4.7.0 too many connections ({self.overall}); try again later"
        if self.open[client] >= self.per_client:
            return f"421 4.7.0 too many connections from {client} ({self.per_client}); try again later"
        self.open[client] += 1
        return ""

    def release(self, client: str) -> None:
        self.open[client] -= 1
        if self.open[client] <= 0:
            del self.open[client]


class GatewayHandler:
    def __init__(
        self,
        site: Site,
        sessions: sessionmaker[Session],
        readers: sessionmaker[Session],
        on_spooled: Callable[[int], None],
        protocol: str,
    ) -> None:
        self.site = site
        self.on_spooled = on_spooled
        self.lmtp = protocol == "lmtp"
        self.in_flight = 0  # DATA commands being stored; a clean stop waits for them
        self.db = GatewayDB(sessions, readers)
        limits = site.settings.smtp_in
        self.connections = ConnectionCaps(limits.max_connections, limits.max_connections_per_client)

    def _check_recipient(self, address: str, sender: str, session: Session) -> tuple[Route, Community | None] | str:
        try:
            return recipients.recipient(session, self.site, address, sender)
        except ListbridgeError as exc:
            return exc.smtp_reply

    async def handle_RCPT(
        self, server: SMTP, session: SMTPSession, envelope: GatewayEnvelope, address: str, rcpt_options: list[str]
    ) -> str:
        most = self.site.settings.smtp_in.max_recipients
        if len(envelope.rcpt_tos) >= most:  # RFC 5321 4.5.3.1.8: the client sends the rest later
            return f"452 4.5.3 too many recipients (at most {most} a message); send to the rest in another message"
        found = await self.db.read(partial(self._check_recipient, address, reverse_path(envelope.mail_from or "")))
        if isinstance(found, str):
            log.info("refused at RCPT: %s", found, extra={"recipient": address, "sender": envelope.mail_from})
            return found
        envelope.rcpt_tos.append(address)
        envelope.found[address] = found
        return "250 2.1.5 recipient ok"

    def _judge(
        self,
        raw: bytes,
        mail_from: str,
        rcpts: list[str],
        client_ip: str | None,
        found: dict[str, tuple[Route, Community | None]],
        session: Session,
    ) -> list[judging.Reply]:
        return judging.judge(session, self.site, raw, mail_from, rcpts, client_ip, found)

    def _spool(
        self,
        raw: bytes,
        mail_from: str,
        rcpts: list[str],
        client_ip: str | None,
        session: Session,
        replies: list[judging.Reply],
    ) -> tuple[list[judging.Reply], int | None]:
        """Store the message for the recipients whose check accepted it."""
        accepted = [r for r, reply in zip(rcpts, replies, strict=True) if reply.code == 250]
        if not accepted:
            return replies, None
        return replies, spooling.spool(
            session, raw, mail_from, accepted, "lmtp" if self.lmtp else "smtp", client_ip=client_ip
        )

    def _sending_server(self, session: SMTPSession) -> str | None:
        """The address SPF is checked against: the client's, when it is the sender's own
        server on the internet. A relay in front of us (LMTP from Postfix, Exchange on the
        council's network, anything on loopback) is not in the sender's SPF record; its
        ``Authentication-Results`` are the witness then (``trusted_authserv_ids``)."""
        peer = session.peer[0] if isinstance(session.peer, tuple) and session.peer else None
        try:
            return peer if peer and not self.lmtp and ipaddress.ip_address(peer).is_global else None
        except ValueError:
            return None

    async def handle_DATA(self, server: SMTP, session: SMTPSession, envelope: GatewayEnvelope) -> str:
        raw = envelope.original_content or b""
        self.in_flight += 1
        try:
            message = (
                raw,
                reverse_path(envelope.mail_from or ""),
                list(envelope.rcpt_tos),
                self._sending_server(session),
            )
            replies, inbound_id = await self.db.store(
                partial(self._judge, *message, envelope.found), partial(self._spool, *message)
            )
        except Exception:
            log.exception("could not store an incoming message", extra={"sender": envelope.mail_from})
            failure = judging.Reply(451, "4.3.0 temporary failure storing the message; try again later")
            replies, inbound_id = [failure] * len(envelope.rcpt_tos), None
        finally:
            self.in_flight -= 1
        if inbound_id is not None:
            self.on_spooled(inbound_id)
        if self.lmtp:
            return "\r\n".join(r.line for r in replies)
        return _single_reply(replies).line


def _single_reply(replies: list[judging.Reply]) -> judging.Reply:
    """SMTP has one DATA reply for all recipients: accept if any was accepted.

    Recipients refused at DATA while others were accepted are recorded with the message;
    refusing the whole transaction would bounce it for the members who may post.
    """
    accepted = [r for r in replies if r.code == 250]
    return accepted[0] if accepted else replies[0]


async def start_server(handler: GatewayHandler, host: str, port: int, max_bytes: int) -> asyncio.AbstractServer:
    """Listen on host:port in the running loop; the caller closes the returned server."""
    loop = asyncio.get_running_loop()
    cls: Any = GatewayLMTP if handler.lmtp else GatewaySMTP

    def factory() -> SMTP:
        return cls(
            handler,
            data_size_limit=max_bytes,
            enable_SMTPUTF8=True,
            hostname=handler.site.mail_domain,
            ident="listbridge",
            loop=loop,
            timeout=handler.site.settings.smtp_in.idle_timeout_seconds,
        )

    return await loop.create_server(factory, host=host, port=port)
