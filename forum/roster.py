"""A community's members as its facilitators look through them: searched, filtered, a page at a time.

A community of practice can have ten thousand members, so the facilitators' list is
never read whole: each page is one query that also counts the matches (a window count),
and the summary above it is one aggregate query. The same filters drive the CSV export,
which streams every match in batches.
"""

from __future__ import annotations

import csv
import enum
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TextIO

from sqlalchemy import ColumnElement, Select, and_, case, func, or_, select
from sqlalchemy.orm import Session

from forum.models import Community, Delivery, Membership, MemberStatus, Role, User, UserEmail

PER_PAGE = 50


class BounceState(str, enum.Enum):
    ok = "ok"  # nothing bounced lately
    bouncing = "bouncing"  # some copies bounced; mail still goes
    disabled = "disabled"  # mail stopped by bounces until re-enabled


@dataclass(frozen=True)
class RosterFilter:
    """What a facilitator asked for; empty fields do not filter."""

    q: str = ""  # part of a name or address
    role: Role | None = None
    delivery: Delivery | None = None
    bounce: BounceState | None = None
    status: MemberStatus | None = None

    @property
    def active(self) -> bool:
        return bool(self.q.strip()) or any(v is not None for v in (self.role, self.delivery, self.bounce, self.status))


@dataclass(frozen=True)
class RosterLine:
    user_id: int
    email: str
    name: str
    role: Role
    delivery: Delivery
    status: MemberStatus
    joined: datetime
    bounce: BounceState
    bounce_score: float


@dataclass(frozen=True)
class RosterPage:
    lines: list[RosterLine]
    total: int  # members matching the filter
    page: int  # 1-based
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def first(self) -> int:
        """The position of the page's first line among the matches (1-based; 0 if none)."""
        return (self.page - 1) * self.per_page + 1 if self.lines else 0

    @property
    def last(self) -> int:
        return self.first + len(self.lines) - 1 if self.lines else 0


@dataclass(frozen=True)
class RosterCounts:
    """The whole community at a glance, whatever the filter."""

    members: int = 0
    facilitators: int = 0
    moderators: int = 0
    pending: int = 0
    banned: int = 0
    bouncing: int = 0
    disabled: int = 0


def _bounce_condition(state: BounceState) -> ColumnElement[bool]:
    disabled = Membership.bounce_disabled_at.is_not(None)
    if state is BounceState.disabled:
        return disabled
    if state is BounceState.bouncing:
        return and_(~disabled, Membership.bounce_score > 0)
    return and_(~disabled, Membership.bounce_score <= 0)


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


_Rows = Select[int, str, str, Role, Delivery, MemberStatus, datetime, datetime | None, float]


def _query(community: Community, wanted: RosterFilter) -> _Rows:
    query = (
        select(
            Membership.user_id,
            UserEmail.email,
            User.display_name,
            Membership.role,
            Membership.delivery,
            Membership.status,
            Membership.created_at,
            Membership.bounce_disabled_at,
            Membership.bounce_score,
        )
        .join(User, User.id == Membership.user_id)
        .join(UserEmail, (UserEmail.user_id == User.id) & UserEmail.is_primary.is_(True))
        .where(Membership.community_id == community.id)
    )
    text = wanted.q.strip().lower()
    if text:
        pattern = _like(text)
        query = query.where(
            or_(UserEmail.email.like(pattern, escape="\\"), func.lower(User.display_name).like(pattern, escape="\\"))
        )
    if wanted.role is not None:
        query = query.where(Membership.role == wanted.role)
    if wanted.delivery is not None:
        query = query.where(Membership.delivery == wanted.delivery)
    if wanted.status is not None:
        query = query.where(Membership.status == wanted.status)
    if wanted.bounce is not None:
        query = query.where(_bounce_condition(wanted.bounce))
    return query


def _line(row: tuple[Any, ...]) -> RosterLine:
    user_id, email, name, role, delivery, status, joined, disabled_at, score = row[:9]
    if disabled_at is not None:
        bounce = BounceState.disabled
    elif score > 0:
        bounce = BounceState.bouncing
    else:
        bounce = BounceState.ok
    return RosterLine(user_id, email, name, role, delivery, status, joined, bounce, score)


def roster_page(
    session: Session, community: Community, wanted: RosterFilter, page: int = 1, per_page: int = PER_PAGE
) -> RosterPage:
    """One page of the members matching ``wanted``, by name then address, with their number."""
    page = max(1, page)
    query = (
        _query(community, wanted)
        .add_columns(func.count().over().label("total"))
        .order_by(func.lower(User.display_name), UserEmail.email)
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    rows = session.execute(query).all()
    if rows:
        total = rows[0].total
    else:  # past the last page (or nothing matches): the window has no row to count on
        total = session.scalar(select(func.count()).select_from(_query(community, wanted).subquery())) or 0
    return RosterPage([_line(tuple(row)) for row in rows], total, page, per_page)


def roster_counts(session: Session, community: Community) -> RosterCounts:
    """How many members the community has of each kind, in one query."""

    def counted(condition: ColumnElement[bool]) -> ColumnElement[int]:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    row = session.execute(
        select(
            func.count(),
            counted(Membership.role == Role.facilitator),
            counted(Membership.role == Role.moderator),
            counted(Membership.status == MemberStatus.pending),
            counted(Membership.status == MemberStatus.banned),
            counted(_bounce_condition(BounceState.bouncing)),
            counted(_bounce_condition(BounceState.disabled)),
        ).where(Membership.community_id == community.id)
    ).one()
    return RosterCounts(*(int(value) for value in row))


def roster_lines(
    session: Session, community: Community, wanted: RosterFilter, *, batch: int = 1000
) -> Iterator[RosterLine]:
    """Every member matching ``wanted``, by address, read a batch at a time as it is
    consumed (each batch starts after the last address of the one before, so it needs no
    open cursor, nor a transaction to hold one)."""
    after = ""
    while True:
        query = _query(community, wanted).where(UserEmail.email > after).order_by(UserEmail.email).limit(batch)
        rows = session.execute(query).all()
        for row in rows:
            yield _line(tuple(row))
        if len(rows) < batch:
            return
        after = rows[-1][1]


# The export's columns: the import's first five (``member import`` reads the file back and
# ignores the last two), then what only the export can say.
EXPORT_COLUMNS = ("email", "name", "role", "delivery", "status", "joined", "bounce")
# A spreadsheet runs a cell that starts so as a formula (CSV injection): such a cell is
# written with a leading apostrophe, which spreadsheets show as text.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def write_roster_csv(lines: Iterable[RosterLine], out: TextIO) -> int:
    """Write ``lines`` as a spreadsheet with :data:`EXPORT_COLUMNS`; the number of rows."""
    writer = csv.writer(out)
    writer.writerow(EXPORT_COLUMNS)
    count = 0
    for line in lines:
        values = (
            line.email,
            line.name,
            line.role.value,
            line.delivery.value,
            line.status.value,
            line.joined.date().isoformat(),
            line.bounce.value,
        )
        writer.writerow([spreadsheet_safe(value) for value in values])
        count += 1
    return count
