"""Telling the people who run the site (``[site] operators``) about what needs one of them.

A notice to the operators is queued like any other notice, once per ``key`` and address
however often the cause recurs (several workers, restarts, a thousand copies of one
post). It is marked :data:`TO_OPERATORS` in its payload, so that mail delivery never
reports a failure of such a notice with another one.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from forum import outbox
from forum.config import Settings

TO_OPERATORS = "to_operators"  # payload key of a notice to the operators


def tell(session: Session, settings: Settings, *, key: str, subject: str, text: str) -> int:
    """Queue ``subject`` and ``text`` to every operator unless queued for ``key`` before;
    returns how many were queued (none when no operator is configured)."""
    queued = 0
    for address in settings.site.operators:
        queued += outbox.enqueue_notice(
            session,
            dedupe_key=f"operators:{key}:{address.lower()}"[:200],
            address=address,
            payload={"subject": subject, "text": text, TO_OPERATORS: True},
        )
    return queued
