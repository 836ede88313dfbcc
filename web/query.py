"""Numbers, ids and dates from URLs, read once for every page.

What a visitor types into a URL is hostile like anything else: a page number or an id of
thirty digits does not fit a database's 64-bit integer (PostgreSQL refuses the query,
SQLite's driver raises), and a date at the end of the calendar has no next day to search
up to. Each is read here, so a bad one is a 404 or an explained form error, never a 500.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from werkzeug.routing import IntegerConverter, Map

MAX_ID = 2**63 - 1  # the largest value of a 64-bit signed integer column
MAX_PAGE = 1_000_000  # far past any listing's last page, and its offset far inside MAX_ID
EARLIEST_DATE, LATEST_DATE = date(1900, 1, 1), date(9998, 12, 31)


class IdConverter(IntegerConverter):
    """``<int:...>`` in every route: a number past :data:`MAX_ID` matches no route (404)."""

    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:  # noqa: A002 - werkzeug's name
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def query_id(text: str | None) -> int | None:
    """An id from a query string (``?parent=12``); None when it is not one."""
    text = (text or "").strip()
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(MAX_ID)):
        return None
    number = int(text)
    return number if 0 < number <= MAX_ID else None


def page_number(args: Mapping[str, str], last: int | None = None) -> int:
    """``?page=``: 1 when absent or unreadable, at most ``last`` (or :data:`MAX_PAGE`)."""
    number = query_id(args.get("page")) or 1
    return min(number, last if last is not None else MAX_PAGE)


def query_date(text: str) -> date | None:
    """A date in ISO form (2024-03-31) between :data:`EARLIEST_DATE` and :data:`LATEST_DATE`."""
    try:
        found = date.fromisoformat(text)
    except ValueError:
        return None
    return found if EARLIEST_DATE <= found <= LATEST_DATE else None
