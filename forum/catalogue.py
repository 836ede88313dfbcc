"""The catalogue of communities: which a person may find, searched, filtered by category,
sorted and counted.

A community is *listed* to a person by ``forum.access.listed_for``, a rule beside
``forum.access.readable_by``: a space can be listed without its content being readable
(a restricted one), and the catalogue, the home page and every count of categories must
agree on it, so it lives with the other access rules.

Each page is one query for its rows with their counts (members, latest activity, the
viewer's own membership) joined in from grouped subqueries, plus one for the total and
one for the categories in use: the cost does not grow with the communities on a page.
Searching folds case and diacritics ("Tŷ" finds "ty") the same way on every database,
which SQL's LIKE cannot do: the names and purposes of the listed communities are read
once (a few hundred kilobytes at a site's size) and matched in Python.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, func, null, select
from sqlalchemy.orm import Session

from forum.access import listed_for
from forum.archive import Pagination
from forum.collation import WELSH, welsh_key
from forum.errors import InvalidInput
from forum.models import Community, Membership, MemberStatus, Thread, Visibility

CATEGORY_LENGTH = 60


class Sort(str, Enum):
    activity = "activity"  # latest post first; communities with none last
    size = "size"  # most members first
    name = "name"


@dataclass(frozen=True)
class Entry:
    """A community as the catalogue shows it."""

    slug: str
    name: str
    description: str
    category: str
    visibility: Visibility
    members: int
    last_activity_at: datetime | None
    viewer_status: MemberStatus | None  # the viewer's own membership, if any
    archived: bool

    @property
    def private(self) -> bool:
        return self.visibility is Visibility.private

    @property
    def restricted(self) -> bool:
        return self.visibility is Visibility.restricted

    @property
    def is_member(self) -> bool:
        return self.viewer_status is MemberStatus.active


@dataclass(frozen=True)
class Category:
    label: str
    count: int


@dataclass(frozen=True)
class CataloguePage:
    entries: list[Entry]
    pagination: Pagination
    categories: list[Category]  # of every community the viewer may find, with their counts


def fold(text: str) -> str:
    """``text`` for matching: lower case, without diacritics, spaces collapsed."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return " ".join("".join(ch for ch in decomposed if not unicodedata.combining(ch)).split())


def normalize_category(text: str) -> str:
    """A category as stored: spaces collapsed and trimmed; "" for none; InvalidInput if too long."""
    label = " ".join(text.split())
    if len(label) > CATEGORY_LENGTH:
        raise InvalidInput(f"a category is a short label of at most {CATEGORY_LENGTH} characters, not {len(label)}")
    return label


def category_label(session: Session, text: str) -> str:
    """The category ``text`` names, spelt as communities already use it when one does
    ("housing" joins "Housing"), so the catalogue's filter lists each category once."""
    label = normalize_category(text)
    if not label:
        return ""
    existing = session.scalar(
        select(Community.category).where(func.lower(Community.category) == label.lower()).limit(1)
    )
    return existing or label


def categories(session: Session, viewer_id: int | None) -> list[Category]:
    """The categories of the communities the viewer may find, by label, with how many each."""
    rows = session.execute(
        select(Community.category, func.count())
        .where(listed_for(viewer_id), Community.category != "")
        .group_by(Community.category)
        .order_by(func.lower(Community.category))
    )
    return [Category(label, count) for label, count in rows]


def catalogue(
    session: Session,
    viewer_id: int | None,
    *,
    q: str = "",
    category: str = "",
    sort: Sort = Sort.activity,
    page: int = 1,
    per_page: int = 50,
    everything: bool = False,
    language: str = "en",
) -> CataloguePage:
    """One page of the communities the viewer may find (``everything``: all of them, for a
    site administrator), matching ``q`` (in the name or purpose) and ``category`` when given.

    Sorted by name on a Welsh page, the names follow Welsh order, which no database
    collation here knows: the matching names are read and sorted here (forum.collation).
    """
    where = [] if everything else [listed_for(viewer_id)]
    if category.strip():
        where.append(func.lower(Community.category) == " ".join(category.split()).lower())
    if q.strip():
        where.append(Community.id.in_(_matching(session, where, q)))
    total = session.scalar(select(func.count()).select_from(Community).where(*where)) or 0
    pagination = Pagination(max(1, page), per_page, total)
    if sort is Sort.name and language == WELSH:
        names = sorted(
            session.execute(select(Community.id, Community.name).where(*where)),
            key=lambda row: (welsh_key(row.name), row.id),
        )
        page_ids = [row.id for row in names[pagination.offset : pagination.offset + per_page]]
        found = {row.id: row for row in session.execute(_entries(viewer_id, sort).where(Community.id.in_(page_ids)))}
        rows: Any = [found[i] for i in page_ids]
    else:
        rows = session.execute(_entries(viewer_id, sort).where(*where).limit(per_page).offset(pagination.offset))
    return CataloguePage([_entry(row) for row in rows], pagination, categories(session, viewer_id))


def communities_of(session: Session, user_id: int) -> list[Entry]:
    """Every community ``user_id`` is an active member of, latest activity first."""
    mine = select(Membership.community_id).where(
        Membership.user_id == user_id, Membership.status == MemberStatus.active
    )
    return [_entry(row) for row in session.execute(_entries(user_id, Sort.activity).where(Community.id.in_(mine)))]


def _matching(session: Session, where: list[ColumnElement[bool]], q: str) -> list[int]:
    words = fold(q[:200]).split()
    rows = session.execute(select(Community.id, Community.name, Community.description).where(*where))
    return [cid for cid, name, description in rows if all(w in fold(f"{name} {description}") for w in words)]


def _entries(viewer_id: int | None, sort: Sort) -> Select[Any]:
    members = (
        select(Membership.community_id, func.count().label("members"))
        .where(Membership.status == MemberStatus.active)
        .group_by(Membership.community_id)
        .subquery()
    )
    activity = (
        select(Thread.community_id, func.max(Thread.last_activity_at).label("last_activity_at"))
        .where(Thread.post_count > 0)
        .group_by(Thread.community_id)
        .subquery()
    )
    mine = select(Membership.community_id, Membership.status).where(Membership.user_id == viewer_id).subquery()
    count = func.coalesce(members.c.members, 0)
    by_name = (func.lower(Community.name), Community.id)
    order = {
        Sort.activity: (activity.c.last_activity_at.is_(None), activity.c.last_activity_at.desc(), *by_name),
        Sort.size: (count.desc(), *by_name),
        Sort.name: by_name,
    }[sort]
    query = (
        select(
            Community.id,
            Community.slug,
            Community.name,
            Community.description,
            Community.category,
            Community.visibility,
            Community.archived_at,
            count.label("members"),
            activity.c.last_activity_at,
            (mine.c.status if viewer_id is not None else null()).label("status"),
        )
        .outerjoin(members, members.c.community_id == Community.id)
        .outerjoin(activity, activity.c.community_id == Community.id)
        .order_by(*order)
    )
    return query if viewer_id is None else query.outerjoin(mine, mine.c.community_id == Community.id)


def _entry(row: Row[Any]) -> Entry:
    return Entry(
        slug=row.slug,
        name=row.name,
        description=row.description,
        category=row.category,
        visibility=row.visibility,
        members=row.members,
        last_activity_at=row.last_activity_at,
        viewer_status=row.status,
        archived=row.archived_at is not None,
    )
