"""Times as people read them: in the reader's own zone, else the site's, in one format.

Every channel shows a moment through :func:`readable` (web pages, digests, anything mail
says), so a post reads "3 Mar 2025, 14:05 GMT" wherever it is seen, and "3 Jul 2025,
15:05 BST" in summer. The site's zone is ``[digest] timezone`` (Europe/London unless
set): the zone of visitors and of members who chose none.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import format_date

from forum.config import Settings


def site_zone(settings: Settings) -> ZoneInfo:
    return ZoneInfo(settings.digest.timezone)


def reader_zone(name: str | None, settings: Settings) -> ZoneInfo:
    """The zone a member chose, or the site's when they chose none (or one no longer known)."""
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return site_zone(settings)


def readable(moment: datetime, zone: ZoneInfo, locale: str = "en") -> str:
    """``moment`` in ``zone``: "3 Mar 2025, 14:05 GMT"; in Welsh (``locale`` "cy") "3 Maw 2025, 14:05 GMT"."""
    local = moment.astimezone(zone)
    return f"{format_date(local, 'd MMM y', locale=locale)}, {local:%H:%M} {local.tzname()}"
