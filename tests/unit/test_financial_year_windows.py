"""The donor journey funnel and lifetime value over financial years starting in April, checked against figures
worked out by hand. Times are UTC; the organisation is in Europe/London, where 1 April is already British
Summer Time, so local midnight on 1 April 2025 is 23:00 UTC on 31 March.

    donor  added and first gift (UTC)       local date   other gifts          lifetime
    P      31 Mar 2025 12:00  £10           31 Mar       1 May 2025 £20       £30
    S      31 Mar 2025 22:30  £40           31 Mar                            £40
    T      31 Mar 2025 23:30  £60           1 Apr        2 Jun 2025 £70       £130
    Q      1 Apr 2025 12:00   £50           1 Apr                             £50
    R      added 10 Jun 2025, never gave    10 Jun                            -

Donor journey, observed on 30 June 2025:
    FY 2024/25 (1 Apr 2024 to 31 Mar 2025): P, S came in; both gave; P gave a second time.
    FY 2025/26 (from 1 Apr 2025): T, Q, R came in; T and Q gave; T gave a second time.
    Rolling 12 months ending 30 Jun 2025 (1 Jul 2024 to 30 Jun 2025): all five; four gave; two gave twice.
Lifetime value (donors by their first gift):
    FY 2024/25: P, S -> average given so far (£30 + £40) / 2 = £35.
    FY 2025/26: T, Q -> average (£130 + £50) / 2 = £90.
"""
from datetime import date, datetime

import pytest
from sqlalchemy import event

from portal.extensions import db
from portal.insights import funnel, lifetime, periods, services
from portal.settings.services import organisation
from tests.conftest import make_donor, make_gift

pytestmark = pytest.mark.usefixtures("ctx")

TZ = "Europe/London"
AS_OF = datetime(2025, 6, 30, 12)
FUNNEL = services.REPORTS["funnel"]
LIFETIME = services.REPORTS["lifetime"]


@pytest.fixture
def history() -> None:
    org = organisation()
    org.financial_year_start, org.timezone = 4, TZ
    db.session.commit()
    donors = {
        "P": (datetime(2025, 3, 31, 12), [(datetime(2025, 3, 31, 12), 1000), (datetime(2025, 5, 1, 12), 2000)]),
        "S": (datetime(2025, 3, 31, 22, 30), [(datetime(2025, 3, 31, 22, 30), 4000)]),
        "T": (datetime(2025, 3, 31, 23, 30), [(datetime(2025, 3, 31, 23, 30), 6000), (datetime(2025, 6, 2, 12), 7000)]),
        "Q": (datetime(2025, 4, 1, 12), [(datetime(2025, 4, 1, 12), 5000)]),
        "R": (datetime(2025, 6, 10, 12), []),
    }
    for name, (added, gifts) in donors.items():
        donor = make_donor(first_name=name, last_name="Test")
        donor.created_at = added
        db.session.commit()
        for received_at, amount in gifts:
            make_gift(donor.id, amount, received_at)


def _parse(report, args):
    params, errors = services.parse(report, args)
    assert not errors
    return params


def _funnel_counts(params) -> tuple[int, ...]:
    report = funnel.compute(params, tz_name=TZ, as_of=AS_OF)
    return tuple(step.count for step in report.steps[:3])


def test_the_funnel_cohort_is_a_financial_year_by_default(history):
    last_year = _parse(FUNNEL, {"start": "2024-06-15", "end": "2025-03-31"})
    assert (last_year.basis, last_year.fy_start, last_year.range.start) == ("fy", 4, date(2024, 4, 1))
    assert _funnel_counts(last_year) == (2, 2, 1)
    this_year = _parse(FUNNEL, {"cohort": "FY2025"})
    assert (this_year.range.start, this_year.range.end) == (date(2025, 4, 1), date(2026, 3, 31))
    assert _funnel_counts(this_year) == (3, 2, 1)
    assert services.period_definition(FUNNEL, this_year) == (
        "Financial years starting 1 April: FY 2025/26 (1 Apr 2025 to 31 Mar 2026, the latest year running to the end date).")
    rows = list(funnel.dropped_csv(this_year, "second_gift", tz_name=TZ, as_of=AS_OF))
    assert [row[1] for row in rows[1:]] == ["Q"]


def test_rolling_windows_and_custom_ranges_remain_for_the_funnel(history):
    rolling = _parse(FUNNEL, {"start": "2025-01-01", "end": "2025-06-30", "basis": "rolling"})
    assert (rolling.basis, rolling.range.start) == ("rolling", date(2024, 7, 1))
    assert _funnel_counts(rolling) == (5, 4, 2)
    assert services.period_definition(FUNNEL, rolling) == (
        "Rolling 12-month periods ending on 30 Jun 2025: 1 of them (1 Jul 2024 to 30 Jun 2025).")
    custom = _parse(FUNNEL, {"start": "2025-03-31", "end": "2025-03-31", "basis": "custom"})
    assert _funnel_counts(custom) == (2, 2, 1), "P and S: T's gift was on 1 April in London"
    assert services.period_definition(FUNNEL, custom) == "Custom range: 31 Mar 2025 to 31 Mar 2025."
    quarter = _parse(FUNNEL, {"cohort": "2025-Q2"})
    assert (quarter.basis, quarter.range.start, quarter.range.end) == ("custom", date(2025, 4, 1), date(2025, 6, 30))
    assert _funnel_counts(quarter) == (3, 2, 1)


def test_lifetime_value_windows_are_financial_years_by_default(history):
    last_year = _parse(LIFETIME, {"start": "2025-01-01", "end": "2025-03-31"})
    assert (last_year.basis, last_year.range.start) == ("fy", date(2024, 4, 1))
    report = lifetime.compute(last_year, tz_name=TZ, as_of=AS_OF)
    assert (report.donors, report.average_historical_minor) == (2, 3500)
    assert [(row.state, row.donors, row.historical_minor) for row in report.by_state] == [("new", 2, 3500)]
    this_year = _parse(LIFETIME, {"start": "2025-04-01", "end": "2025-06-30"})
    report = lifetime.compute(this_year, tz_name=TZ, as_of=AS_OF)
    assert (report.donors, report.average_historical_minor) == (2, 9000)
    assert sorted(row.name for row in report.top) == ["Q Test", "T Test"]
    assert services.period_definition(LIFETIME, this_year) == (
        "Financial years starting 1 April: FY 2025/26 (1 Apr 2025 to 30 Jun 2025, the latest year running to the end date).")
    both = _parse(LIFETIME, {"start": "2024-04-01", "end": "2025-06-30"})
    assert services.period_definition(LIFETIME, both).startswith("Financial years starting 1 April: FY 2024/25 to FY 2025/26 (")
    rows = list(lifetime.donors_csv(both, tz_name=TZ, as_of=AS_OF))
    assert [(row[1], row[9]) for row in rows[1:]] == [("T", "130.00"), ("Q", "50.00"), ("S", "40.00"), ("P", "30.00")]


def test_lifetime_value_over_rolling_and_custom_windows(history):
    rolling = _parse(LIFETIME, {"end": "2025-06-30", "start": "2025-06-01", "basis": "rolling"})
    assert rolling.range.start == date(2024, 7, 1)
    report = lifetime.compute(rolling, tz_name=TZ, as_of=AS_OF)
    assert (report.donors, report.average_historical_minor) == (4, 6250)
    custom = _parse(LIFETIME, {"start": "2025-04-01", "end": "2025-04-01", "basis": "custom"})
    report = lifetime.compute(custom, tz_name=TZ, as_of=AS_OF)
    assert (report.donors, report.average_historical_minor) == (2, 9000), "T (00:30 on 1 April in London) and Q"


def test_the_default_windows_are_whole_financial_years_to_today(history):
    today = services.today()
    this_year = periods.fy_start(today, 4)
    funnel_default = _parse(FUNNEL, {})
    assert (funnel_default.range.start, funnel_default.range.end) == (date(this_year.year - 2, 4, 1), today)
    lifetime_default = _parse(LIFETIME, {})
    assert lifetime_default.range.start == date(this_year.year - 9, 4, 1)
    assert [label for _, label in periods.financial_years(date(2025, 3, 31), 4, 2)] == ["FY 2024/25", "FY 2023/24"]


def test_a_cohort_that_is_neither_a_year_nor_a_quarter_is_refused(history):
    _, errors = services.parse(FUNNEL, {"cohort": "FY20x5"})
    assert errors["cohort"] == "Choose a financial year or a quarter from the list."


def _statements(fn) -> int:
    statements = []
    engine = db.session.get_bind()
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        fn()
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    return len(statements)


def test_financial_years_cost_no_more_queries_than_a_custom_range(history):
    for report, module in ((FUNNEL, funnel), (LIFETIME, lifetime)):
        custom, by_year = _parse(report, {"basis": "custom"}), _parse(report, {})
        module.compute(custom, tz_name=TZ, as_of=AS_OF)  # the milestones are built once
        counts = [_statements(lambda params=params: module.compute(params, tz_name=TZ, as_of=AS_OF)) for params in (custom, by_year)]
        assert counts[0] == counts[1], report.name
