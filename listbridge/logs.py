"""Logging set-up: one line per event, with the structured fields callers pass in ``extra``.

Fields such as message_id, community, recipient, post_id and outbox_id are appended as
``key=value`` so a grep for one address or Message-ID follows a message through the
gateway, the core and delivery.
"""

from __future__ import annotations

import logging
import sys

FIELDS = ("message_id", "community", "post_id", "outbox_id", "recipient", "sender", "smtp_reply")


class FieldFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = [f"{k}={getattr(record, k)!s}" for k in FIELDS if getattr(record, k, None) not in (None, "")]
        return f"{line} {' '.join(extras)}" if extras else line


def configure(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(FieldFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd's per-command chatter
    logging.getLogger("alembic").setLevel(logging.WARNING)  # the start-up schema check
