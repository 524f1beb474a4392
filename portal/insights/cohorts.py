"""Cohort matrix: donors grouped by the month or year of their first gift (rows), and the share of each
group who gave in each month or year since (columns). Read from the activity masks of the milestones."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Callable, Iterator

from sqlalchemy import Select, func, select

from portal.extensions import db
from portal.giving.services import add_months
from portal.insights import milestones
from portal.insights.filters import DateRange, ReportParams
from portal.insights.models import DonorMilestones
from portal.insights.retention_report import rate_cell
from portal.sql import has_bit, without_jit
from portal.timeutil import utcnow

M = DonorMilestones
GRAINS = {"month": "By month", "year": "By year"}
MAX_COLUMNS = {"month": 60, "year": milestones.MASK_BITS}
MAX_YEARS = {"month": 5, "year": 30}
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
DEFINITIONS = {
    "cohort": "A cohort is everyone whose first gift fell in that month (or year), by the calendar in UTC.",
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

    def row_label(self, row: CohortRow) -> str:
        return key_label(self.grain, row.key)

    def column_label(self, index: int) -> str:
        return f"{'Month' if self.grain == 'month' else 'Year'} {index}"

    @property
    def donors(self) -> int:
        return sum(row.size for row in self.rows)


def key_label(grain: str, key: int) -> str:
    return f"{MONTHS[key % 12]} {key // 12}" if grain == "month" else str(key)


def _key(grain: str, day: date | datetime) -> int:
    return day.year * 12 + day.month - 1 if grain == "month" else day.year


def compute(params: ReportParams, *, tz_name: str, donor_filter: Select | None = None, as_of: datetime | None = None,
            progress: Callable[[int, int, str], None] = lambda *_: None) -> CohortReport:
    grain = params.grain if params.grain in GRAINS else "month"
    now_key = _key(grain, as_of or utcnow())
    # Cohorts are whole calendar periods, matched on the stored period key so no donor falls between them.
    first_key, last_key = _key(grain, params.range.start), min(_key(grain, params.range.end), now_key)
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

