from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.giving import services as giving
from portal.giving.models import DonorStats
from portal.journey.models import Touchpoint
from portal.timeutil import utcnow
from tests.conftest import make_donor, make_gift

pytestmark = pytest.mark.usefixtures("ctx")


def _touchpoints(donor_id, kind):
    return db.session.scalars(select(Touchpoint).where(Touchpoint.donor_id == donor_id, Touchpoint.kind == kind)).all()


def test_recording_a_gift_updates_rollup_and_writes_touchpoint():
    donor = make_donor()
    now = utcnow()
    make_gift(donor.id, 2500, now - timedelta(days=400), fund="Flood relief")
    make_gift(donor.id, 10000, now - timedelta(days=10))
    make_gift(donor.id, 500, now - timedelta(days=800))

    stats = db.session.get(DonorStats, donor.id)
    assert stats.gift_count == 3
    assert stats.lifetime_minor == 13000
    assert stats.largest_minor == 10000
    assert stats.average_minor == 13000 // 3
    assert stats.last_12m_minor == 10000
    assert stats.prev_12m_minor == 2500
    assert stats.first_gift_at == (now - timedelta(days=800)).replace(microsecond=stats.first_gift_at.microsecond)
    touchpoints = _touchpoints(donor.id, "gift_received")
    assert len(touchpoints) == 3
    first = [t for t in touchpoints if t.data["first_gift"]]
    assert len(first) == 1 and first[0].data["amount_minor"] == 2500
    assert any(t.summary == "£25.00 to Flood relief" for t in touchpoints)


def test_failed_gift_leaves_no_touchpoint_or_rollup():
    donor = make_donor()
    with pytest.raises(giving.GivingError):
        giving.record_gift(donor.id, giving.GiftInput(amount_minor=0, received_at=utcnow(), currency="GBP"))
    db.session.rollback()
    assert _touchpoints(donor.id, "gift_received") == []
    assert db.session.get(DonorStats, donor.id) is None


def test_refund_reverses_the_rollup_and_is_on_the_timeline():
    donor = make_donor()
    gift = make_gift(donor.id, 4000, utcnow() - timedelta(days=3))
    make_gift(donor.id, 1000, utcnow() - timedelta(days=2))
    giving.refund_gift(gift, reason="Duplicate payment")
    stats = db.session.get(DonorStats, donor.id)
    assert (stats.gift_count, stats.lifetime_minor, stats.largest_minor) == (1, 1000, 1000)
    assert _touchpoints(donor.id, "gift_refunded")[0].data["reason"] == "Duplicate payment"
    with pytest.raises(giving.GivingError):
        giving.refund_gift(gift)


def test_full_rebuild_matches_incremental_rollups():
    a, b, c = make_donor(email="a@x.org"), make_donor(email="b@x.org"), make_donor(email="c@x.org")
    now = utcnow()
    for days, amount in ((5, 100), (500, 700), (900, 300)):
        make_gift(a.id, amount, now - timedelta(days=days))
    make_gift(b.id, 2000, now - timedelta(days=40))
    giving.start_plan(b.id, giving.PlanInput(kind="sponsorship", amount_minor=1500, currency="GBP", interval="monthly",
                                             started_at=date.today()))
    before = {s.donor_id: (s.gift_count, s.lifetime_minor, s.last_12m_minor, s.prev_12m_minor, s.largest_minor,
                           s.average_minor, s.has_active_plan) for s in db.session.scalars(select(DonorStats))}
    assert giving.rebuild_all_stats() == 3
    db.session.expire_all()
    after = {s.donor_id: (s.gift_count, s.lifetime_minor, s.last_12m_minor, s.prev_12m_minor, s.largest_minor,
                          s.average_minor, s.has_active_plan) for s in db.session.scalars(select(DonorStats))}
    assert after[a.id] == before[a.id] == (3, 1100, 100, 700, 700, 366, False)
    assert after[b.id] == before[b.id] == (1, 2000, 2000, 0, 2000, 2000, True)
    assert after[c.id] == (0, 0, 0, 0, 0, 0, False)


def test_plan_lifecycle_records_touchpoints_and_reasons():
    donor = make_donor()
    plan = giving.start_plan(donor.id, giving.PlanInput(kind="sponsorship", amount_minor=2000, currency="GBP",
                                                        interval="monthly", started_at=date(2026, 1, 31)))
    assert plan.renews_on == date(2027, 1, 31)
    assert db.session.get(DonorStats, donor.id).has_active_plan is True
    giving.change_plan_status(plan, "pause")
    assert plan.status == "paused" and db.session.get(DonorStats, donor.id).has_active_plan is False
    with pytest.raises(giving.GivingError):
        giving.change_plan_status(plan, "pause")
    giving.change_plan_status(plan, "resume")
    giving.change_plan_amount(plan, 2500)
    giving.change_plan_status(plan, "cancel", reason="Moving abroad")
    assert plan.status == "cancelled" and plan.end_reason == "Moving abroad" and plan.ended_at is not None
    kinds = [t.kind for t in db.session.scalars(select(Touchpoint).where(Touchpoint.donor_id == donor.id).order_by(Touchpoint.id))]
    assert kinds == ["donor_created", "plan_started", "plan_paused", "plan_resumed", "plan_amount_changed", "plan_cancelled"]
    assert _touchpoints(donor.id, "plan_cancelled")[0].data["reason"] == "Moving abroad"


def test_recurring_gift_next_date_is_one_interval_and_month_ends_clamp():
    donor = make_donor()
    plan = giving.start_plan(donor.id, giving.PlanInput(kind="recurring_gift", amount_minor=1000, currency="GBP",
                                                        interval="quarterly", started_at=date(2026, 11, 30)))
    assert plan.renews_on == date(2027, 2, 28)


def test_lapsed_plans_are_marked_and_rollup_follows():
    donor = make_donor()
    plan = giving.start_plan(donor.id, giving.PlanInput(kind="membership", amount_minor=3600, currency="GBP",
                                                        interval="yearly", started_at=date(2024, 1, 1)))
    assert giving.mark_lapsed_plans(today=date(2026, 6, 1)) == 1
    db.session.expire_all()
    assert plan.status == "lapsed"
    assert db.session.get(DonorStats, donor.id).has_active_plan is False


def test_giving_history_filters_by_year_and_totals_only_received_gifts():
    donor = make_donor(first_name="Ivy")
    make_gift(donor.id, 2000, datetime(2024, 3, 1, 12), fund="Clean water")
    make_gift(donor.id, 3000, datetime(2025, 5, 1, 12))
    make_gift(donor.id, 500, datetime(2025, 6, 1, 12), status="pledged")
    everything = giving.giving_history(donor.id)
    assert everything.years == [2025, 2024] and everything.year is None and len(everything.gifts) == 3
    assert everything.received_by_year == {2025: 3000, 2024: 2000} and everything.received_shown == 5000
    one_year = giving.giving_history(donor.id, 2025)
    assert one_year.year == 2025 and [g.amount_minor for g in one_year.gifts] == [500, 3000] and one_year.received_shown == 3000
    assert giving.giving_history(donor.id, 2019).year is None, "a year without gifts shows them all"


def test_annual_statement_lists_received_gifts_oldest_first_with_fund_totals():
    donor = make_donor(first_name="Ivy")
    make_gift(donor.id, 3000, datetime(2025, 5, 1, 12))
    make_gift(donor.id, 2000, datetime(2025, 3, 1, 12), fund="Clean water")
    make_gift(donor.id, 1000, datetime(2025, 4, 1, 12), fund="Clean water")
    make_gift(donor.id, 500, datetime(2025, 6, 1, 12), status="pledged")
    statement = giving.annual_statement(donor.id, 2025)
    assert [g.amount_minor for g in statement.gifts] == [2000, 1000, 3000]
    assert statement.by_fund == {"Clean water": 3000, giving.GENERAL_FUND: 3000} and statement.total == 6000
    assert giving.annual_statement(donor.id, 2024) is None
