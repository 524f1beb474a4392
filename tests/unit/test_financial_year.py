"""Retention, LYBUNT and SYBUNT over financial years starting in April, checked against figures worked out by
hand. Times are UTC; the organisation is in Europe/London, where 1 April is already British Summer Time, so
local midnight on 1 April is 23:00 UTC on 31 March.

    donor  gifts (local dates)                                  FY 22/23  FY 23/24  FY 24/25  FY 25/26 (to 30 Jun)
    A      31 Mar 2024 23:30 BST £10, 1 Apr 2024 £20                        10        20
    B      31 Mar 2025 £30, 1 Apr 2025 00:30 BST £40                                  30        40
    C      1 May 2024 £50                                                             50
    D      1 Jun 2022 £60                                         60
    E      1 Apr 2025 £70                                                                       70

The report runs from 1 Apr 2023 to 30 Jun 2025: FY 2023/24, FY 2024/25 and FY 2025/26 to date, each
compared with the year before.

FY 2025/26 to date, by hand:
    gave this year: B, E = 2; gave last year (FY 24/25): A, B, C = 3; retained: B = 1 -> 33.3%
    new last year (first gift on or after 1 Apr 2024): B, C = 2; of them retained: B -> 50.0%
    repeat last year: A = 1; retained: none -> 0.0%
    new this year: E = 1 (B had given before); recaptured: none
    given this year £110, last year £100, by last year's donors this year £40 -> dollar retention 40.0%
    LYBUNT (gave FY 24/25, not yet FY 25/26): A, C = 2, who gave £70 last year
    SYBUNT (gave before FY 24/25, in neither year): D = 1, lifetime £60
FY 2024/25: gave A, B, C = 3; gave the year before: A = 1; retained A -> 100.0%; new: B, C = 2.

With rolling 12-month periods ending 30 Jun 2025 instead, the current period is 1 Jul 2024 to 30 Jun 2025 (B, E)
and the previous one 1 Jul 2023 to 30 Jun 2024 (A twice, C): nobody is retained, and LYBUNT is A and C with
£80 given in that period.
"""
from datetime import date, datetime

import pytest

from portal.extensions import db
from portal.insights import cohorts, headline, periods, services
from portal.insights import retention_report as retention
from portal.insights.filters import DateRange, ReportParams
from portal.settings.services import organisation
from tests.conftest import make_donor, make_gift

pytestmark = pytest.mark.usefixtures("ctx")

TZ = "Europe/London"
RANGE = DateRange(date(2023, 4, 1), date(2025, 6, 30))
FY = ReportParams(RANGE, basis="fy", fy_start=4)
ROLLING = ReportParams(RANGE, basis="rolling")


def _history() -> None:
    gifts = {
        "A": [(datetime(2024, 3, 31, 22, 30), 1000), (datetime(2024, 4, 1, 12), 2000)],
        "B": [(datetime(2025, 3, 31, 12), 3000), (datetime(2025, 3, 31, 23, 30), 4000)],
        "C": [(datetime(2024, 5, 1, 12), 5000)],
        "D": [(datetime(2022, 6, 1, 12), 6000)],
        "E": [(datetime(2025, 4, 1, 12), 7000)],
    }
    for name, donor_gifts in gifts.items():
        donor = make_donor(first_name=name, last_name="Test")
        for received_at, amount in donor_gifts:
            make_gift(donor.id, amount, received_at)


def test_retention_over_financial_years_matches_the_figures_worked_out_by_hand():
    _history()
    report = retention.compute(FY, tz_name=TZ)
    assert [p.label for p in report.periods] == ["FY 2023/24", "FY 2024/25", "FY 2025/26 to 30 Jun 2025"]
    assert [(p.start, p.end) for p in report.periods] == [
        (date(2023, 4, 1), date(2024, 3, 31)), (date(2024, 4, 1), date(2025, 3, 31)), (date(2025, 4, 1), date(2025, 6, 30))]
    now = report.current
    assert (now.donors, now.previous_donors, now.retained, now.retention_rate) == (2, 3, 1, 33.3)
    assert (now.new_previous, now.new_retained, now.new_retention_rate) == (2, 1, 50.0)
    assert (now.repeat_previous, now.repeat_retained, now.repeat_retention_rate) == (1, 0, 0.0)
    assert (now.new_donors, now.recaptured) == (1, 0)
    assert (now.amount_minor, now.previous_amount_minor, now.retained_amount_minor, now.dollar_retention_rate) == \
        (11000, 10000, 4000, 40.0)
    assert (report.lybunt.donors, report.lybunt.amount_minor) == (2, 7000)
    assert (report.sybunt.donors, report.sybunt.amount_minor) == (1, 6000)
    last_year = report.periods[1]
    assert (last_year.donors, last_year.previous_donors, last_year.retained, last_year.retention_rate,
            last_year.new_donors) == (3, 1, 1, 100.0, 2)


def test_rolling_periods_are_still_available_and_differ_across_the_boundary():
    _history()
    report = retention.compute(ROLLING, tz_name=TZ)
    now = report.current
    assert (now.start, now.end) == (date(2024, 7, 1), date(2025, 6, 30))
    assert (now.donors, now.previous_donors, now.retained) == (2, 2, 0)
    assert (report.lybunt.donors, report.lybunt.amount_minor) == (2, 8000)


def test_lybunt_and_sybunt_lists_match_the_report_over_financial_years():
    _history()

    def lists():
        return [(page.total, page.total_amount_minor, sorted(row.donor.first_name for row in page.rows))
                for page in (retention.donor_list(kind, RANGE, tz_name=TZ, fy_start_month=4) for kind in ("lybunt", "sybunt"))]

    expected = [(2, 7000, ["A", "C"]), (1, 6000, ["D"])]
    assert lists() == expected, "read from each donor's last gift (nobody gave after the range)"
    later = make_donor(first_name="F", last_name="Test")
    make_gift(later.id, 900, datetime(2025, 8, 1, 12))
    assert lists() == expected, "read from the per-donor windows (someone gave after the range)"


def test_financial_years_are_the_default_and_every_report_says_which_periods_it_uses():
    org = organisation()
    org.financial_year_start = 4
    db.session.commit()
    report = services.REPORTS["retention"]
    params, errors = services.parse(report, {"end": "2025-06-30", "start": "2023-04-01"})
    assert not errors and (params.basis, params.fy_start) == ("fy", 4)
    assert services.period_definition(report, params) == (
        "Financial years starting 1 April (FY 2025/26 is 1 Apr 2025 to 31 Mar 2026); the latest year runs to 30 Jun 2025.")
    rolling, _ = services.parse(report, {"end": "2025-06-30", "basis": "rolling"})
    assert services.period_definition(report, rolling) == "Rolling 12-month periods ending on 30 Jun 2025."
    default, _ = services.parse(report, {})
    assert default.range.start == date(periods.fy_start(services.today(), 4).year - 3, 4, 1)
    assert services.period_definition(services.REPORTS["engagement"], params) == "Custom range: 1 Apr 2023 to 30 Jun 2025."
    yearly, _ = services.parse(services.REPORTS["cohorts"], {"grain": "year", "start": "2021-01-01", "end": "2025-06-30"})
    assert services.period_definition(services.REPORTS["cohorts"], yearly) == \
        "Cohorts by the financial years starting 1 April (UTC) of the first gift, from 1 Jan 2021 to 30 Jun 2025."


def test_financial_year_labels():
    assert periods.fy_label(date(2025, 4, 1)) == "FY 2025/26"
    assert periods.fy_label(date(1999, 7, 1)) == "FY 1999/00"
    assert periods.fy_label(date(2025, 1, 1)) == "FY 2025"
    assert periods.fy_start(date(2025, 3, 31), 4) == date(2024, 4, 1)
    assert periods.fy_start(date(2025, 4, 1), 4) == date(2025, 4, 1)


def test_the_home_figures_cover_the_financial_year_so_far():
    _history()
    day = date(2025, 6, 30)
    report = headline.compute(ReportParams(DateRange(day, day), basis="fy", fy_start=4), tz_name=TZ)
    assert report.period == "FY 2025/26 so far"
    assert (report.given_minor, report.new_donors, report.lybunt, report.lybunt_minor) == (11000, 1, 2, 7000)
    assert report.given_by_month.labels == ["Apr 2025", "May 2025", "Jun 2025"]
    assert report.new_retention_rate == 50.0


def test_yearly_cohorts_are_financial_years():
    """Cohorts read the calendar in UTC (as monthly ones do): B's gift at 23:30 UTC on 31 March 2025 is in
    FY 2024/25 there. First financial years: D 2022/23; A 2023/24 (and gave again in 2024/25); B and C
    2024/25; E 2025/26."""
    _history()
    params = ReportParams(DateRange(date(2022, 4, 1), date(2025, 6, 30)), grain="year", basis="fy", fy_start=4)
    report = cohorts.compute(params, tz_name=TZ, as_of=datetime(2026, 12, 7, 12))
    assert [(report.row_label(row), row.size) for row in report.rows] == [
        ("FY 2022/23", 1), ("FY 2023/24", 1), ("FY 2024/25", 2), ("FY 2025/26", 1)]
    assert report.columns == 5
    shares = [[None if cell is None else cell.percent for cell in row.cells] for row in report.rows]
    assert shares == [[100.0, 0.0, 0.0, 0.0, 0.0],
                      [100.0, 100.0, 0.0, 0.0, None],
                      [100.0, 0.0, 0.0, None, None],
                      [100.0, 0.0, None, None, None]]
    assert report.rows[1].cells[3].partial, "FY 2026/27 is still running"
    org = organisation()
    org.financial_year_start = 4
    db.session.commit()
    parsed, errors = services.parse(services.REPORTS["cohorts"], {"grain": "year", "end": "2025-06-30"})
    four_years_back = date(periods.fy_start(services.today(), 4).year - 4, 4, 1)
    assert not errors and (parsed.fy_start, parsed.range.start) == (4, four_years_back)
    assert services.period_definition(services.REPORTS["cohorts"], parsed) == (
        f"Cohorts by the financial years starting 1 April (UTC) of the first gift, from {four_years_back:%-d %b %Y} "
        "to 30 Jun 2025.")
