"""When digests fall due: each member's hour in their own time zone, every day or on the
site's weekday.

A *slot* is the moment one digest is due, in UTC: 07:00 in Europe/London is 07:00 UTC in
winter and 06:00 UTC in summer. Slots are made from the local date with zoneinfo, so a day
on which the clocks change still has exactly one: an hour the clocks skip (02:30 on a
spring morning in New York) falls at the moment it would have been before the change,
which the clocks show as an hour later, and an hour they repeat falls at its first
occurrence.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from forum.config import WEEKDAYS, DigestSettings
from forum.models import Delivery

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Schedule:
    """One member's digest times: ``hour`` in ``zone``, daily or on ``weekday`` (0 = Monday)."""

    zone: ZoneInfo
    hour: int
    weekday: int | None = None

    @property
    def length(self) -> timedelta:
        return timedelta(days=1 if self.weekday is None else 7)

    def latest(self, now: datetime) -> datetime:
        """The newest slot at or before ``now``: what the scheduler sends. However many slots
        were missed while nothing ran, only this one is owed."""
        return self._slot(self._latest_day(now))

    def next(self, now: datetime) -> datetime:
        """The first slot after ``now``: what an operator's ``digest run`` sends early to a
        member who has had the latest."""
        return self._slot(self._latest_day(now) + self.length)

    def _latest_day(self, now: datetime) -> date:
        start = self._start(now)
        return start if self._slot(start) <= now else start - self.length

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(self.zone)

    def _start(self, now: datetime) -> date:
        day = self.local(now).date()
        return day if self.weekday is None else day - timedelta(days=(day.weekday() - self.weekday) % 7)

    def _slot(self, day: date) -> datetime:
        return datetime.combine(day, time(self.hour), tzinfo=self.zone).astimezone(UTC)


class Schedules:
    """Members' schedules for one period, from their own zone and hour or the site's.

    Made once per distinct (zone, hour): seventy thousand members share a few dozen.
    """

    def __init__(self, settings: DigestSettings, period: Delivery) -> None:
        self._zone = ZoneInfo(settings.timezone)
        self._hour = settings.hour
        self._weekday = WEEKDAYS.index(settings.weekday) if period is Delivery.weekly else None
        self._made: dict[tuple[str | None, int | None], Schedule] = {}

    def of(self, zone_name: str | None, hour: int | None) -> Schedule:
        key = (zone_name, hour)
        schedule = self._made.get(key)
        if schedule is None:
            schedule = self._made[key] = Schedule(
                self._zone_named(zone_name), hour if hour is not None and 0 <= hour <= 23 else self._hour, self._weekday
            )
        return schedule

    def _zone_named(self, name: str | None) -> ZoneInfo:
        if not name:
            return self._zone
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            log.warning("unknown time zone %r of a member; using the site's, %s", name, self._zone.key)
            return self._zone
