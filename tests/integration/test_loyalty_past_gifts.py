"""Back office: points for past gifts since a chosen date, previewed before they are awarded."""
from datetime import timedelta

from portal.extensions import db
from portal.giving import services as giving
from portal.loyalty import services as loyalty
from portal.timeutil import utcnow
from tests.conftest import login, make_donor, make_user


def staff(app, role):
    client = app.test_client()
    with app.app_context():
        make_user(role, f"{role}@harbour.example.org")
    assert login(client, f"{role}@harbour.example.org").status_code == 303
    return client


def test_admin_previews_then_awards_points_for_past_gifts_since_a_date(app):
    admin = staff(app, "admin")
    now = utcnow()
    with app.app_context():
        donor = make_donor(first_name="Keen")
        giving.add_gifts([(donor.id, giving.GiftInput(amount_minor=10000, received_at=now - timedelta(days=d), currency="GBP"))
                          for d in (700, 200, 100, 50)], channel="import")
        db.session.commit()
        donor_id = donor.id
    since = (now - timedelta(days=365)).date().isoformat()
    page = admin.get(f"/staff/loyalty/past-gifts?since={since}")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "3 gifts from 1 donor would earn 300 points." in text
    assert "Supporter" in text and "Award 300 points" in text
    with app.app_context():
        assert loyalty.balance(donor_id) == 0, "the preview writes nothing"

    awarded = admin.post("/staff/loyalty/past-gifts", data={"since": since})
    assert awarded.status_code == 303
    followed = admin.get(awarded.headers["Location"])
    assert "3 past gifts earned points." in followed.get_data(as_text=True)
    assert "there is nothing to award" in followed.get_data(as_text=True)
    with app.app_context():
        assert loyalty.balance(donor_id) == 300
        assert loyalty.points_summary(donor_id).tier == "Supporter"


def test_a_bad_date_is_a_field_error_and_only_admins_may_award(app):
    admin = staff(app, "admin")
    bad = admin.get("/staff/loyalty/past-gifts?since=31/31/2025")
    assert bad.status_code == 400 and "Not a valid date value." in bad.get_data(as_text=True)
    fundraiser = staff(app, "fundraiser")
    assert fundraiser.get("/staff/loyalty/past-gifts").status_code == 403
    assert fundraiser.post("/staff/loyalty/past-gifts", data={}).status_code == 403


def test_awarding_needs_the_csrf_token(app):
    admin = staff(app, "admin")
    assert admin.post("/staff/loyalty/past-gifts", data={}, csrf=False).status_code == 400
