"""The inbound spool: every message stored exactly as received, before the 250.

Keeping the spool as raw bytes means what we store is exactly what we were sent; a
message is processed from it (:mod:`.processing`) and stays pending until that commits,
so a crash loses nothing. One whose processing holds everything else up is set aside
(shunted) until its cause is dealt with.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import cast

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from forum.errors import NotFound
from forum.models import InboundMessage, InboundStatus, utcnow

log = logging.getLogger(__name__)


def spool(
    session: Session,
    raw: bytes,
    mail_from: str,
    rcpts: list[str],
    channel: str,
    *,
    client_ip: str | None = None,
    source_ref: str | None = None,
    refused: Sequence[str] = (),
) -> int:
    """Store a message exactly as received; its id is what :func:`.processing.process` takes.

    ``source_ref`` names where it was fetched from (unique: never stored twice). A message
    no recipient accepted (``refused`` says why) is stored as done, as the record of it.
    """
    values: dict[str, object] = {
        "raw": raw,
        "mail_from": mail_from or "",
        "rcpt_to": list(rcpts),
        "channel": channel,
        "client_ip": client_ip,
        "source_ref": source_ref,
    }
    if not rcpts:
        values.update(status=InboundStatus.done, outcome="\n".join(refused), processed_at=utcnow())
    # A plain INSERT, built once: the gateway stores every message while its sender waits.
    # Through the unit of work, or with the values in the statement (the raw message then
    # part of the statement's cache key), storing took much of the listener's CPU.
    return session.connection().execute(_SPOOL, values).scalar_one()


_INBOUND = cast(Table, InboundMessage.__table__)  # typed as any FromClause; a mapped class's is its Table
_SPOOL = insert(_INBOUND).returning(_INBOUND.c.id)


def pending(session: Session) -> list[int]:
    """Spooled messages not processed yet (after a crash or a stop), oldest first."""
    return list(
        session.scalars(
            select(InboundMessage.id).where(InboundMessage.status == InboundStatus.pending).order_by(InboundMessage.id)
        )
    )


def shunt(session: Session, inbound_id: int, reason: str) -> None:
    """Set a pending message aside: processing it took too long. It stays as it was sent,
    for :func:`unshunt` once its cause is dealt with."""
    row = session.get(InboundMessage, inbound_id)
    if row is not None and row.status is InboundStatus.pending:
        row.status = InboundStatus.shunted
        row.outcome = reason
        log.warning("inbound message %s shunted: %s", inbound_id, reason)


def shunted(session: Session) -> list[InboundMessage]:
    """The messages set aside, oldest first."""
    return list(
        session.scalars(
            select(InboundMessage).where(InboundMessage.status == InboundStatus.shunted).order_by(InboundMessage.id)
        )
    )


def unshunt(session: Session, inbound_id: int) -> None:
    """Put a message set aside back in the queue, to be processed again."""
    row = session.get(InboundMessage, inbound_id)
    if row is None or row.status is not InboundStatus.shunted:
        raise NotFound(f"no message {inbound_id} is set aside (see listbridge shunt list)")
    row.status = InboundStatus.pending
    row.outcome = ""
