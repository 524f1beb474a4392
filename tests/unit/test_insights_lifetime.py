"""Lifetime value on a hand-built history, valued on 1 January 2025.

The year-on chances are measured from 1 Jan 2024 back: over 2023 ("last year" then) and before.

    C1  100 on 1 Jun 2021, 1 Jun 2023, 1 Jun 2024   repeat in 2023, gave in 2024      -> repeat today
    C2   50 on 1 Mar 2023                           new in 2023, nothing in 2024       -> lapsing today
    C3   40 on 1 May 2023, 1 May 2024               new in 2023, gave in 2024          -> repeat today
    C4  200 on 1 Feb 2022, 1 Feb 2024               lapsing then (2022 only), came back -> repeat today
    C5   30 on 1 Jan 2021                           lapsed then, still away            -> lapsed today
    C6   80 on 1 Sep 2024                                                              -> new today
"""
from datetime import date, datetime

import pytest

from portal.insights import lifetime
from portal.insights.filters import DateRange, ReportParams
from tests.conftest import make_donor, make_gift

pytestmark = pytest.mark.usefixtures("ctx")
TZ = "Europe/London"
AS_OF = datetime(2025, 1, 1)
ALL = ReportParams(DateRange(date(2015, 1, 1), date(2024, 12, 31)))
GIFTS = {
    "C1": [(date(2021, 6, 1), 100), (date(2023, 6, 1), 100), (date(2024, 6, 1), 100)],
    "C2": [(date(2023, 3, 1), 50)],
    "C3": [(date(2023, 5, 1), 40), (date(2024, 5, 1), 40)],
    "C4": [(date(2022, 2, 1), 200), (date(2024, 2, 1), 200)],
    "C5": [(date(2021, 1, 1), 30)],
    "C6": [(date(2024, 9, 1), 80)],
}
STATE = {"C1": "repeat", "C2": "lapsing", "C3": "repeat", "C4": "repeat", "C5": "lapsed", "C6": "new"}


def _history() -> dict[str, int]:
    ids = {}
    for name, gifts in GIFTS.items():
        ids[name] = make_donor(first_name=name, last_name="Donor", email=f"{name.lower()}@example.org").id
        for day, pounds in gifts:
            make_gift(ids[name], pounds * 100, datetime.combine(day, datetime.min.time()).replace(hour=12))
    return ids


def test_measured_chances_are_pulled_towards_the_overall_rate():
    _history()
    model = lifetime.measure_model(AS_OF)
    # Then: new C2, C3 (C3 gave again); repeat C1 (gave again); lapsing C4 (came back); lapsed C5 (didn't).
    assert model.measured == {"new": 2, "repeat": 1, "lapsing": 1, "lapsed": 1}
    # Givers overall: 2 of 3 gave again; lapsed donors overall: 1 of 2 came back. Each state adds 20
    # imaginary donors at its family's overall rate.
    givers, lapsed = 2 / 3, 1 / 2
    assert model.new_retention == round((1 + 20 * givers) / (2 + 20), 4)
    assert model.repeat_retention == round((1 + 20 * givers) / (1 + 20), 4)
    assert model.lapsing_return == round((1 + 20 * lapsed) / (1 + 20), 4)
    assert model.lapsed_return == round((0 + 20 * lapsed) / (1 + 20), 4)
    rates = lifetime.shrunk_rates(model.measured, {"new": 1, "repeat": 1, "lapsing": 1, "lapsed": 0})
    assert model.expected_years == lifetime.expected_years(rates, rates["repeat"], rates["lapsing"], rates["lapsed"])


def test_with_many_donors_the_measured_rate_stands_and_with_none_the_overall_one():
    rates = lifetime.shrunk_rates({"new": 10_000, "repeat": 0, "lapsing": 0, "lapsed": 0},
                                  {"new": 2_500, "repeat": 0, "lapsing": 0, "lapsed": 0})
    assert rates["new"] == pytest.approx(0.25)
    assert rates["repeat"] == pytest.approx(0.25)  # nobody measured: the givers' overall rate
    assert rates["lapsing"] == rates["lapsed"] == 0.0  # no lapsed donors seen at all


def _discounted(chances: list[float]) -> float:
    return sum(chance / 1.1 ** year for year, chance in enumerate(chances, start=1))


def test_a_donor_who_always_gives_again_is_worth_ten_discounted_years():
    years = lifetime.expected_years({"repeat": 1.0}, repeat=1.0, lapsing=0.0, lapsed=0.0)
    assert years["repeat"] == pytest.approx(_discounted([1.0] * 10), abs=1e-4)


def test_expected_years_follow_donors_between_states():
    years = lifetime.expected_years({"new": 0.2, "repeat": 0.6, "lapsing": 0.1, "lapsed": 0.05},
                                    repeat=0.6, lapsing=0.1, lapsed=0.05, discount_rate=0.0, horizon=2)
    # A new donor: gives in year one with 0.2; in year two the 0.2 give again with 0.6 and the 0.8 who
    # lapsed come back with 0.1.
    assert years["new"] == pytest.approx(0.2 + 0.2 * 0.6 + 0.8 * 0.1)
    # A lapsed donor: 0.05 in year one; then the givers repeat (0.05 * 0.6) and the rest return at 0.05.
    assert years["lapsed"] == pytest.approx(0.05 + 0.05 * 0.6 + 0.95 * 0.05)


def _yearly(name: str) -> float:
    gifts = GIFTS[name]
    span_days = (gifts[-1][0] - gifts[0][0]).days
    return sum(p for _, p in gifts) * 100 / max(1.0, span_days / 365.25)


def test_historical_and_predicted_value_per_state():
    ids = _history()
    report = lifetime.compute(ALL, tz_name=TZ, as_of=AS_OF)
    years = report.model.expected_years
    assert report.donors == 6
    lifetimes = {name: sum(p for _, p in gifts) * 100 for name, gifts in GIFTS.items()}
    assert report.average_historical_minor == round(sum(lifetimes.values()) / 6)
    future = {name: _yearly(name) * years[STATE[name]] for name in GIFTS}
    assert report.total_future_minor == pytest.approx(sum(future.values()), abs=1)
    assert report.average_predicted_minor == pytest.approx((sum(lifetimes.values()) + sum(future.values())) / 6, abs=1)

    by_state = {row.state: row for row in report.by_state}
    assert [row.state for row in report.by_state] == ["new", "repeat", "lapsing", "lapsed"]
    repeat = ["C1", "C3", "C4"]
    assert by_state["repeat"].donors == 3
    assert by_state["repeat"].historical_minor == round(sum(lifetimes[n] for n in repeat) / 3)
    assert by_state["repeat"].annual_minor == pytest.approx(sum(_yearly(n) for n in repeat) / 3, abs=1)
    assert by_state["repeat"].future_minor == pytest.approx(sum(future[n] for n in repeat) / 3, abs=1)
    assert by_state["lapsed"].historical_minor == 3000
    assert by_state["lapsed"].future_minor == pytest.approx(3000 * years["lapsed"], abs=1)
    assert by_state["new"].predicted_minor == pytest.approx(8000 + 8000 * years["new"], abs=1)

    assert [row.donor_id for row in report.top] == [ids[n] for n in ("C4", "C1", "C3", "C6", "C2", "C5")]  # ties: lower id first
    assert report.top[0].name == "C4 Donor" and report.top[0].historical_minor == 40000
    assert [row.donor_id for row in report.at_risk] == [ids["C2"]]


def test_the_range_selects_donors_by_first_gift():
    _history()
    report = lifetime.compute(ReportParams(DateRange(date(2023, 1, 1), date(2023, 12, 31))), tz_name=TZ, as_of=AS_OF)
    assert report.donors == 2  # C2 and C3 first gave in 2023
    assert {row.state: row.donors for row in report.by_state} == {"repeat": 1, "lapsing": 1}


def test_csv_per_donor_and_summary():
    ids = _history()
    rows = list(lifetime.donors_csv(ALL, tz_name=TZ, as_of=AS_OF))
    assert rows[0][-4:] == ["historical_clv", "yearly_value", "predicted_future_value", "predicted_clv"]
    c5 = next(row for row in rows[1:] if row[0] == ids["C5"])
    future = round(3000 * lifetime.measure_model(AS_OF).expected_years["lapsed"])
    assert c5[8:] == ["lapsed", "30.00", "30.00", f"{future / 100:.2f}", f"{(3000 + future) / 100:.2f}"]
    summary = list(lifetime.csv_rows(lifetime.compute(ALL, tz_name=TZ, as_of=AS_OF)))
    assert summary[0][0] == "state" and summary[-1][0] == "All donors"
