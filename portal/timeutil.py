"""Times are stored as naive UTC and shown in the organisation's time zone."""
from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def to_local(value: datetime, tz_name: str) -> datetime:
    try:
        zone = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    return value.replace(tzinfo=timezone.utc).astimezone(zone)


def local_date_to_utc(day: date, tz_name: str) -> datetime:
    """Noon local time on that day, in UTC: a date-only entry never slips to the neighbouring day."""
    local = datetime(day.year, day.month, day.day, 12, tzinfo=ZoneInfo(tz_name))
    return local.astimezone(timezone.utc).replace(tzinfo=None)


def local_midnight(day: date, tz_name: str) -> datetime:
    """The start of a local calendar day as naive UTC: days are counted in the organisation's zone."""
    try:
        zone = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(timezone.utc).replace(tzinfo=None)
