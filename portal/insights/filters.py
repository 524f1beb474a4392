"""The date range every report is filtered by: parsing, limits, and the messages for bad input."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Mapping

from portal.timeutil import local_midnight, to_local, utcnow

EARLIEST = date(1900, 1, 1)
LATEST = date(2100, 12, 31)


@dataclass(frozen=True)
class DateRange:
    start: date
    end: date  # inclusive

    def bounds(self, tz_name: str) -> tuple[datetime, datetime]:
        """[start, end] as naive UTC datetimes: local midnight of start to local midnight after end."""
        return local_midnight(self.start, tz_name), local_midnight(self.end + timedelta(days=1), tz_name)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def to_params(self) -> dict[str, str]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat()}

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> "DateRange":
        return cls(date.fromisoformat(params["start"]), date.fromisoformat(params["end"]))


@dataclass(frozen=True)
class ReportParams:
    """What a report is computed for: a date range, and for some reports a grain, a number of days, a survey,
    or how years are counted (periods.BASES; fy_start is the financial year's first month, part of the
    parameters so a snapshot is recomputed when the setting changes)."""

    range: DateRange
    grain: str = ""
    days: int = 0
    survey: int = 0  # satisfaction: one survey's responses (0: every survey)
    basis: str = ""
    fy_start: int = 0

    @property
    def fy_start_month(self) -> int:
        """The financial year's first month when years are financial years, else 0 (rolling periods)."""
        return self.fy_start if self.basis == "fy" else 0

    def to_params(self) -> dict[str, str | int]:
        params: dict[str, str | int] = self.range.to_params()
        if self.grain:
            params["grain"] = self.grain
        if self.days:
            params["days"] = self.days
        if self.survey:
            params["survey"] = self.survey
        if self.basis:
            params["basis"] = self.basis
        if self.fy_start:
            params["fy_start"] = self.fy_start
        return params

    @classmethod
    def from_params(cls, params: Mapping[str, str | int]) -> "ReportParams":
        return cls(DateRange.from_params(params), str(params.get("grain", "")), int(params.get("days", 0)),
                   int(params.get("survey", 0)), str(params.get("basis", "")), int(params.get("fy_start", 0)))


def today_local(tz_name: str) -> date:
    return to_local(utcnow(), tz_name).date()


class RangeErrors(dict):
    """Field name -> message, for the start and end inputs."""


def _parse_day(raw: str, label: str, errors: RangeErrors, name: str) -> date | None:
    raw = raw.strip()
    if not raw:
        return None
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        errors[name] = f"Enter the {label} as a date such as 2025-01-31."
        return None
    if not EARLIEST <= day <= LATEST:
        errors[name] = f"Choose a {label} between {EARLIEST.year} and {LATEST.year}."
        return None
    return day


def parse_range(args: Mapping[str, str], default: DateRange, *, max_years: int,
                today: date) -> tuple[DateRange, RangeErrors]:
    """The range from `start` and `end` query parameters; blank ones take the default's value.

    Returns the default range alongside the messages when the input is unusable, so the page can show
    the form with the messages in place instead of a report.
    """
    errors = RangeErrors()
    start = _parse_day(args.get("start") or "", "start date", errors, "start")
    end = _parse_day(args.get("end") or "", "end date", errors, "end")
    if errors:
        return default, errors
    chosen = DateRange(start or default.start, end or default.end)
    if chosen.end < chosen.start:
        errors["end"] = (f"The end date ({chosen.end:%-d %b %Y}) is before the start date "
                         f"({chosen.start:%-d %b %Y}). Swap them or choose a later end date.")
    elif chosen.start > today:
        errors["start"] = f"The range starts after today ({today:%-d %b %Y}), so nothing has happened in it yet."
    elif chosen.days > max_years * 366:
        errors["start"] = (f"That range covers {chosen.days // 365} years; this report looks at up to "
                           f"{max_years} years at a time. Choose a later start date.")
    return (default, errors) if errors else (chosen, errors)


def quarter_range(text: str) -> DateRange | None:
    """'2025-Q3' -> 1 Jul 2025 to 30 Sep 2025; None when it is not a quarter."""
    year, _, quarter = text.strip().upper().partition("-Q")
    if not (year.isdigit() and quarter in {"1", "2", "3", "4"}):
        return None
    year_number = int(year)
    if not EARLIEST.year <= year_number <= LATEST.year:
        return None
    first_month = 3 * (int(quarter) - 1) + 1
    start = date(year_number, first_month, 1)
    end = date(year_number + (first_month + 3 > 12), (first_month + 2) % 12 + 1, 1) - timedelta(days=1)
    return DateRange(start, end)


def recent_quarters(today: date, count: int) -> list[tuple[str, str]]:
    """The last `count` quarters, newest first, as (value, label): ('2025-Q3', 'Jul–Sep 2025')."""
    labels = {1: "Jan–Mar", 2: "Apr–Jun", 3: "Jul–Sep", 4: "Oct–Dec"}
    year, quarter = today.year, (today.month - 1) // 3 + 1
    result = []
    for _ in range(count):
        result.append((f"{year}-Q{quarter}", f"{labels[quarter]} {year}"))
        year, quarter = (year - 1, 4) if quarter == 1 else (year, quarter - 1)
    return result

