"""Cohort matrix on a hand-built history.

    P  first gift 10 Jan 2023; again 5 Feb, 20 Apr 2023           (January cohort: months 0, 1, 3)
    Q  first gift 25 Jan 2023; again 28 Jan, 2 Mar 2023           (January cohort: months 0, 2)
    R  first gift 15 Mar 2023; again 1 May 2023                    (March cohort: months 0, 2)
    S  first gift 20 Dec 2022; again 5 Jan 2023                    (December 2022: outside Jan-Mar 2023)
"""
from datetime import date, datetime

import pytest
from sqlalchemy import select

from portal.donors.models import Donor
from portal.insights import cohorts
from portal.insights.filters import DateRange, ReportParams
from tests.conftest import make_donor, make_gift

pytestmark = pytest.mark.usefixtures("ctx")
TZ = "Europe/London"


def _history() -> dict[str, int]:
    gifts = {
        "P": [(2023, 1, 10), (2023, 2, 5), (2023, 4, 20)],
        "Q": [(2023, 1, 25), (2023, 1, 28), (2023, 3, 2)],
        "R": [(2023, 3, 15), (2023, 5, 1)],
        "S": [(2022, 12, 20), (2023, 1, 5)],
    }
    ids = {}
    for name, days in gifts.items():
        ids[name] = make_donor(first_name=name, email=f"{name.lower()}@example.org").id
        for year, month, day in days:
            make_gift(ids[name], 1000, datetime(year, month, day, 12))
    return ids


def _cells(row):
    return [None if cell is None else (cell.donors, cell.percent, cell.partial) for cell in row.cells]


def test_monthly_cohorts_share_still_giving():
    _history()
    report = cohorts.compute(ReportParams(DateRange(date(2023, 1, 1), date(2023, 3, 31)), "month"), tz_name=TZ,
                             as_of=datetime(2023, 6, 15, 12))
    assert report.columns == 6  # January to June, the month the report is run in
    assert [(report.row_label(row), row.size) for row in report.rows] == [("Jan 2023", 2), ("Mar 2023", 1)]
    january, march = report.rows
    assert _cells(january) == [(2, 100.0, False), (1, 50.0, False), (1, 50.0, False), (1, 50.0, False),
                               (0, 0.0, False), (0, 0.0, True)]
    assert _cells(march) == [(1, 100.0, False), (0, 0.0, False), (1, 100.0, False), (0, 0.0, True), None, None]


def test_yearly_cohorts():
    _history()
    report = cohorts.compute(ReportParams(DateRange(date(2022, 1, 1), date(2023, 12, 31)), "year"), tz_name=TZ,
                             as_of=datetime(2024, 3, 1, 12))
    assert [(row.key, row.size) for row in report.rows] == [(2022, 1), (2023, 3)]
    assert _cells(report.rows[0]) == [(1, 100.0, False), (1, 100.0, False), (0, 0.0, True)]
    assert _cells(report.rows[1]) == [(3, 100.0, False), (0, 0.0, True), None]


def test_cohorts_with_a_donor_filter_and_csv():
    ids = _history()
    report = cohorts.compute(ReportParams(DateRange(date(2023, 1, 1), date(2023, 3, 31)), "month"), tz_name=TZ,
                             as_of=datetime(2023, 6, 15, 12), donor_filter=select(Donor.id).where(Donor.id == ids["Q"]))
    assert [(row.key, row.size) for row in report.rows] == [(2023 * 12, 1)]
    assert [cell.percent for cell in report.rows[0].cells] == [100.0, 0.0, 100.0, 0.0, 0.0, 0.0]
    rows = list(cohorts.csv_rows(report))
    assert rows[0][:4] == ["cohort", "donors", "month_0_percent", "month_1_percent"]
    assert rows[1][:5] == ["Jan 2023", 1, "100.0", "0.0", "100.0"]


def test_a_range_without_first_gifts_has_no_rows():
    _history()
    report = cohorts.compute(ReportParams(DateRange(date(2021, 1, 1), date(2021, 12, 31)), "month"), tz_name=TZ,
                             as_of=datetime(2023, 6, 15, 12))
    assert report.rows == []
