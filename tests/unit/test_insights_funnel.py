"""The journey funnel and its milestones on a hand-built cohort (everyone who came in during 2023),
observed on 30 June 2025. Gifts are at noon UTC, so the days between them are whole numbers.

    F1  inquiry 5 Jan, added 10 Jan 2023; gifts 4 Feb, 6 Mar, 5 Apr 2023, 1 May 2024
    F2  added 1 Mar 2023; gifts 11 Mar, 1 May 2023; monthly plan from 1 Apr 2023, cancelled
    F3  added 1 Jun 2023; gifts 1 Jun, 1 Jul 2023, 1 Feb 2025 (a 581-day gap)
    F4  added 1 Sep 2023; inquiry 10 Sep 2023; never gave
    F5  added 15 Dec 2022 (outside the cohort); gifts in 2023
    F6  added 1 Nov 2023; one gift 11 Nov 2023
"""
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select

from portal.donors.models import Donor
from portal.extensions import db
from portal.giving import services as giving
from portal.insights import funnel, milestones
from portal.insights.filters import DateRange, ReportParams
from portal.insights.models import DonorMilestones
from portal.journey import services as journey
from tests.conftest import make_donor, make_gift

pytestmark = pytest.mark.usefixtures("ctx")

TZ = "Europe/London"
AS_OF = datetime(2025, 6, 30, 12)
COHORT = ReportParams(DateRange(date(2023, 1, 1), date(2023, 12, 31)))
DAY = 86400


def _donor(name: str, added: datetime) -> int:
    donor = make_donor(first_name=name, last_name="Test", email=f"{name.lower()}@example.org")
    donor.created_at = added
    db.session.commit()
    return donor.id


def _gifts(donor_id: int, *days: tuple[int, int, int]) -> None:
    for year, month, day in days:
        make_gift(donor_id, 1000, datetime(year, month, day, 12))


def _cohort() -> dict[str, int]:
    ids = {"F1": _donor("F1", datetime(2023, 1, 10, 12))}
    journey.log_interaction(ids["F1"], "inquiry", "Asked about sponsoring", occurred_at=datetime(2023, 1, 5, 12))
    _gifts(ids["F1"], (2023, 2, 4), (2023, 3, 6), (2023, 4, 5), (2024, 5, 1))

    ids["F2"] = _donor("F2", datetime(2023, 3, 1, 12))
    _gifts(ids["F2"], (2023, 3, 11), (2023, 5, 1))
    plan = giving.start_plan(ids["F2"], giving.PlanInput(kind="recurring_gift", amount_minor=1000, currency="GBP",
                                                         interval="monthly", started_at=date(2023, 4, 1)))
    giving.change_plan_status(plan, "cancel", reason="Moving abroad")

    ids["F3"] = _donor("F3", datetime(2023, 6, 1, 12))
    _gifts(ids["F3"], (2023, 6, 1), (2023, 7, 1), (2025, 2, 1))

    ids["F4"] = _donor("F4", datetime(2023, 9, 1, 12))
    journey.log_interaction(ids["F4"], "inquiry", "Asked about legacies", occurred_at=datetime(2023, 9, 10, 12))

    ids["F5"] = _donor("F5", datetime(2022, 12, 15, 12))
    _gifts(ids["F5"], (2023, 1, 20), (2023, 2, 20))

    ids["F6"] = _donor("F6", datetime(2023, 11, 1, 12))
    _gifts(ids["F6"], (2023, 11, 11))
    return ids


def test_milestones_record_each_step_of_the_journey():
    ids = _cohort()
    milestones.refresh()
    rows = {row.donor_id: row for row in db.session.scalars(select(DonorMilestones))}
    f1, f2, f3 = rows[ids["F1"]], rows[ids["F2"]], rows[ids["F3"]]
    assert f1.entered_at == datetime(2023, 1, 5, 12)  # the inquiry came before the record was added
    assert (f1.second_gift_at, f1.third_gift_at) == (datetime(2023, 3, 6, 12), datetime(2023, 4, 5, 12))
    assert f1.regular_at == datetime(2023, 4, 5, 12)
    assert f1.renewed_at == datetime(2024, 5, 1, 12)
    assert (f1.secs_to_first_gift, f1.secs_to_regular, f1.secs_to_renewed) == (30 * DAY, 30 * DAY, 392 * DAY)
    assert f2.first_plan_at == datetime(2023, 4, 1)
    assert f2.regular_at == datetime(2023, 5, 1, 12)  # the plan was already running at the second gift
    assert f2.has_active_plan is False
    assert f3.lapsed_at == datetime(2023, 7, 1, 12) + timedelta(days=548)
    assert f3.reactivated_at == datetime(2025, 2, 1, 12)
    assert (f3.secs_first_gift_to_lapse, f3.secs_lapse_to_return) == (578 * DAY, 33 * DAY)
    assert rows[ids["F4"]].first_gift_at is None and rows[ids["F4"]].entered_at == datetime(2023, 9, 1, 12)
    # Months with a gift after the first: F1 gave in months 0, 1, 2 and 15; F3 in months 0, 1 and 20.
    assert f1.months_mask == 1 | 2 | 4 | (1 << 15)
    assert f3.months_mask == 1 | 2 | (1 << 20)
    assert (f1.first_month, f1.first_year, f1.years_mask) == (2023 * 12 + 1, 2023, 0b11)


def test_funnel_counts_conversions_and_median_times():
    _cohort()
    report = funnel.compute(COHORT, tz_name=TZ, as_of=AS_OF)
    steps = {step.key: step for step in report.steps + report.lapse_steps}
    assert (report.cohort, report.inquiries) == (5, 2)  # F5 came in before 2023
    assert [(s.key, s.count) for s in report.steps] == [
        ("entered", 5), ("first_gift", 4), ("second_gift", 3), ("regular", 3), ("renewed", 1)]
    assert [s.conversion for s in report.steps] == [None, 80.0, 75.0, 100.0, round(100 / 3, 1)]
    assert [s.dropped for s in report.steps] == [0, 1, 1, 0, 2]
    # Days from the step before: first gift 30 (F1), 10 (F2), 0 (F3), 10 (F6) -> median 10;
    # second gift 30, 51, 30 -> 30; regular 30, 0, 581 -> 30; renewed 392.
    assert [s.median_days for s in report.steps] == [None, 10.0, 30.0, 30.0, 392.0]
    # Lapsed: F3 (a gap, 30 + 548 days after the first gift), F2 (plan cancelled, last gift 51 days after the
    # first, 548 days ago) and F6 (one gift, 548 days ago): median of 578, 599 and 548 days.
    assert (steps["lapsed"].count, steps["lapsed"].conversion, steps["lapsed"].median_days) == (3, 75.0, 578.0)
    assert (steps["reactivated"].count, steps["reactivated"].conversion, steps["reactivated"].median_days) == (1, round(100 / 3, 1), 33.0)
    assert report.biggest_drop == "renewed"


def test_dropped_donor_lists_for_each_step():
    ids = _cohort()
    expected = {"first_gift": {"F4"}, "second_gift": {"F6"}, "regular": set(), "renewed": {"F2", "F3"},
                "lapsed": {"F2", "F3", "F6"}, "reactivated": {"F2", "F6"}}
    for key, names in expected.items():
        page = funnel.dropped_donors(COHORT, key, tz_name=TZ, as_of=AS_OF)
        assert {row.donor.id for row in page.rows} == {ids[n] for n in names}, key
        assert page.total == len(names)
    rows = list(funnel.dropped_csv(COHORT, "renewed", tz_name=TZ, as_of=AS_OF))
    assert rows[0][0] == "donor_id" and {row[0] for row in rows[1:]} == {ids["F2"], ids["F3"]}


def test_a_donor_who_still_has_an_active_plan_has_not_lapsed():
    donor_id = _donor("Monthly", datetime(2023, 2, 1, 12))
    _gifts(donor_id, (2023, 2, 1))
    giving.start_plan(donor_id, giving.PlanInput(kind="sponsorship", amount_minor=1500, currency="GBP", interval="monthly",
                                                 started_at=date(2023, 2, 1)))
    report = funnel.compute(COHORT, tz_name=TZ, as_of=AS_OF)
    assert report.lapse_steps[0].count == 0


def test_a_donor_filter_narrows_the_cohort():
    ids = _cohort()
    report = funnel.compute(COHORT, tz_name=TZ, as_of=AS_OF,
                            donor_filter=select(Donor.id).where(Donor.id.in_([ids["F1"], ids["F4"]])))
    assert [s.count for s in report.steps] == [2, 1, 1, 1, 1]


def test_milestones_follow_new_gifts_refunds_and_inquiries():
    ids = _cohort()
    assert milestones.refresh() == 6
    assert milestones.refresh() == 0
    gift = make_gift(ids["F6"], 2500, datetime(2024, 1, 15, 12))
    assert milestones.refresh() == 1
    assert db.session.get(DonorMilestones, ids["F6"]).second_gift_at == datetime(2024, 1, 15, 12)
    giving.refund_gift(gift)
    milestones.refresh()
    assert db.session.get(DonorMilestones, ids["F6"]).second_gift_at is None
    # An inquiry doesn't touch the giving rollup; the touchpoint reactor marks the row stale instead.
    journey.log_interaction(ids["F6"], "inquiry", "Asked about Gift Aid", occurred_at=datetime(2023, 10, 1, 12))
    assert milestones.refresh() == 1
    row = db.session.get(DonorMilestones, ids["F6"])
    assert (row.first_inquiry_at, row.entered_at) == (datetime(2023, 10, 1, 12), datetime(2023, 10, 1, 12))
    newcomer = _donor("New", datetime(2024, 2, 1, 12))
    assert milestones.refresh() == 1
    assert db.session.get(DonorMilestones, newcomer).entered_at == datetime(2024, 2, 1, 12)


def test_an_empty_cohort_has_no_steps_to_drop_from():
    _cohort()
    report = funnel.compute(ReportParams(DateRange(date(2020, 1, 1), date(2020, 3, 31))), tz_name=TZ, as_of=AS_OF)
    assert report.cohort == 0
    assert all(step.count == 0 and step.median_days is None for step in report.steps)
    assert report.biggest_drop is None
