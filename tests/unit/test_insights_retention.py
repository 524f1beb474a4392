"""Retention with the FEP definitions on a hand-built history (amounts in pounds below, minor units in the code).

Periods are the calendar years 2022-2024 (range 1 Jan 2022 - 31 Dec 2024), each compared with the year before.

    donor  2021  2022  2023  2024  later
    A       10    20    30    40
    B             50    25
    C            100
    D       10          15
    E                         60
    F                  (5 refunded) 70
    G                   20              20 in Jan 2025 (after the range: ignored)
"""
from datetime import date, datetime

import pytest
from sqlalchemy import select

from portal.donors.models import Donor
from portal.giving import services as giving
from portal.insights import retention_report
from portal.insights.filters import DateRange, ReportParams
from tests.conftest import make_donor, make_gift

pytestmark = pytest.mark.usefixtures("ctx")

TZ = "Europe/London"
PARAMS = ReportParams(DateRange(date(2022, 1, 1), date(2024, 12, 31)))


def _history() -> dict[str, int]:
    gifts = {
        "A": [(2021, 3, 10), (2022, 5, 20), (2023, 6, 30), (2024, 2, 40)],
        "B": [(2022, 4, 50), (2023, 4, 25)],
        "C": [(2022, 7, 100)],
        "D": [(2021, 6, 10), (2023, 9, 15)],
        "E": [(2024, 3, 60)],
        "F": [(2024, 5, 70)],
        "G": [(2023, 5, 20), (2025, 1, 20)],
    }
    ids = {}
    for name, rows in gifts.items():
        donor = make_donor(first_name=name, last_name="Donor", email=f"{name.lower()}@example.org")
        ids[name] = donor.id
        for year, month, pounds in rows:
            make_gift(donor.id, pounds * 100, datetime(year, month, 10, 12))
    refunded = make_gift(ids["F"], 500, datetime(2023, 2, 10, 12))
    giving.refund_gift(refunded)
    make_gift(ids["F"], 900, datetime(2023, 3, 10, 12), status="pledged")
    return ids


def _by_year(report):
    return {p.start.year: p for p in report.periods}


def test_periods_are_the_calendar_years_of_the_range():
    starts, notes = retention_report.period_starts(PARAMS.range)
    assert starts == [date(2024, 1, 1), date(2023, 1, 1), date(2022, 1, 1), date(2021, 1, 1)]
    assert notes == []


def test_donor_new_repeat_and_dollar_retention_per_year():
    _history()
    report = retention_report.compute(PARAMS, tz_name=TZ)
    years = _by_year(report)
    assert [p.label for p in report.periods] == ["2022", "2023", "2024"]

    # 2022 against 2021: A and D gave in 2021 (both new then); only A gave again.
    y = years[2022]
    assert (y.previous_donors, y.retained, y.donors) == (2, 1, 3)
    assert (y.new_previous, y.new_retained, y.repeat_previous, y.repeat_retained) == (2, 1, 0, 0)
    assert (y.new_donors, y.recaptured) == (2, 0)  # B and C
    assert (y.amount_minor, y.previous_amount_minor, y.retained_amount_minor) == (17000, 2000, 2000)
    assert (y.retention_rate, y.new_retention_rate, y.repeat_retention_rate, y.dollar_retention_rate) == (50.0, 50.0, None, 100.0)

    # 2023 against 2022: A, B, C gave in 2022; A and B again. B and C were new in 2022, A a repeat donor.
    y = years[2023]
    assert (y.previous_donors, y.retained, y.donors) == (3, 2, 4)  # A, B, D, G (F's gift was refunded)
    assert (y.new_previous, y.new_retained, y.repeat_previous, y.repeat_retained) == (2, 1, 1, 1)
    assert (y.new_donors, y.recaptured) == (1, 1)  # G is new; D came back after skipping 2022
    assert (y.amount_minor, y.previous_amount_minor, y.retained_amount_minor) == (9000, 17000, 5500)
    assert y.retention_rate == round(100 * 2 / 3, 1)
    assert y.dollar_retention_rate == round(100 * 55 / 170, 1)

    # 2024 against 2023: A, B, D, G gave in 2023; only A again. G was new in 2023; A, B, D repeat.
    y = years[2024]
    assert (y.previous_donors, y.retained, y.donors) == (4, 1, 3)  # A, E, F
    assert (y.new_previous, y.new_retained, y.repeat_previous, y.repeat_retained) == (1, 0, 3, 1)
    assert (y.new_donors, y.recaptured) == (2, 0)
    assert (y.amount_minor, y.previous_amount_minor, y.retained_amount_minor) == (17000, 9000, 4000)
    assert (y.retention_rate, y.new_retention_rate, y.repeat_retention_rate) == (25.0, 0.0, round(100 / 3, 1))
    assert y.dollar_retention_rate == round(100 * 40 / 90, 1)


def test_lybunt_and_sybunt_totals_and_lists():
    ids = _history()
    report = retention_report.compute(PARAMS, tz_name=TZ)
    # LYBUNT: gave in 2023, not in 2024 -> B (25), D (15), G (20; G's 2025 gift is after the range).
    assert (report.lybunt.donors, report.lybunt.amount_minor) == (3, 6000)
    # SYBUNT: gave before 2023, in neither 2023 nor 2024 -> C, whose lifetime giving is the 100 of 2022.
    assert (report.sybunt.donors, report.sybunt.amount_minor) == (1, 10000)

    page = retention_report.donor_list("lybunt", PARAMS.range, tz_name=TZ, per_page=2)
    assert (page.total, page.total_amount_minor, page.pages) == (3, 6000, 2)
    assert [(row.donor.id, row.amount_minor) for row in page.rows] == [(ids["B"], 2500), (ids["G"], 2000)]
    second = retention_report.donor_list("lybunt", PARAMS.range, tz_name=TZ, per_page=2, page=2)
    assert [(row.donor.id, row.amount_minor) for row in second.rows] == [(ids["D"], 1500)]

    sybunt = retention_report.donor_list("sybunt", PARAMS.range, tz_name=TZ)
    assert [(row.donor.id, row.amount_minor) for row in sybunt.rows] == [(ids["C"], 10000)]

    rows = list(retention_report.donor_list_csv("lybunt", PARAMS.range, tz_name=TZ))
    assert rows[0][:2] == ["donor_id", "first_name"]
    assert [(row[0], row[5]) for row in rows[1:]] == [(ids["B"], "25.00"), (ids["G"], "20.00"), (ids["D"], "15.00")]


def test_a_donor_filter_limits_every_figure_to_those_donors():
    ids = _history()
    only = select(Donor.id).where(Donor.id.in_([ids["A"], ids["B"]]))
    report = retention_report.compute(PARAMS, tz_name=TZ, donor_filter=only)
    y = _by_year(report)[2024]
    assert (y.previous_donors, y.retained, y.donors, y.amount_minor) == (2, 1, 1, 4000)
    assert (report.lybunt.donors, report.sybunt.donors) == (1, 0)


def test_a_range_shorter_than_a_year_shows_the_twelve_months_to_its_end():
    _history()
    report = retention_report.compute(ReportParams(DateRange(date(2024, 10, 1), date(2024, 12, 31))), tz_name=TZ)
    assert len(report.periods) == 1
    assert (report.current.start, report.current.end) == (date(2024, 1, 1), date(2024, 12, 31))
    assert report.current.retained == 1
    assert any("12 months to 31 Dec 2024" in note for note in report.notes)


def test_a_range_without_gifts_reports_zeros_not_errors():
    _history()
    empty = DateRange(date(1990, 1, 1), date(1991, 12, 31))
    report = retention_report.compute(ReportParams(empty), tz_name=TZ)
    assert not report.has_gifts
    assert all(p.retention_rate is None and p.donors == 0 for p in report.periods)
    assert retention_report.donor_list("lybunt", empty, tz_name=TZ).total == 0


def test_csv_has_one_row_per_period():
    _history()
    rows = list(retention_report.csv_rows(retention_report.compute(PARAMS, tz_name=TZ)))
    assert rows[0][:7] == ["period", "period_start", "period_end", "donors", "previous_period_donors", "retained",
                           "retention_rate"]
    assert [row[:2] for row in rows[1:]] == [["2022", "2022-01-01"], ["2023", "2023-01-01"], ["2024", "2024-01-01"]]
    assert rows[3][6] == "25.0" and rows[3][-1] == "44.4"


def test_lists_for_a_period_ending_today_match_the_report():
    """Ending today, the lists are read from each donor's last gift date; they must agree with the report."""
    from datetime import timedelta

    from portal.insights import services
    from portal.timeutil import utcnow

    now = utcnow().replace(hour=12, minute=0, second=0, microsecond=0)
    names = {}
    for name, days_ago in (("A", [400, 20]), ("B", [500, 450]), ("C", [900])):
        names[name] = make_donor(first_name=name, email=f"today-{name.lower()}@example.org").id
        for days in days_ago:
            make_gift(names[name], 1000 * len(name) + days, now - timedelta(days=days))
    today = services.today()
    params = ReportParams(retention_report.default_range(today))
    report = retention_report.compute(params, tz_name=TZ)
    lybunt = retention_report.donor_list("lybunt", params.range, tz_name=TZ)
    sybunt = retention_report.donor_list("sybunt", params.range, tz_name=TZ)
    assert [row.donor.id for row in lybunt.rows] == [names["B"]]
    assert (lybunt.total, lybunt.total_amount_minor) == (report.lybunt.donors, report.lybunt.amount_minor) == (1, 1500 + 1450)
    assert [row.donor.id for row in sybunt.rows] == [names["C"]]
    assert (sybunt.total, sybunt.total_amount_minor) == (report.sybunt.donors, report.sybunt.amount_minor) == (1, 1900)
