"""Data rights through the app: access exports for staff and the donor, erasure, the retention policy."""
import csv
import io
import re
import zipfile
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, update

from portal.audit.models import AuditEvent
from portal.donors.models import Donor
from portal.extensions import db
from portal.privacy.models import DataExport
from portal.timeutil import utcnow
from tests.conftest import login, make_donor, make_gift, make_user
from tests.donor_history import add_history


@pytest.fixture
def amelia(app):
    """A donor with a full history and a portal login; returns (donor id, a client signed in as her)."""
    with app.app_context():
        donor = make_donor(first_name="Amelia", last_name="Clarke", email="amelia@example.org", phone="07700 900123",
                           notes="=HYPERLINK(\"http://evil.example\")", marketing_opt_in=True)
        add_history(donor, amount=2500, points=25, words="Please post my receipts", login_email="amelia@example.org")
        donor_id = donor.id
    client = app.test_client()
    assert login(client, "amelia@example.org").status_code == 303
    return donor_id, client


def _link(html: str) -> str:
    return re.search(r'href="(/data-export/[^"]+)"', html).group(1)


def _files(response) -> dict[str, str]:
    assert response.status_code == 200 and response.mimetype == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.data)) as archive:
        return {name: archive.read(name).decode() for name in archive.namelist()}


def test_the_donor_downloads_everything_about_them_from_their_details(app, amelia):
    donor_id, client = amelia
    page = client.get("/me/details")
    assert 'href="/me/details/data"' in page.get_data(as_text=True)
    response = client.post("/me/details/data")
    assert response.status_code == 303
    files = _files(client.get(_link(client.get("/me/details/data").get_data(as_text=True))))
    assert set(files) >= {"profile.csv", "consent.csv", "gifts.csv", "plans.csv", "touchpoints.csv", "emails.csv",
                          "survey_answers.csv", "tickets.csv", "ticket_messages.csv", "points_ledger.csv",
                          "suggestions.csv", "summary.html", "portal_account.csv"}
    gifts = list(csv.DictReader(io.StringIO(files["gifts.csv"])))
    assert sorted(g["amount"] for g in gifts) == ["25.00", "50.00"] and {g["fund"] for g in gifts} == {"Lifeboats", "General"}
    assert "Dear Amelia Clarke, call us on 07700 900123" in files["emails.csv"]
    assert "Please post my receipts" in files["survey_answers.csv"] and "Please post my receipts" in files["ticket_messages.csv"]
    assert "Thanks for writing" not in files["ticket_messages.csv"] or "our team" in files["ticket_messages.csv"]
    [profile] = list(csv.DictReader(io.StringIO(files["profile.csv"])))
    assert profile["notes"].startswith("'=HYPERLINK")  # a spreadsheet shows it as text, never runs it
    assert "Amelia Clarke" in files["summary.html"] and "Gifts" in files["summary.html"]
    with app.app_context():
        [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "donor.export")).all()
        assert event.donor_id == donor_id and event.detail["by_donor"] is True
        assert event.actor_label == "the donor, from their portal"  # not her address, which an erasure removes


def test_links_are_for_staff_and_the_donor_only_and_expire_after_seven_days(app, amelia, staff_client):
    donor_id, client = amelia
    fundraiser = staff_client("fundraiser")
    assert fundraiser.post(f"/staff/privacy/donors/{donor_id}/export").status_code == 303
    link = _link(fundraiser.get(f"/staff/donors/{donor_id}").get_data(as_text=True))
    assert "profile.csv" in _files(fundraiser.get(link))
    assert "profile.csv" in _files(client.get(link))  # the donor's own
    with app.app_context():
        make_donor(first_name="Other", email="other@example.org")
        other_id = db.session.scalar(select(Donor.id).where(Donor.email == "other@example.org"))
        make_user("donor", "other@example.org", donor_id=other_id)
    stranger = app.test_client()
    login(stranger, "other@example.org")
    assert stranger.get(link).status_code == 403
    assert app.test_client().get(link).status_code in (302, 401)  # signed out: sign in first
    assert fundraiser.get(link[:-3] + "abc").status_code == 404
    with app.app_context():
        export = db.session.scalar(select(DataExport))
        assert export.expires_at - export.finished_at == timedelta(days=7)
        db.session.execute(update(DataExport).values(expires_at=utcnow() - timedelta(minutes=1)))
        db.session.commit()
    assert fundraiser.get(link).status_code == 410


def test_support_cannot_start_an_export_and_only_admins_erase(app, amelia, staff_client):
    donor_id, _ = amelia
    assert staff_client("support").post(f"/staff/privacy/donors/{donor_id}/export").status_code == 403
    assert staff_client("fundraiser").get(f"/staff/privacy/donors/{donor_id}/erase").status_code == 403
    admin = staff_client("admin")
    assert admin.post(f"/staff/privacy/donors/{donor_id}/erase", data={"confirm": "erase"}, csrf=False).status_code == 400


def test_erasing_from_the_donor_page_ends_the_donors_session(app, amelia, staff_client):
    donor_id, client = amelia
    assert client.get("/me/details").status_code == 200
    admin = staff_client("admin")
    wrong = admin.post(f"/staff/privacy/donors/{donor_id}/erase", data={"confirm": "yes"})
    assert wrong.status_code == 400 and "Type ERASE in capitals" in wrong.get_data(as_text=True)
    done = admin.post(f"/staff/privacy/donors/{donor_id}/erase", data={"confirm": "ERASE"})
    assert done.status_code == 303
    page = admin.get(f"/staff/donors/{donor_id}").get_data(as_text=True)
    assert f"Erased donor #{donor_id}" in page and "Amelia" not in page
    assert client.get("/me/details").status_code == 302  # the login is gone: back to sign in
    with app.app_context():
        actions = [e.action for e in db.session.scalars(select(AuditEvent).where(AuditEvent.donor_id == donor_id).order_by(AuditEvent.id))
                   if e.action != "donor.view"]  # the read log notes staff opening the record
        assert actions == ["donor.erasure_requested", "donor.erased"]


def test_a_new_donor_with_an_erased_address_needs_staff_to_confirm(app, amelia, staff_client):
    donor_id, _ = amelia
    admin = staff_client("admin")
    admin.post(f"/staff/privacy/donors/{donor_id}/erase", data={"confirm": "ERASE"})
    form = {"kind": "individual", "first_name": "Amelia", "last_name": "Clarke", "email": "amelia@example.org",
            "preferred_channel": "email"}
    refused = admin.post("/staff/donors/new", data=form)
    assert refused.status_code == 400 and "asked us to erase their data" in refused.get_data(as_text=True)
    added = admin.post("/staff/donors/new", data={**form, "confirm_erased_email": "y"})
    assert added.status_code == 303


def test_retention_policy_is_off_by_default_previews_then_runs(app, staff_client):
    with app.app_context():
        old = make_donor(first_name="Old", last_name="Friend", email="old@example.org")
        make_gift(old.id, 1000, datetime(2015, 1, 10, 12))
        recent = make_donor(first_name="New", last_name="Friend", email="new@example.org")
        make_gift(recent.id, 1000, utcnow() - timedelta(days=30))
        db.session.execute(update(Donor).values(created_at=datetime(2014, 1, 1)))
        from portal.journey.models import Touchpoint
        db.session.execute(update(Touchpoint).where(Touchpoint.donor_id == old.id).values(occurred_at=datetime(2015, 1, 10)))
        db.session.commit()
        old_id, recent_id = old.id, recent.id
    admin = staff_client("admin")
    page = admin.get("/staff/privacy/retention").get_data(as_text=True)
    assert "The policy is <strong>off</strong>" in page
    preview = admin.get("/staff/privacy/retention?years=7").get_data(as_text=True)
    assert "<strong>1</strong> donor with no gift or contact" in preview and "Old Friend" in preview and "New Friend" not in preview
    assert admin.post("/staff/privacy/retention", data={"years": "abc", "action": "save"}).status_code == 400
    assert admin.post("/staff/privacy/retention", data={"years": "7", "action": "save"}).status_code == 303
    assert admin.post("/staff/privacy/retention", data={"years": "7", "action": "run"}).status_code == 303
    with app.app_context():
        assert db.session.get(Donor, old_id).erased_at is not None and db.session.get(Donor, recent_id).erased_at is None
        runs = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "privacy.retention_run")).all()
        assert [r.detail["count"] for r in runs] == [1]
