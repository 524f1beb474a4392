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


# Reports over one stretch of time (a funnel cohort, lifetime value's acquisition window) cover whole
# financial years by default, or whole rolling 12-month windows ending on the end date, or exactly the
# dates chosen.
WINDOW_BASES = {"fy": "Financial years", "rolling": "Rolling 12 months", "custom": "Custom range"}


def window(basis: str, start_month: int, start: date, end: date) -> date:
    """The first day of the window a report covers for the chosen dates: the start of the financial year or
    of the rolling 12-month period containing `start`, or `start` itself for a custom range."""
    if basis == "fy":
        return fy_start(start, start_month)
    if basis == "rolling":
        first = add_months(end + timedelta(days=1), -12)
        while first > start:
            first = add_months(first, -12)
        return first
    return start


def describe_window(basis: str, start_month: int, start: date, end: date) -> str:
    """The window's definition in words, for the page and the CSV."""
    if basis == "fy":
        first, last = fy_start(start, start_month), fy_start(end, start_month)
        years = fy_label(first) if first == last else f"{fy_label(first)} to {fy_label(last)}"
        return (f"Financial years starting 1 {calendar.month_name[start_month]}: {years} "
                f"({start:%-d %b %Y} to {end:%-d %b %Y}, the latest year running to the end date).")
    if basis == "rolling":
        after = end + timedelta(days=1)
        count = max(1, ((after.year - start.year) * 12 + after.month - start.month) // 12)
        return (f"Rolling 12-month periods ending on {end:%-d %b %Y}: {count} of them "
                f"({start:%-d %b %Y} to {end:%-d %b %Y}).")
    return f"Custom range: {start:%-d %b %Y} to {end:%-d %b %Y}."


def fy_range(value: str, start_month: int, today: date) -> tuple[date, date] | None:
    """'FY2025' -> the financial year starting in 2025 (to today while it is still running); None when it
    is not one."""
    year = value.strip().upper().removeprefix("FY")
    if not (year.isdigit() and 1900 <= int(year) <= 2100):
        return None
    first = date(int(year), start_month, 1)
    return first, min(add_months(first, 12) - timedelta(days=1), max(today, first))


def financial_years(today: date, start_month: int, count: int) -> list[tuple[str, str]]:
    """The last `count` financial years, newest first, as (value, label): ('FY2025', 'FY 2025/26')."""
    first = fy_start(today, start_month)
    return [(f"FY{add_months(first, -12 * k).year}", fy_label(add_months(first, -12 * k))) for k in range(count)]
