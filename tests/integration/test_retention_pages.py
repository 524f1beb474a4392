"""The at-risk list, closing alerts, scoring settings and the donor page's risk panel through the test client."""
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.donors.services import set_marketing_consent
from portal.extensions import db
from portal.giving import services as giving
from portal.retention import services as retention
from portal.retention.models import Alert, RelationshipManager
from portal.support.models import Task
from portal.timeutil import utcnow
from tests.conftest import make_donor, make_gift, signed_in


def at_risk(first_name: str, lifetime_minor: int) -> int:
    """Gave recently, then cancelled a sponsorship with a reason and unsubscribed: 30 + 25 + 10 = 65, an alert."""
    donor = make_donor(email=f"{first_name.lower()}@example.org", first_name=first_name, last_name="Doe")
    make_gift(donor.id, lifetime_minor, utcnow() - timedelta(days=20))
    plan = giving.start_plan(donor.id, giving.PlanInput(kind="sponsorship", amount_minor=1500, currency="GBP",
                                                        interval="monthly", started_at=(utcnow() - timedelta(days=60)).date()))
    giving.change_plan_status(plan, "cancel", reason="Money is tight")
    set_marketing_consent(db.session.merge(donor), False, source="unsubscribe link")
    db.session.commit()
    return donor.id


@pytest.fixture
def donors(app):
    with app.app_context():
        return {"Small": at_risk("Small", 2000), "Big": at_risk("Big", 900000)}


def names_in_order(html: str, names) -> list[str]:
    return sorted(names, key=lambda name: html.index(f">{name} Doe<"))


def test_at_risk_list_sorts_by_score_and_by_lifetime_value(app, donors):
    staff = signed_in(app, "fundraiser")
    with app.app_context():
        db.session.execute(retention.RiskScore.__table__.update().where(retention.RiskScore.donor_id == donors["Small"])
                           .values(score=90))
        db.session.commit()
    by_score = staff.get("/staff/at-risk/").data.decode()
    assert names_in_order(by_score, ["Big", "Small"]) == ["Small", "Big"]
    assert "Regular giving ended" in by_score and "Negative feedback" in by_score
    by_value = staff.get("/staff/at-risk/?sort=lifetime", headers={"HX-Request": "true"}).data.decode()
    assert names_in_order(by_value, ["Big", "Small"]) == ["Big", "Small"] and "<html" not in by_value
    assert staff.get("/staff/at-risk/?status=nonsense&sort=nonsense&kind=nonsense").status_code == 200


def test_dismiss_needs_a_reason_and_closes_the_task_resolve_does_not(app, donors):
    staff = signed_in(app, "support")
    with app.app_context():
        alerts = {a.donor_id: a.id for a in db.session.scalars(select(Alert))}
    small, big = alerts[donors["Small"]], alerts[donors["Big"]]
    refused = staff.post(f"/staff/at-risk/alerts/{small}/dismiss", data={"reason": " "})
    assert refused.status_code == 400 and b"Say why you&#39;re dismissing this alert." in refused.data
    assert staff.post(f"/staff/at-risk/alerts/{small}/dismiss", data={"reason": "Moving abroad, said goodbye",
                                                                      "next": f"/staff/donors/{donors['Small']}"}).status_code == 303
    resolved = staff.post(f"/staff/at-risk/alerts/{big}/resolve", data={"note": "Called, she's staying", "next": "//evil.example"})
    assert resolved.status_code == 303 and resolved.headers["Location"].endswith("/staff/at-risk/")
    assert staff.post(f"/staff/at-risk/alerts/{big}/resolve", data={"note": ""}).status_code == 303  # already closed: a message
    assert staff.post("/staff/at-risk/alerts/999999/resolve", data={}).status_code == 404
    with app.app_context():
        found = {a.id: a for a in db.session.scalars(select(Alert))}
        assert (found[small].status, found[small].close_reason) == ("dismissed", "Moving abroad, said goodbye")
        assert (found[big].status, found[big].close_reason) == ("resolved", "Called, she's staying")
        assert {t.source: t.status for t in db.session.scalars(select(Task))} == {f"alert:{small}": "cancelled", f"alert:{big}": "done"}
    dismissed = staff.get("/staff/at-risk/?status=dismissed").data.decode()
    assert "Moving abroad, said goodbye" in dismissed


def test_scoring_settings_are_admin_only_and_validated(app):
    assert signed_in(app, "fundraiser").get("/staff/at-risk/settings").status_code == 403
    admin = signed_in(app, "admin")
    page = admin.get("/staff/at-risk/settings")
    assert page.status_code == 200 and b"Giving down" in page.data and b"5000.00" in page.data
    with app.app_context():
        levels = retention.settings()
        values = {name: str(getattr(levels, name)) for name in retention.SETTING_RANGES if name != "major_donor_minor"}
        values.update(major_donor="2,500", alert_team="support", check_in_team="fundraiser", check_in_action="both")
    bad = admin.post("/staff/at-risk/settings", data={**values, "w_giving_down": "101"})
    assert bad.status_code == 400 and b"Enter a whole number from 0 to 100." in bad.data
    assert admin.post("/staff/at-risk/settings", data={**values, "w_giving_down": "40", "threshold": "70"}).status_code == 303
    with app.app_context():
        levels = retention.settings()
        assert (levels.w_giving_down, levels.threshold, levels.major_donor_minor, levels.alert_team) == (40, 70, 250000, "support")


def test_donor_page_shows_risk_reasons_alert_and_relationship_manager(app, donors):
    staff = signed_in(app, "fundraiser", name="Tom Okafor")
    page = staff.get(f"/staff/donors/{donors['Big']}").data.decode()
    assert "Risk score 65 of 100" in page
    assert "A recurring gift, sponsorship or membership was cancelled or lapsed in the last 12 months" in page
    assert "They unsubscribed from email" in page and "+10" in page
    assert "At risk</strong> since" in page
    assert staff.post(f"/staff/at-risk/donors/{donors['Big']}/manager", data={"user_id": str(staff.user_id)}).status_code == 303
    assert staff.post(f"/staff/at-risk/donors/{donors['Big']}/manager", data={"user_id": "424242"}).status_code == 303
    assert staff.post("/staff/at-risk/donors/999999/manager", data={"user_id": ""}).status_code == 404
    with app.app_context():
        assert db.session.get(RelationshipManager, donors["Big"]).user_id == staff.user_id
