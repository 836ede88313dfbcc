"""What became of each copy, and how outcomes are written: in one transaction per flush."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import timedelta

from forum import outbox

FIELDS = "outbox=%s post=%s rcpt=%s reply=%r"  # every delivery log line names these


class Outcome(enum.Enum):
    done = "done"
    retry = "retry"
    failed = "failed"


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    reply: str  # the smarthost's reply, or what went wrong
    connection_lost: bool = False


@dataclass
class Ledger:
    """Outcomes waiting to be written, in one transaction per flush."""

    done: list[int] = field(default_factory=list)
    retry: list[tuple[int, str, timedelta]] = field(default_factory=list)
    failed: list[tuple[int, str]] = field(default_factory=list)
    released: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.done) + len(self.retry) + len(self.failed) + len(self.released)

    def take(self) -> Ledger:
        taken = Ledger(self.done, self.retry, self.failed, self.released)
        self.done, self.retry, self.failed, self.released = [], [], [], []
        return taken

    def merge(self, other: Ledger) -> None:
        self.done += other.done
        self.retry += other.retry
        self.failed += other.failed
        self.released += other.released

    def write(self, session: outbox.Executor) -> None:
        outbox.mark_done(session, self.done)
        for item_id, error, delay in self.retry:
            outbox.retry_later(session, item_id, error, delay)
        for item_id, error in self.failed:
            outbox.mark_failed(session, item_id, error)
        outbox.release(session, self.released)
