"""Every error listbridge reports to a person, in one hierarchy.

Each class carries its meaning in every protocol a channel speaks, so a channel never
invents its own mapping: the SMTP gateway answers ``smtp_code`` + ``smtp_status``, the web
answers ``http_status``, the CLI prints ``str(error)`` on one line and exits non-zero.
The message is written for the human at the other end (a sender, an operator); one that
reaches a person is a :class:`forum.translatable.Message`, which each channel renders in
its reader's language (``said``), while ``message`` is its English::

    ListbridgeError                    451 4.3.0 / 500
     ├── ConfigError                   missing or invalid setting (names the key)
     ├── InvalidInput                  501 5.5.4 / 400   bad address, bad CSV row, bad slug
     │    └── MalformedMessage         550 5.6.0 / 400   mail we cannot read at all
     ├── NotFound                      550 5.1.1 / 404   unknown community, address form, token
     ├── NotSupported                  550 5.3.3 / 404   an address form not offered yet
     ├── NotPermitted                  550 5.7.1 / 403   not a member, banned, read-only
     │    └── RateLimited              450 4.7.1 / 429   too many requests of one kind: later
     ├── TooLarge                      552 5.3.4 / 413
     └── Dropped                       250 2.6.0 / 202   auto-replies and loops: accepted, never posted
"""

from __future__ import annotations

from forum.translatable import Message


class ListbridgeError(Exception):
    """Base class: a human-readable message plus its protocol meanings."""

    smtp_code: int = 451
    smtp_status: str = "4.3.0"
    http_status: int = 500

    def __init__(self, message: str | Message) -> None:
        self.said = message if isinstance(message, Message) else Message(message)
        self.message = str(self.said)
        super().__init__(self.message)

    @property
    def smtp_reply(self) -> str:
        """The full SMTP reply line, e.g. ``550 5.1.1 no community "x" here``."""
        return f"{self.smtp_code} {self.smtp_status} {self.message}"


class ConfigError(ListbridgeError):
    """The configuration file is missing, unreadable, or a key is absent or invalid."""


class InvalidInput(ListbridgeError):
    smtp_code, smtp_status, http_status = 501, "5.5.4", 400


class MalformedMessage(InvalidInput):
    smtp_code, smtp_status, http_status = 550, "5.6.0", 400


class NotFound(ListbridgeError):
    smtp_code, smtp_status, http_status = 550, "5.1.1", 404


class NotSupported(ListbridgeError):
    smtp_code, smtp_status, http_status = 550, "5.3.3", 404


class NotPermitted(ListbridgeError):
    smtp_code, smtp_status, http_status = 550, "5.7.1", 403


class RateLimited(NotPermitted):
    """Too many requests of one kind (sign-in links, command replies): try again later."""

    smtp_code, smtp_status, http_status = 450, "4.7.1", 429


class TooLarge(ListbridgeError):
    smtp_code, smtp_status, http_status = 552, "5.3.4", 413


class Dropped(ListbridgeError):
    """Accepted and deliberately discarded: auto-replies, bounces sent to a list, loops.

    Answering 250 (not 5xx) is deliberate: refusing an auto-reply makes the sender's
    server generate a bounce, which is one more automatic message in the loop.
    """

    smtp_code, smtp_status, http_status = 250, "2.6.0", 202


def describe(exc: BaseException) -> str:
    """Any exception in one line, for a log or the operators: its type says most when its
    message is empty (``FileNotFoundError``, ``TimeoutError``)."""
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
