"""The headline numbers for the back-office home: a few figures from the reports, each with its trend."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Callable

from sqlalchemy import Select, func, select

from portal.extensions import db
from portal.giving.models import DonorStats, Gift
from portal.giving.services import add_months
from portal.insights import periods, retention_report
from portal.insights.cohorts import key_label
from portal.insights.filters import DateRange, ReportParams
from portal.insights.milestones import RECEIVED
from portal.sql import month_index, without_jit
from portal.timeutil import local_midnight

DEFINITIONS = {
    "given": "Received gifts in the current year (refunds excluded): the financial year so far, or the last 12 months; the line shows each month.",
    "new_donors": "Donors whose first ever gift was in the current year; the line shows each month.",
    "new_retention": "New-donor retention (FEP): of the donors whose first gift was in the previous year, the share who gave again in the current one; the line shows the past periods.",
    "lybunt": "Gave in the previous year but not yet in the current one; the line shows the same count for past periods.",
}


@dataclass
class Series:
    labels: list[str]
    values: list[float]


@dataclass
class HeadlineReport:
    as_of: date
    given_minor: int
    given_by_month: Series
    new_donors: int
    new_by_month: Series
    new_retention_rate: float | None
    repeat_retention_rate: float | None
    new_retention_by_period: Series
    lybunt: int
    lybunt_minor: int
    lybunt_by_period: Series
    period: str = "the last 12 months"  # the current year in words: "FY 2026/27 so far"


def compute(params: ReportParams, *, tz_name: str, donor_filter: Select | None = None,
            progress: Callable[[int, int, str], None] = lambda *_: None) -> HeadlineReport:
    today = params.range.end
    first_month = add_months(today.replace(day=1), -11)
    period = "the last 12 months"
    if params.fy_start_month:  # the financial year so far, month by month
        first_month = periods.fy_start(today, params.fy_start_month)
        period = f"{periods.fy_label(first_month)} so far"
    months = (today.year - first_month.year) * 12 + today.month - first_month.month + 1
    low, high = local_midnight(first_month, tz_name), local_midnight(today + timedelta(days=1), tz_name)
    month_keys = [(first_month.year * 12 + first_month.month - 1) + i for i in range(months)]
    labels = [key_label("month", key) for key in month_keys]
    without_jit()
    progress(0, 3, "Adding up the last 12 months")
    month = month_index(Gift.received_at)
    query = select(month, func.sum(Gift.amount_minor)).where(RECEIVED, Gift.received_at >= low, Gift.received_at < high)
    if donor_filter is not None:
        query = query.where(Gift.donor_id.in_(donor_filter))
    given = {int(key): int(total) for key, total in db.session.execute(query.group_by(month))}
    progress(1, 3, "Counting new donors")
    first = month_index(DonorStats.first_gift_at)
    query = select(first, func.count()).where(DonorStats.first_gift_at >= low, DonorStats.first_gift_at < high)
    if donor_filter is not None:
        query = query.where(DonorStats.donor_id.in_(donor_filter))
    new = {int(key): int(count) for key, count in db.session.execute(query.group_by(first))}
    progress(2, 3, "Working out retention")
    if params.fy_start_month:
        years = ReportParams(DateRange(add_months(first_month, -36), today), basis="fy", fy_start=params.fy_start)
    else:
        years = ReportParams(retention_report.default_range(today))
    report = retention_report.compute(years, tz_name=tz_name, donor_filter=donor_filter)
    current = report.current
    progress(3, 3, "Done")
    return HeadlineReport(
        as_of=today,
        given_minor=sum(given.values()),
        given_by_month=Series(labels, [given.get(key, 0) / 100 for key in month_keys]),
        new_donors=sum(new.values()),
        new_by_month=Series(labels, [float(new.get(key, 0)) for key in month_keys]),
        new_retention_rate=current.new_retention_rate,
        repeat_retention_rate=current.repeat_retention_rate,
        new_retention_by_period=Series([p.label for p in report.periods], [p.new_retention_rate or 0.0 for p in report.periods]),
        lybunt=report.lybunt.donors,
        lybunt_minor=report.lybunt.amount_minor,
        lybunt_by_period=Series([p.label for p in report.periods], [float(p.previous_donors - p.retained) for p in report.periods]),
        period=period,
    )


def default_range(today: date) -> DateRange:
    return DateRange(today, today)
