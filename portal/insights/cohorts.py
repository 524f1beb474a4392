"""Cohort matrix: donors grouped by the month or year of their first gift (rows), and the share of each
group who gave in each month or year since (columns). Read from the activity masks of the milestones."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Callable, Iterator

from sqlalchemy import Select, func, select

from portal.extensions import db
from portal.giving.services import add_months
from portal.giving.models import DonorStats, Gift
from portal.insights import milestones, periods
from portal.insights.milestones import RECEIVED
from portal.insights.filters import DateRange, ReportParams
from portal.insights.models import DonorMilestones
from portal.insights.retention_report import rate_cell
from portal.sql import has_bit, month_index, without_jit
from portal.timeutil import utcnow

M = DonorMilestones
GRAINS = {"month": "By month", "year": "By year"}  # years are financial years (params.fy_start)
MAX_COLUMNS = {"month": 60, "year": milestones.MASK_BITS}
MAX_YEARS = {"month": 5, "year": 30}
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
DEFINITIONS = {
    "cohort": "A cohort is everyone whose first gift fell in that month (or financial year), by the calendar in UTC.",
    "cell": "Each cell is the share of the cohort who gave at least once in that month (or year) after their first; month 0 is the first gift itself, so it is always 100%.",
    "partial": "Cells for the current month or year are still filling up; empty cells haven't happened yet.",
}


@dataclass
class CohortCell:
    donors: int
    percent: float
    partial: bool  # the period is still running


@dataclass
class CohortRow:
    key: int  # month index (year * 12 + month - 1) or year
    size: int
    cells: list[CohortCell | None]  # None: that period hasn't started yet


@dataclass
class CohortReport:
    start: date
    end: date
    grain: str
    columns: int
    rows: list[CohortRow]
    truncated: bool  # more periods have passed than the matrix shows
    fy_start: int = 1  # the month yearly cohorts start in

    def row_label(self, row: CohortRow) -> str:
        if self.grain == "year" and self.fy_start != 1:
            return periods.fy_label(date(row.key, self.fy_start, 1))
        return key_label(self.grain, row.key)

    def column_label(self, index: int) -> str:
        return f"{'Month' if self.grain == 'month' else 'Year'} {index}"

    @property
    def donors(self) -> int:
        return sum(row.size for row in self.rows)


def key_label(grain: str, key: int) -> str:
    return f"{MONTHS[key % 12]} {key // 12}" if grain == "month" else str(key)


def _key(grain: str, day: date | datetime, fy_start: int = 1) -> int:
    """The month index, or the year a financial year starts in."""
    return day.year * 12 + day.month - 1 if grain == "month" else periods.fy_start(day, fy_start).year


def _fy_year(column, fy_start: int):
    """In SQL: the year the financial year holding this date starts in (UTC calendar)."""
    return (month_index(column) - (fy_start - 1)) // 12


def compute(params: ReportParams, *, tz_name: str, donor_filter: Select | None = None, as_of: datetime | None = None,
            progress: Callable[[int, int, str], None] = lambda *_: None) -> CohortReport:
    grain = params.grain if params.grain in GRAINS else "month"
    fy_start = params.fy_start if grain == "year" and params.fy_start else 1
    now_key = _key(grain, as_of or utcnow(), fy_start)
    # Cohorts are whole calendar periods, matched on the stored period key so no donor falls between them.
    first_key, last_key = _key(grain, params.range.start, fy_start), min(_key(grain, params.range.end, fy_start), now_key)
    if fy_start != 1:
        return _financial_year_cohorts(params, first_key, last_key, now_key, fy_start, donor_filter, progress)
    progress(0, 2, "Bringing journey milestones up to date")
    milestones.refresh()
    without_jit()
    key_column = M.first_month if grain == "month" else M.first_year
    mask = M.months_mask if grain == "month" else M.years_mask
    in_range = [key_column >= first_key, key_column <= last_key]
    if donor_filter is not None:
        in_range.append(M.donor_id.in_(donor_filter))
    # Columns run from the oldest cohort that has donors, not from an empty start of the range.
    oldest = db.session.scalar(select(func.min(key_column)).where(*in_range))
    available = now_key - (oldest if oldest is not None else first_key) + 1
    columns = max(1, min(available, MAX_COLUMNS[grain]))
    query = (select(key_column, func.count(), *[func.sum(has_bit(mask, p)) for p in range(columns)])
             .where(*in_range).group_by(key_column).order_by(key_column))
    progress(1, 2, "Counting who gave in each period")
    rows = []
    for key, size, *gave in db.session.execute(query):
        cells: list[CohortCell | None] = []
        for period, count in enumerate(gave):
            if key + period > now_key:
                cells.append(None)
            else:
                cells.append(CohortCell(int(count), round(100 * int(count) / size, 1), key + period == now_key))
        rows.append(CohortRow(int(key), int(size), cells))
    progress(2, 2, "Done")
    return CohortReport(params.range.start, params.range.end, grain, columns, rows, available > columns)


def _financial_year_cohorts(params: ReportParams, first_key: int, last_key: int, now_key: int, fy_start: int,
                            donor_filter: Select | None, progress: Callable[[int, int, str], None]) -> CohortReport:
    """Yearly cohorts over financial years that don't start in January, which the milestones' calendar-year
    masks can't answer: each donor's first financial year and the financial years they gave in, from the
    gifts themselves."""
    without_jit()
    progress(0, 2, "Finding each donor's first financial year")
    cohort = _fy_year(DonorStats.first_gift_at, fy_start)
    donors = select(DonorStats.donor_id, cohort.label("cohort")).where(
        DonorStats.first_gift_at.is_not(None), cohort >= first_key, cohort <= last_key)
    if donor_filter is not None:
        donors = donors.where(DonorStats.donor_id.in_(donor_filter))
    donors = donors.subquery("cohort_donors")
    gave = (select(Gift.donor_id, _fy_year(Gift.received_at, fy_start).label("year")).where(RECEIVED)
            .where(Gift.donor_id.in_(select(donors.c.donor_id))).distinct().subquery("years_given"))
    sizes = dict(db.session.execute(select(donors.c.cohort, func.count()).group_by(donors.c.cohort)).all())
    progress(1, 2, "Counting who gave in each year")
    counts = db.session.execute(select(donors.c.cohort, gave.c.year - donors.c.cohort, func.count())
                                .join(gave, gave.c.donor_id == donors.c.donor_id)
                                .group_by(donors.c.cohort, gave.c.year - donors.c.cohort)).all()
    given = {(int(key), int(offset)): int(count) for key, offset, count in counts}
    oldest = min(sizes, default=first_key)
    available = now_key - oldest + 1
    columns = max(1, min(available, MAX_COLUMNS["year"]))
    rows = []
    for key in sorted(sizes):
        size = int(sizes[key])
        cells: list[CohortCell | None] = []
        for offset in range(columns):
            if key + offset > now_key:
                cells.append(None)
            else:
                count = given.get((int(key), offset), 0)
                cells.append(CohortCell(count, round(100 * count / size, 1), key + offset == now_key))
        rows.append(CohortRow(int(key), size, cells))
    progress(2, 2, "Done")
    return CohortReport(params.range.start, params.range.end, "year", columns, rows, available > columns, fy_start)


def csv_rows(report: CohortReport) -> Iterator[list]:
    yield ["cohort", "donors"] + [report.column_label(i).lower().replace(" ", "_") + "_percent" for i in range(report.columns)]
    for row in report.rows:
        yield [report.row_label(row), row.size] + ["" if cell is None else rate_cell(cell.percent) for cell in row.cells]


def default_range(today: date, grain: str = "month") -> DateRange:
    """The last 12 months' cohorts, or the last five years' for yearly cohorts."""
    if grain == "year":
        return DateRange(date(today.year - 4, 1, 1), today)
    return DateRange(add_months(today.replace(day=1), -11), today)


def max_years(grain: str) -> int:
    return MAX_YEARS.get(grain, MAX_YEARS["month"])

