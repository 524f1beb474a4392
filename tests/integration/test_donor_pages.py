from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from portal.donors.models import Donor
from portal.extensions import db
from portal.giving.models import DonorStats, Gift, RecurringPlan
from portal.journey.models import Touchpoint
from portal.timeutil import utcnow
from tests.conftest import make_donor, make_gift


@pytest.fixture
def fundraiser(staff_client):
    return staff_client("fundraiser")


def test_donor_list_full_page_and_htmx_fragment(app, fundraiser):
    with app.app_context():
        make_donor(first_name="Ada", last_name="Lovelace", email="ada@example.org")
        make_donor(first_name="Alan", last_name="Turing", email="alan@example.org")
    page = fundraiser.get("/staff/donors/?q=ada")
    assert page.status_code == 200 and b"<html" in page.data
    assert b"Ada Lovelace" in page.data and b"Alan Turing" not in page.data
    assert "HX-Request" in page.headers["Vary"]
    fragment = fundraiser.get("/staff/donors/?q=tur", headers={"HX-Request": "true"})
    assert b"<html" not in fragment.data and b"Alan Turing" in fragment.data and b"Ada Lovelace" not in fragment.data
    bad = fundraiser.get("/staff/donors/?gave_within=soon")
    assert bad.status_code == 200 and b"Enter a number of days" in bad.data


def test_create_donor_with_errors_shows_them_in_place_and_saves_nothing(app, fundraiser):
    response = fundraiser.post("/staff/donors/new", data={"kind": "individual", "email": "not-an-email", "phone": "call me",
                                                          "birthday": "2999-01-01"})
    assert response.status_code == 400
    for message in (b"Enter a first or last name.", b"Enter a valid email address", b"Use digits, spaces", b"Enter a birthday in the past"):
        assert message in response.data
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Donor)) == 0


def test_create_then_edit_donor(app, fundraiser):
    response = fundraiser.post("/staff/donors/new", data={
        "kind": "individual", "first_name": "Grace", "last_name": "Hopper", "email": "Grace@Example.org",
        "preferred_channel": "email", "tags": "volunteer, board", "marketing_opt_in": "y"})
    assert response.status_code == 303
    donor_url = response.headers["Location"]
    page = fundraiser.get(donor_url)
    assert b"Grace Hopper" in page.data and b"Marketing email: yes" in page.data and b"Became a supporter" in page.data
    duplicate = fundraiser.post("/staff/donors/new", data={"kind": "individual", "last_name": "X", "email": "grace@example.org",
                                                           "preferred_channel": "email"})
    assert duplicate.status_code == 400 and b"Another donor already has this email address." in duplicate.data
    edit = fundraiser.post(donor_url + "/edit", data={"kind": "individual", "first_name": "Grace", "last_name": "Hopper",
                                                      "email": "grace@example.org", "preferred_channel": "phone", "city": "Arlington"})
    assert edit.status_code == 303
    with app.app_context():
        donor = db.session.scalar(select(Donor).where(Donor.email == "grace@example.org"))
        assert (donor.city, donor.preferred_channel, donor.can_receive_marketing) == ("Arlington", "phone", False)


def test_email_check_while_typing(app, fundraiser):
    with app.app_context():
        donor_id = make_donor(email="taken@example.org").id
    assert b"Another donor already has" in fundraiser.get("/staff/donors/check-email?email=TAKEN@example.org").data
    assert b"Looks good" in fundraiser.get(f"/staff/donors/check-email?email=taken@example.org&donor_id={donor_id}").data
    assert b"valid email" in fundraiser.get("/staff/donors/check-email?email=nope").data


def test_record_gift_through_the_page_updates_rollup_and_timeline(app, fundraiser):
    with app.app_context():
        donor_id = make_donor().id
    bad = fundraiser.post(f"/staff/donors/{donor_id}/gifts", data={"amount": "-3", "received_on": "2026-01-01", "method": "card"})
    assert bad.status_code == 400 and b"The amount must be more than zero." in bad.data
    future = (date.today() + timedelta(days=3)).isoformat()
    assert b"cannot be dated in the future" in fundraiser.post(
        f"/staff/donors/{donor_id}/gifts", data={"amount": "5", "received_on": future, "method": "card"}).data
    ok = fundraiser.post(f"/staff/donors/{donor_id}/gifts", data={"amount": "42.50", "received_on": date.today().isoformat(),
                                                                  "fund": "Flood relief", "method": "card"})
    assert ok.status_code == 303
    with app.app_context():
        assert db.session.scalar(select(Gift.amount_minor).where(Gift.donor_id == donor_id)) == 4250
        assert db.session.get(DonorStats, donor_id).lifetime_minor == 4250
    page = fundraiser.get(f"/staff/donors/{donor_id}")
    assert b"\xc2\xa342.50 to Flood relief" in page.data and b"Gift received" in page.data


def test_plan_start_pause_cancel_through_the_page(app, fundraiser):
    with app.app_context():
        donor_id = make_donor().id
    response = fundraiser.post(f"/staff/donors/{donor_id}/plans", data={
        "kind": "sponsorship", "amount": "15", "interval": "monthly", "started_on": date.today().isoformat(), "fund": "Crew"})
    assert response.status_code == 303
    with app.app_context():
        plan_id = db.session.scalar(select(RecurringPlan.id))
    fundraiser.post(f"/staff/donors/{donor_id}/plans/{plan_id}/status", data={"action": "pause"})
    fundraiser.post(f"/staff/donors/{donor_id}/plans/{plan_id}/cancel", data={"reason": "Moving"})
    with app.app_context():
        plan = db.session.get(RecurringPlan, plan_id)
        assert (plan.status, plan.end_reason) == ("cancelled", "Moving")
    other = make_other_donor(app)
    assert fundraiser.post(f"/staff/donors/{other}/plans/{plan_id}/status", data={"action": "resume"}).status_code == 404
    assert fundraiser.post(f"/staff/donors/{other}/plans/{plan_id}/cancel", data={"reason": "x"}).status_code == 404


def _active_sponsorship(app, fundraiser):
    with app.app_context():
        donor_id = make_donor().id
    fundraiser.post(f"/staff/donors/{donor_id}/plans", data={
        "kind": "sponsorship", "amount": "15", "interval": "monthly", "started_on": date.today().isoformat(), "fund": "Crew"})
    with app.app_context():
        return donor_id, db.session.scalar(select(RecurringPlan.id))


def test_cancel_on_the_donor_page_is_a_link_to_a_confirmation_that_asks_why(app, fundraiser):
    donor_id, plan_id = _active_sponsorship(app, fundraiser)
    page = fundraiser.get(f"/staff/donors/{donor_id}").get_data(as_text=True)
    assert f'href="/staff/donors/{donor_id}/plans/{plan_id}/cancel"' in page
    assert 'value="cancel"' not in page  # no one-click cancel button
    confirm = fundraiser.get(f"/staff/donors/{donor_id}/plans/{plan_id}/cancel")
    assert confirm.status_code == 200
    assert "Cancel Ada Lovelace’s sponsorship?" in confirm.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(RecurringPlan, plan_id).status == "active"  # looking at the page changes nothing


def test_cancelling_without_a_reason_is_refused_with_a_field_error(app, fundraiser):
    donor_id, plan_id = _active_sponsorship(app, fundraiser)
    refused = fundraiser.post(f"/staff/donors/{donor_id}/plans/{plan_id}/cancel", data={"reason": "  "})
    assert refused.status_code == 400
    assert "Say why it is ending" in refused.get_data(as_text=True)
    one_click = fundraiser.post(f"/staff/donors/{donor_id}/plans/{plan_id}/status", data={"action": "cancel"})
    assert one_click.status_code == 303
    with app.app_context():
        assert db.session.get(RecurringPlan, plan_id).status == "active"
        assert db.session.scalar(select(func.count()).select_from(Touchpoint).where(
            Touchpoint.donor_id == donor_id, Touchpoint.kind == "plan_cancelled")) == 0
    done = fundraiser.post(f"/staff/donors/{donor_id}/plans/{plan_id}/cancel", data={"reason": "Donor moving abroad"})
    assert done.status_code == 303
    with app.app_context():
        plan = db.session.get(RecurringPlan, plan_id)
        assert (plan.status, plan.end_reason) == ("cancelled", "Donor moving abroad")


def make_other_donor(app):
    with app.app_context():
        return make_donor(email="other@example.org").id


def test_timeline_htmx_loads_older_items_and_filters(app, fundraiser):
    with app.app_context():
        donor = make_donor()
        now = utcnow()
        for i in range(25):
            make_gift(donor.id, 100 + i, now - timedelta(days=100 - i))
        donor_id = donor.id
    page = fundraiser.get(f"/staff/donors/{donor_id}")
    # Newest first: "became a supporter" (today) and the 19 latest gifts.
    assert page.data.count(b'class="g-giving"') == 19 and page.data.count(b'class="g-profile"') == 1
    assert b'hx-trigger="revealed"' in page.data
    cursor = page.data.split(b"cursor=")[1].split(b'"')[0].decode().replace("&amp;", "&")
    more = fundraiser.get(f"/staff/donors/{donor_id}?cursor={cursor}", headers={"HX-Request": "true"})
    assert b"<html" not in more.data and more.data.count(b'class="g-giving"') == 6
    contact = fundraiser.get(f"/staff/donors/{donor_id}?group=contact", headers={"HX-Request": "true"})
    assert b"Nothing here yet" in contact.data


def test_unknown_ids_are_404(fundraiser):
    assert fundraiser.get("/staff/donors/999999").status_code == 404
    assert fundraiser.get("/staff/donors/999999/edit").status_code == 404
    assert fundraiser.post("/staff/donors/999999/gifts", data={"amount": "5"}).status_code == 404


def test_export_csv_respects_filters(app, fundraiser):
    with app.app_context():
        make_donor(first_name="Ada", last_name="Lovelace", email="ada@example.org")
        make_donor(first_name="Alan", last_name="Turing", email="alan@example.org")
    response = fundraiser.get("/staff/donors/export.csv?q=tur")
    assert response.mimetype == "text/csv" and "attachment" in response.headers["Content-Disposition"]
    rows = response.data.decode().strip().splitlines()
    assert len(rows) == 2 and "alan@example.org" in rows[1]


def test_admin_manages_staff_users_and_settings(app, staff_client):
    admin = staff_client("admin")
    short = admin.post("/staff/admin/users", data={"name": "Sam", "email": "sam@example.org", "role": "support", "password": "short"})
    assert short.status_code == 400 and b"at least 10 characters" in short.data
    ok = admin.post("/staff/admin/users", data={"name": "Sam", "email": "sam@example.org", "role": "support",
                                                "password": "a-long-password"})
    assert ok.status_code == 303
    bad_tz = admin.post("/staff/admin/organisation", data={"name": "Harbour", "currency": "EUR", "timezone": "Mars/Olympus"})
    assert bad_tz.status_code == 400 and b"Choose a time zone" in bad_tz.data
    assert admin.post("/staff/admin/organisation", data={"name": "Harbour", "currency": "EUR", "timezone": "Europe/Dublin"}).status_code == 303
    with app.app_context():
        from portal.settings.models import Organisation

        org = db.session.scalar(select(Organisation))
        assert (org.currency, org.timezone) == ("EUR", "Europe/Dublin")
        assert db.session.scalar(select(func.count()).select_from(Touchpoint)) == 0
