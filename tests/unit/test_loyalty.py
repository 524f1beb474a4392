"""The loyalty engine: earning on received gifts, reversal on refunds, tiers, bonuses, expiry and redemption."""
import threading
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from portal.donors.models import Donor
from portal.extensions import db
from portal.giving import services as giving
from portal.journey.models import Touchpoint
from portal.loyalty import services as loyalty
from portal.loyalty.models import LoyaltyAccount, PointsEntry, Redemption, Reward
from portal.support.models import Task
from portal.timeutil import utcnow
from tests.conftest import make_donor, make_gift, make_user

pytestmark = pytest.mark.usefixtures("ctx")


def entries(donor_id):
    db.session.expire_all()
    return [(e.kind, e.points) for e in db.session.scalars(
        select(PointsEntry).where(PointsEntry.donor_id == donor_id).order_by(PointsEntry.id))]


def tier_changes(donor_id):
    return [tp.data for tp in db.session.scalars(
        select(Touchpoint).where(Touchpoint.donor_id == donor_id, Touchpoint.kind == "tier_changed").order_by(Touchpoint.id))]


def recently(days=30):
    return utcnow() - timedelta(days=days)


def add_reward(**values):
    defaults = {"name": "Impact report", "description": "", "kind": "impact_report", "points_cost": 60, "stock": None,
                "donation_minor": None, "funds": "", "active": True}
    defaults.update(values)
    return loyalty.save_reward(None, **defaults)


def test_received_gift_earns_a_point_per_whole_unit_plus_the_first_gift_bonus():
    donor = make_donor()
    make_gift(donor.id, 2599, recently())
    assert entries(donor.id) == [("earn", 25), ("bonus", 50)]
    assert loyalty.balance(donor.id) == 75


def test_gifts_from_a_recurring_plan_earn_the_multiplier():
    donor = make_donor()
    make_gift(donor.id, 2000, recently(60))
    plan = giving.start_plan(donor.id, giving.PlanInput(kind="recurring_gift", amount_minor=1000, currency="GBP",
                                                       interval="monthly", started_at=recently(40).date()))
    make_gift(donor.id, 1000, recently(), plan_id=plan.id)
    assert entries(donor.id) == [("earn", 20), ("bonus", 50), ("earn", 15)]


def test_pledged_gift_earns_nothing():
    donor = make_donor()
    make_gift(donor.id, 5000, recently(), status="pledged")
    assert entries(donor.id) == []


def test_processing_the_same_gift_twice_never_awards_twice():
    donor = make_donor()
    gift = make_gift(donor.id, 4000, recently())
    touchpoint = db.session.scalar(select(Touchpoint).where(Touchpoint.kind == "gift_received"))
    loyalty.on_touchpoint(touchpoint)
    assert loyalty.earn_for_gift(donor.id, gift.id, 4000, received_at=gift.received_at, recurring=False, first_gift=True) is None
    db.session.commit()
    assert entries(donor.id) == [("earn", 40), ("bonus", 50)]


def test_refund_reverses_the_gift_and_its_bonus_even_below_zero_once_spent():
    donor = make_donor()
    gift = make_gift(donor.id, 10000, recently())
    loyalty.redeem(donor.id, add_reward(points_cost=150).id)
    giving.refund_gift(db.session.get(giving.Gift, gift.id), reason="Card dispute")
    assert entries(donor.id) == [("earn", 100), ("bonus", 50), ("redeem", -150), ("reverse", -150)]
    assert loyalty.balance(donor.id) == -150
    with pytest.raises(loyalty.LoyaltyError, match="you have -150"):
        loyalty.redeem(donor.id, add_reward(name="Tickets", points_cost=1).id)


def test_fifth_gift_bonus_is_awarded_once():
    donor = make_donor()
    for days in (300, 200, 150, 100, 50, 10):
        make_gift(donor.id, 1000, recently(days))
    assert [e for e in entries(donor.id) if e[0] == "bonus"] == [("bonus", 50), ("bonus", 100)]


def test_reaching_a_tier_is_a_touchpoint_and_the_moving_window_moves_donors_down():
    donor = make_donor()
    make_gift(donor.id, 5000, recently(100))
    assert tier_changes(donor.id) == []  # joining at the first tier is not a change
    make_gift(donor.id, 20000, recently(50))
    assert loyalty.points_summary(donor.id).tier == "Supporter"
    assert tier_changes(donor.id) == [{"from": "Friend", "to": "Supporter", "direction": "up"}]

    assert loyalty.recompute_all_tiers(now=utcnow() + timedelta(days=330)) == 1
    assert tier_changes(donor.id)[-1] == {"from": "Supporter", "to": "Friend", "direction": "down"}
    assert db.session.get(LoyaltyAccount, donor.id).tier.name == "Friend"
    assert loyalty.recompute_all_tiers(now=utcnow() + timedelta(days=331)) == 0


def test_points_summary_shows_progress_to_the_next_tier():
    donor = make_donor()
    make_gift(donor.id, 10000, recently())  # 100 + 50 bonus
    summary = loyalty.points_summary(donor.id)
    assert (summary.balance, summary.tier, summary.next_tier, summary.points_to_next) == (150, "Friend", "Supporter", 100)
    assert summary.progress_percent == 60
    assert summary.as_tokens()["balance"] == 150


def test_birthday_and_anniversary_bonuses_are_awarded_once_a_year():
    today = date(2026, 11, 20)
    donor = make_donor(birthday=date(1980, 11, 20))
    make_gift(donor.id, 1000, datetime(2024, 11, 20, 12))
    make_gift(donor.id, 1000, datetime(2026, 6, 1, 12))
    assert loyalty.award_birthday_bonuses(today=today) == 1
    assert loyalty.award_birthday_bonuses(today=today) == 0
    assert loyalty.award_anniversary_bonuses(today=today) == 1
    assert loyalty.award_anniversary_bonuses(today=today) == 0
    reasons = db.session.scalars(select(PointsEntry.reason).where(PointsEntry.kind == "bonus").order_by(PointsEntry.id)).all()
    assert reasons[-2:] == ["Happy birthday from all of us", "2 years of giving: thank you"]


def test_leap_day_birthdays_are_celebrated_on_28_february():
    donor = make_donor(birthday=date(1988, 2, 29))
    make_gift(donor.id, 1000, recently())
    assert loyalty.award_birthday_bonuses(today=date(2027, 2, 27)) == 0
    assert loyalty.award_birthday_bonuses(today=date(2027, 2, 28)) == 1


def test_expiry_is_off_by_default_and_then_takes_inactive_balances_once():
    active, inactive = make_donor(), make_donor(first_name="Grace", last_name="Hopper")
    make_gift(active.id, 3000, recently(30))
    make_gift(inactive.id, 3000, recently(500))
    assert loyalty.expire_inactive_points() == 0
    loyalty.update_rules(points_per_unit=1, recurring_multiplier_percent=150, first_gift_bonus=50, fifth_gift_bonus=100,
                         anniversary_bonus=50, birthday_bonus=25, tier_window_months=12, expiry_months=12)
    assert loyalty.points_summary(active.id).expires_on is not None
    assert loyalty.expire_inactive_points() == 1
    assert loyalty.expire_inactive_points() == 0
    assert loyalty.balance(inactive.id) == 0 and entries(inactive.id)[-1] == ("expire", -80)
    assert loyalty.balance(active.id) == 80


def test_redemption_spends_points_takes_stock_and_asks_staff_to_call():
    donor = make_donor()
    make_gift(donor.id, 10000, recently())
    reward = add_reward(name="A thank-you call", kind="thank_you_call", points_cost=100, stock=2)
    redemption = loyalty.redeem(donor.id, reward.id)
    assert loyalty.balance(donor.id) == 50
    assert db.session.get(Reward, reward.id).stock == 1
    assert db.session.scalar(select(Task.source)) == f"redemption:{redemption.id}"
    assert db.session.scalar(select(Touchpoint.kind).where(Touchpoint.kind == "points_redeemed")) == "points_redeemed"

    staff = make_user("fundraiser")
    loyalty.cancel_redemption(redemption, actor=staff, note="Event cancelled")
    assert loyalty.balance(donor.id) == 150 and db.session.get(Reward, reward.id).stock == 2


def test_redeeming_more_than_the_balance_or_an_empty_stock_changes_nothing():
    donor = make_donor()
    make_gift(donor.id, 5000, recently())  # 100 points
    costly, gone = add_reward(points_cost=500), add_reward(name="Tickets", points_cost=10, stock=0)
    with pytest.raises(loyalty.LoyaltyError, match="You need 500 points"):
        loyalty.redeem(donor.id, costly.id)
    with pytest.raises(loyalty.LoyaltyError, match="run out"):
        loyalty.redeem(donor.id, gone.id)
    assert loyalty.balance(donor.id) == 100
    assert db.session.scalar(select(func.count()).select_from(Redemption)) == 0
    assert db.session.get(Reward, gone.id).stock == 0


def test_donation_reward_needs_one_of_its_funds():
    donor = make_donor()
    make_gift(donor.id, 5000, recently())
    reward = add_reward(name="Points into a donation", kind="donation", points_cost=50, donation_minor=500,
                        funds="Lifeboat crews, Clean water")
    with pytest.raises(loyalty.LoyaltyError, match="Choose the fund"):
        loyalty.redeem(donor.id, reward.id, fund="Somewhere else")
    assert loyalty.redeem(donor.id, reward.id, fund="Clean water").fund == "Clean water"


def test_staff_adjustment_needs_a_reason_and_cannot_go_negative():
    donor = make_donor()
    staff = make_user("fundraiser")
    with pytest.raises(loyalty.LoyaltyError, match="Say why"):
        loyalty.adjust(donor.id, 20, reason=" ", actor=staff)
    loyalty.adjust(donor.id, 20, reason="Volunteered at the open day", actor=staff)
    with pytest.raises(loyalty.LoyaltyError, match="can't make it negative"):
        loyalty.adjust(donor.id, -21, reason="Correction", actor=staff)
    assert entries(donor.id) == [("adjust", 20)]


def test_balance_and_tier_work_as_segment_conditions():
    rich, poor = make_donor(), make_donor(first_name="Grace", last_name="Hopper")
    make_gift(rich.id, 30000, recently())
    make_gift(poor.id, 1000, recently())
    assert db.session.scalars(select(Donor.id).where(loyalty.balance_expression() >= 300)).all() == [rich.id]
    assert db.session.scalars(select(Donor.id).where(loyalty.tier_expression() == "Supporter")).all() == [rich.id]


@pytest.mark.postgres
def test_two_redemptions_at_once_cannot_both_spend_the_same_points(app):
    donor = make_donor()
    make_gift(donor.id, 5000, recently())  # 100 points
    reward_id = add_reward(points_cost=60).id
    both_read = threading.Barrier(2)
    original_balance = loyalty.balance

    def balance_then_wait(donor_id):
        # Without the account lock both threads would read 100 here and both pass the barrier.
        value = original_balance(donor_id)
        try:
            both_read.wait(timeout=2)
        except threading.BrokenBarrierError:
            pass
        return value

    outcomes = []

    def attempt():
        with app.app_context():
            try:
                loyalty.redeem(donor.id, reward_id)
                outcomes.append("redeemed")
            except loyalty.LoyaltyError as exc:
                outcomes.append(str(exc))
            finally:
                db.session.remove()

    loyalty.balance = balance_then_wait
    try:
        threads = [threading.Thread(target=attempt) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    finally:
        loyalty.balance = original_balance
    assert sorted(outcomes) == ["You need 60 points for this reward and you have 40.", "redeemed"]
    assert loyalty.balance(donor.id) == 40
    assert db.session.scalar(select(func.count()).select_from(Redemption)) == 1
