"""When digests fall due: each member's hour in their own zone, one slot a day (or week),
including the days the clocks change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from digest.slots import Schedule, Schedules
from forum import config
from forum.errors import ConfigError
from forum.models import Delivery

LONDON, NEW_YORK, KOLKATA = ZoneInfo("Europe/London"), ZoneInfo("America/New_York"), ZoneInfo("Asia/Kolkata")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("zone", "hour", "now", "latest", "following"),
    [
        # London in winter is UTC; in summer an hour ahead.
        (LONDON, 7, "2025-01-15 07:00", "2025-01-15 07:00", "2025-01-16 07:00"),
        (LONDON, 7, "2025-01-15 06:59", "2025-01-14 07:00", "2025-01-15 07:00"),
        (LONDON, 7, "2025-07-15 06:30", "2025-07-15 06:00", "2025-07-16 06:00"),
        # The clocks go forward at 01:00 UTC on 30 March 2025: 07:00 that day is 06:00 UTC.
        (LONDON, 7, "2025-03-30 05:59", "2025-03-29 07:00", "2025-03-30 06:00"),
        (LONDON, 7, "2025-03-30 06:00", "2025-03-30 06:00", "2025-03-31 06:00"),
        # …and back at 01:00 UTC on 26 October.
        (LONDON, 7, "2025-10-26 06:30", "2025-10-25 06:00", "2025-10-26 07:00"),
        # New York skips 02:00-03:00 on 9 March 2025: a 02:00 digest goes at 03:00 EDT (07:00 UTC).
        (NEW_YORK, 2, "2025-03-09 06:59", "2025-03-08 07:00", "2025-03-09 07:00"),
        (NEW_YORK, 2, "2025-03-09 07:00", "2025-03-09 07:00", "2025-03-10 06:00"),
        # …and repeats 01:00-02:00 on 2 November: a 01:00 digest goes at the first one (05:00 UTC).
        (NEW_YORK, 1, "2025-11-02 05:00", "2025-11-02 05:00", "2025-11-03 06:00"),
        # Half-hour zones: 07:00 in Kolkata is 01:30 UTC.
        (KOLKATA, 7, "2025-06-01 01:30", "2025-06-01 01:30", "2025-06-02 01:30"),
        # A member's "today" is their own: at 23:00 UTC it is already tomorrow in Kolkata.
        (KOLKATA, 7, "2025-06-01 23:00", "2025-06-01 01:30", "2025-06-02 01:30"),
    ],
)
def test_daily_slots(zone: ZoneInfo, hour: int, now: str, latest: str, following: str) -> None:
    schedule = Schedule(zone, hour)
    assert schedule.latest(at(now)) == at(latest)
    assert schedule.next(at(now)) == at(following)


@pytest.mark.parametrize(
    ("now", "latest", "following"),
    [
        ("2025-01-15 12:00", "2025-01-13 07:00", "2025-01-20 07:00"),  # a Wednesday: this Monday's
        ("2025-01-13 06:00", "2025-01-06 07:00", "2025-01-13 07:00"),  # Monday before the hour: last week's
        ("2025-01-19 23:59", "2025-01-13 07:00", "2025-01-20 07:00"),  # Sunday night: still this week's
    ],
)
def test_weekly_slots_fall_on_the_weekday(now: str, latest: str, following: str) -> None:
    schedule = Schedule(LONDON, 7, weekday=0)
    assert schedule.latest(at(now)) == at(latest)
    assert schedule.next(at(now)) == at(following)
    assert schedule.length == timedelta(days=7)


@pytest.mark.parametrize(
    ("zone", "hour", "start"),
    [
        (LONDON, 7, "2025-03-28 00:00"),
        (LONDON, 1, "2025-03-28 00:00"),
        (LONDON, 1, "2025-10-24 00:00"),
        (NEW_YORK, 2, "2025-03-07 00:00"),
        (NEW_YORK, 1, "2025-10-31 00:00"),
        (KOLKATA, 7, "2025-03-28 00:00"),
    ],
)
def test_a_scheduler_ticking_every_quarter_hour_finds_one_slot_a_day_through_a_clock_change(
    zone: ZoneInfo, hour: int, start: str
) -> None:
    schedule = Schedule(zone, hour)
    ticks = [at(start) + timedelta(minutes=15 * i) for i in range(4 * 24 * 4)]
    slots = sorted({schedule.latest(tick) for tick in ticks})
    days = [slot.astimezone(zone).date() for slot in slots]
    assert len(days) == len(set(days)), "two slots on one local day"
    assert all(later - earlier == timedelta(days=1) for earlier, later in pairwise(days)), "a day without a slot"
    for slot in slots:  # at the member's hour, or the first moment after it on a day that skips it
        local = slot.astimezone(zone)
        assert local.hour in (hour, hour + 1) and local.minute == 0


def test_members_without_a_zone_or_hour_get_the_sites_and_unknown_zones_fall_back() -> None:
    settings = config.DigestSettings(hour=8, timezone="Europe/Paris", weekday="friday")
    schedules = Schedules(settings, Delivery.weekly)
    assert schedules.of(None, None) == Schedule(ZoneInfo("Europe/Paris"), 8, weekday=4)
    assert schedules.of("Asia/Tokyo", 6) == Schedule(ZoneInfo("Asia/Tokyo"), 6, weekday=4)
    assert schedules.of("Mars/Olympus_Mons", 25) == Schedule(ZoneInfo("Europe/Paris"), 8, weekday=4)
    assert Schedules(settings, Delivery.daily).of(None, 6).weekday is None


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"hour": 24}, r"\[digest\] hour must be from 0 to 23"),
        ({"timezone": "Europe/Londinium"}, r"\[digest\] timezone 'Europe/Londinium' is not a time zone"),
        ({"weekday": "mon"}, r"\[digest\] weekday must be one of monday"),
    ],
)
def test_digest_settings_are_checked_when_read(values: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config.from_dict({"site": {"mail_domain": "x.org", "secret_key": "0123456789abcdef"}, "digest": values})
