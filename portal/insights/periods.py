"""How the reports cut time into years: the charity's financial year (the default) or rolling 12-month
periods ending on the chosen end date; and the words that say which one a report uses."""
from __future__ import annotations

import calendar
from datetime import date, timedelta

from portal.giving.services import add_months

BASES = {"fy": "Financial years", "rolling": "Rolling 12 months"}


def fy_start(day: date, start_month: int) -> date:
    """The first day of the financial year that contains `day`."""
    year = day.year if day.month >= start_month else day.year - 1
    return date(year, start_month, 1)


def fy_label(start: date) -> str:
    """FY 2025/26 for a year starting in April 2025; FY 2025 for a calendar year."""
    if start.month == 1:
        return f"FY {start.year}"
    return f"FY {start.year}/{(start.year + 1) % 100:02d}"


def fy_name(start: date, end: date) -> str:
    """The year's label, saying "to date" when the period stops before the year ends."""
    full_end = add_months(start, 12) - timedelta(days=1)
    return fy_label(start) + ("" if end >= full_end else f" to {end:%-d %b %Y}")


def describe(basis: str, start_month: int, end: date) -> str:
    """The period definition in words, for the page and the CSV."""
    if basis == "fy":
        example = date(end.year, start_month, 1)
        last = add_months(example, 12) - timedelta(days=1)
        return (f"Financial years starting 1 {calendar.month_name[start_month]} ({fy_label(example)} is "
                f"{example:%-d %b %Y} to {last:%-d %b %Y}); the latest year runs to {end:%-d %b %Y}.")
    return f"Rolling 12-month periods ending on {end:%-d %b %Y}."


def year_starts(end: date, start_month: int, back_to: date, limit: int) -> list[date]:
    """Financial-year starts from the year containing `end` back to the one containing `back_to`, newest
    first, at most `limit`."""
    starts = [fy_start(end, start_month)]
    while starts[-1] > back_to and len(starts) < limit:
        starts.append(add_months(starts[-1], -12))
    return starts
