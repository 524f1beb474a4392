"""Staff loyalty pages: rules, tiers, rewards, redemptions to fulfil, and the ledger on the donor page."""
from datetime import timedelta

from sqlalchemy import select

from portal.extensions import db
from portal.loyalty import services as loyalty
from portal.loyalty.models import LoyaltyRules, Redemption, Reward, Tier
from portal.timeutil import utcnow
from tests.conftest import login, make_donor, make_gift, make_user



def staff(app, role):
    client = app.test_client()
    with app.app_context():
        make_user(role, f"{role}@harbour.example.org")
    assert login(client, f"{role}@harbour.example.org").status_code == 303
    return client


RULES = {"points_per_unit": "2", "recurring_multiplier_percent": "200", "first_gift_bonus": "10", "fifth_gift_bonus": "0",
         "anniversary_bonus": "5", "birthday_bonus": "5", "tier_window_months": "6", "expiry_months": "24"}


def test_admin_edits_the_earning_rules_and_new_gifts_follow_them(app):
    admin = staff(app, "admin")
    assert admin.get("/staff/loyalty/rules").status_code == 200
    bad = admin.post("/staff/loyalty/rules", data={**RULES, "recurring_multiplier_percent": "50"})
    assert bad.status_code == 400 and "Use 100 (no bonus) to 1000." in bad.get_data(as_text=True)
    assert admin.post("/staff/loyalty/rules", data=RULES).status_code == 303
    with app.app_context():
        rules = db.session.get(LoyaltyRules, 1)
        assert (rules.points_per_unit, rules.tier_window_months, rules.expiry_months) == (2, 6, 24)
        donor = make_donor()
        make_gift(donor.id, 1000, utcnow() - timedelta(days=1))
        assert loyalty.balance(donor.id) == 30


def test_only_admins_edit_rules_and_tiers_and_support_cannot_edit_rewards(app):
    fundraiser, support = staff(app, "fundraiser"), staff(app, "support")
    assert fundraiser.get("/staff/loyalty/rules").status_code == 403
    assert fundraiser.post("/staff/loyalty/tiers", data={"name": "Gold", "min_points": "5"}).status_code == 403
    assert support.get("/staff/loyalty/rewards").status_code == 403
    assert support.get("/staff/loyalty/").status_code == 200
    assert app.test_client().get("/staff/loyalty/").status_code == 302


def test_tiers_are_added_and_edited_with_unique_thresholds(app):
    admin = staff(app, "admin")
    assert "Champion" in admin.get("/staff/loyalty/tiers").get_data(as_text=True)
    clash = admin.post("/staff/loyalty/tiers", data={"name": "Patron", "min_points": "1000"})
    assert clash.status_code == 400 and "Another tier starts at this number of points." in clash.get_data(as_text=True)
    assert admin.post("/staff/loyalty/tiers", data={"name": "Patron", "min_points": "5000", "benefits": "Dinner"}).status_code == 303
    with app.app_context():
        patron = db.session.scalar(select(Tier).where(Tier.name == "Patron"))
        assert patron.min_points == 5000
        patron_id = patron.id
    assert admin.post(f"/staff/loyalty/tiers/{patron_id}", data={"name": "Patron", "min_points": "4000"}).status_code == 303
    assert admin.post(f"/staff/loyalty/tiers/{patron_id}/delete").status_code == 303
    with app.app_context():
        assert db.session.scalars(select(Tier.name).order_by(Tier.min_points)).all() == ["Friend", "Supporter", "Champion"]


def test_rewards_catalogue_with_stock_and_donation_funds(app):
    fundraiser = staff(app, "fundraiser")
    missing_funds = fundraiser.post("/staff/loyalty/rewards", data={"name": "Points into a donation", "kind": "donation",
                                                                    "points_cost": "200", "donation_amount": "5", "active": "y"})
    assert missing_funds.status_code == 400 and "List at least one fund" in missing_funds.get_data(as_text=True)
    assert fundraiser.post("/staff/loyalty/rewards", data={"name": "Points into a donation", "kind": "donation", "points_cost": "200",
                                                           "donation_amount": "5", "funds": "Clean water, Lifeboat crews",
                                                           "active": "y"}).status_code == 303
    assert fundraiser.post("/staff/loyalty/rewards", data={"name": "Open day tickets", "kind": "event_ticket", "points_cost": "80",
                                                           "stock": "12", "active": "y"}).status_code == 303
    with app.app_context():
        rewards = {r.name: r for r in db.session.scalars(select(Reward))}
        assert rewards["Points into a donation"].donation_minor == 500
        assert rewards["Points into a donation"].fund_choices == ["Clean water", "Lifeboat crews"]
        assert rewards["Open day tickets"].stock == 12
    assert fundraiser.get("/staff/loyalty/rewards/999").status_code == 404


def test_redemptions_are_fulfilled_and_each_donor_page_shows_the_ledger(app):
    fundraiser = staff(app, "fundraiser")
    with app.app_context():
        donor = make_donor(first_name="Amelia", email="amelia@example.org")
        make_gift(donor.id, 10000, utcnow() - timedelta(days=2))
        reward = loyalty.save_reward(None, name="Impact report", description="", kind="impact_report", points_cost=40,
                                     stock=None, donation_minor=None, funds="", active=True)
        redemption_id = loyalty.redeem(donor.id, reward.id).id
        donor_id = donor.id
    queue = fundraiser.get("/staff/loyalty/").get_data(as_text=True)
    assert "Amelia Lovelace" in queue and "Impact report" in queue
    assert fundraiser.post(f"/staff/loyalty/redemptions/{redemption_id}/fulfil", data={"note": "Posted"}).status_code == 303
    assert "Every redemption has been handled." in fundraiser.get("/staff/loyalty/").get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Redemption, redemption_id).status == "fulfilled"

    page = fundraiser.get(f"/staff/donors/{donor_id}").get_data(as_text=True)
    assert '<section class="card" aria-labelledby="loyalty-h" id="loyalty">' in page  # rendered, not escaped
    assert "Loyalty points" in page and "Redeemed: Impact report" in page and "Welcome bonus for your first gift" in page
    no_reason = fundraiser.post(f"/staff/loyalty/donors/{donor_id}/adjust", data={"points": "25", "reason": ""})
    assert no_reason.status_code == 400
    assert fundraiser.post(f"/staff/loyalty/donors/{donor_id}/adjust", data={"points": "25", "reason": "Open day volunteer"}).status_code == 303
    with app.app_context():
        assert loyalty.balance(donor_id) == 135
