"""One connection to the smarthost, reused for message after message.

Each message is one transaction (MAIL, RCPT, DATA) with a VERP envelope sender. DATA is
written by hand rather than by aiosmtplib's ``sendmail()``, so that the delivery worker
can wait, before the final dot that commits the smarthost to a copy, until the previous
copy's outcome is committed (:mod:`.delivery`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable

import aiosmtplib
from aiosmtplib import SMTPStatus

from forum.config import SmtpOutSettings

RECONNECT_MAX_SECONDS = 30.0


class Unsendable(Exception):
    """A message no smarthost would take as it is: a permanent failure, not a retry."""


class Connection:
    """One smarthost connection, opened on first use and reused until it breaks."""

    def __init__(self, settings: SmtpOutSettings, local_hostname: str) -> None:
        self.settings = settings
        self.local_hostname = local_hostname
        self.failed_opens = 0  # consecutive; the sender pauses longer after each
        self._smtp: aiosmtplib.SMTP | None = None

    @property
    def is_open(self) -> bool:
        return self._smtp is not None and self._smtp.is_connected

    async def open(self) -> None:
        """Connect, EHLO, STARTTLS and AUTH as configured."""
        s = self.settings
        smtp = aiosmtplib.SMTP(
            hostname=s.host,
            port=s.port,
            local_hostname=self.local_hostname,
            timeout=s.timeout_seconds,
            start_tls=s.starttls,
            username=s.username or None,
            password=s.password or None,
        )
        try:
            await smtp.connect()
            if smtp.last_ehlo_response is None:  # connect() only says EHLO when STARTTLS or AUTH need it
                await smtp.ehlo()
        except BaseException:
            self.failed_opens += 1
            smtp.close()
            raise
        self.failed_opens = 0
        self._smtp = smtp

    async def send(
        self, sender: str, recipient: str, message: bytes, before_end: Callable[[], Awaitable[None]] | None = None
    ) -> str:
        """One transaction (MAIL, RCPT, DATA); the server's final reply.

        ``before_end`` is awaited after the message's content is written and before the
        final dot that commits the smarthost to it (see :mod:`.delivery`).

        Not aiosmtplib's ``sendmail()``: its DATA step rewrites every line ending with two
        regular-expression passes over the message, much of the event loop's work in a
        fan-out, and its MAIL and RCPT parse each address again. Composed messages have
        CRLF line endings by construction and addresses come validated from the database,
        so only dot-stuffing is left, which ``bytes.replace`` does at once.
        """
        smtp = self._smtp
        assert smtp is not None
        if not (sender.isascii() and recipient.isascii()):
            raise Unsendable(
                f"{recipient} is not an ASCII address: sending to it needs SMTPUTF8, which listbridge does not use"
            )
        size = [f"SIZE={len(message)}".encode()] if smtp.supports_extension("size") else []
        try:
            reply = await smtp.execute_command(b"MAIL", f"FROM:<{sender}>".encode("ascii"), *size)
            if reply.code != SMTPStatus.completed:
                raise aiosmtplib.SMTPSenderRefused(reply.code, reply.message, sender)
            reply = await smtp.execute_command(b"RCPT", f"TO:<{recipient}>".encode("ascii"))
            if reply.code not in (SMTPStatus.completed, SMTPStatus.will_forward):
                raise aiosmtplib.SMTPRecipientRefused(reply.code, reply.message, recipient)
            reply = await smtp.execute_command(b"DATA")
            if reply.code != SMTPStatus.start_input:
                raise aiosmtplib.SMTPDataError(reply.code, reply.message)
            if smtp.protocol is None:
                raise aiosmtplib.SMTPServerDisconnected("connection lost before the message was sent")
            smtp.protocol.write(_dot_stuffed(message))
            if before_end is not None:
                await before_end()
            if smtp.protocol is None:
                raise aiosmtplib.SMTPServerDisconnected("connection lost before the message was ended")
            smtp.protocol.write(b".\r\n")
            reply = await smtp.protocol.read_response(timeout=smtp.timeout)
            if reply.code != SMTPStatus.completed:
                raise aiosmtplib.SMTPDataError(reply.code, reply.message)
        except aiosmtplib.SMTPResponseException:
            with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                await smtp.rset()  # a clean slate for the connection's next message
            raise
        return f"{reply.code} {reply.message}"

    def abort(self) -> None:
        if self._smtp is not None:
            self._smtp.close()
            self._smtp = None

    async def close(self) -> None:
        if self.is_open:
            assert self._smtp is not None
            with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                await self._smtp.quit()
        self.abort()

    def pause_seconds(self) -> float:
        return min(RECONNECT_MAX_SECONDS, 0.25 * 2**self.failed_opens) if self.failed_opens else 0.0


def _dot_stuffed(message: bytes) -> bytes:
    """RFC 5321 4.5.2: a line that starts with a period gets another, so none ends DATA early."""
    stuffed = message.replace(b"\r\n.", b"\r\n..")
    stuffed = b"." + stuffed if stuffed.startswith(b".") else stuffed
    return stuffed if stuffed.endswith(b"\r\n") else stuffed + b"\r\n"
