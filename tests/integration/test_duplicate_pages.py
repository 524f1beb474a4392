"""Duplicates through the back office: the check while adding a donor, the review queue and the merge page."""
import re

import pytest
from sqlalchemy import select

from portal.donors.models import Donor, DuplicatePair
from portal.extensions import db
from tests.conftest import make_donor

FORM = {"kind": "individual", "first_name": "Amelia", "last_name": "Clarke", "email": "amelia.new@example.org",
        "postcode": "YO21 3PU", "preferred_channel": "email"}


@pytest.fixture
def amelia(app):
    with app.app_context():
        return make_donor(first_name="Amelia", last_name="Clarke", email="amelia@example.org", postcode="YO21 3PU").id


def test_adding_a_likely_duplicate_asks_first_then_creates_anyway(app, amelia, staff_client):
    client = staff_client("fundraiser")
    asked = client.post("/staff/donors/new", data=FORM)
    page = asked.get_data(as_text=True)
    assert asked.status_code == 409
    assert f'href="/staff/donors/{amelia}"' in page and "The same name and the same postcode (YO213PU)" in page
    assert 'name="create_anyway" value="y"' in page
    with app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(Donor)) == 1
    created = client.post("/staff/donors/new", data={**FORM, "create_anyway": "y"})
    assert created.status_code == 303
    with app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(Donor)) == 2


def test_a_namesake_elsewhere_is_added_without_a_question(app, amelia, staff_client):
    response = staff_client("fundraiser").post("/staff/donors/new", data={**FORM, "postcode": "LS6 2AB"})
    assert response.status_code == 303


def test_candidates_show_while_typing(app, amelia, staff_client):
    client = staff_client("fundraiser")
    found = client.get("/staff/donors/check-duplicates", query_string={**FORM, "first_name": "amélia"}, headers={"HX-Request": "true"})
    assert "Amelia Clarke" in found.get_data(as_text=True) and "It's this donor" in found.get_data(as_text=True)
    nothing = client.get("/staff/donors/check-duplicates", query_string={**FORM, "postcode": "LS6 2AB"})
    assert nothing.get_data(as_text=True).strip() == ""
    assert staff_client("support").get("/staff/donors/check-duplicates", query_string=FORM).status_code == 403


def test_queue_scan_not_a_duplicate_and_merge_with_redirect(app, amelia, staff_client):
    with app.app_context():
        other = make_donor(first_name="Amélia", last_name="Clarke", email="amelia.work@example.org", postcode="YO213PU",
                           phone="07700 900123").id
    client = staff_client("fundraiser")
    assert staff_client("support").get("/staff/donors/duplicates/").status_code == 403
    assert "No possible duplicates" in client.get("/staff/donors/duplicates/").get_data(as_text=True)
    scanned = client.post("/staff/donors/duplicates/scan")
    assert scanned.status_code == 303
    queue = client.get(scanned.headers["Location"]).get_data(as_text=True)
    assert "1 pair to review" in queue and "apart from accents" in queue
    merge_url = re.search(r'href="(/staff/donors/duplicates/merge/\d+/\d+)"', queue).group(1)
    assert merge_url == f"/staff/donors/duplicates/merge/{amelia}/{other}"
    page = client.get(merge_url).get_data(as_text=True)
    assert 'name="keep_email" value="other"' in page and 'name="keep_phone" value="other" checked' in page
    merged = client.post(merge_url, data={"keep_email": "other", "keep_phone": "other", "keep_first_name": "survivor"})
    assert merged.status_code == 303 and merged.headers["Location"].endswith(f"/staff/donors/{amelia}")
    moved = client.get(f"/staff/donors/{other}")
    assert moved.status_code == 301 and moved.headers["Location"].endswith(f"/staff/donors/{amelia}")
    with app.app_context():
        survivor = db.session.get(Donor, amelia)
        assert (survivor.email, survivor.phone, survivor.first_name) == ("amelia.work@example.org", "07700 900123", "Amelia")
    assert client.get(f"/staff/donors/999999").status_code == 404


def test_not_a_duplicate_is_remembered(app, amelia, staff_client):
    with app.app_context():
        make_donor(first_name="Amelia", last_name="Clarke", postcode="YO21 3PU")
    client = staff_client("fundraiser")
    client.post("/staff/donors/duplicates/scan")
    with app.app_context():
        pair_id = db.session.scalar(select(DuplicatePair.id))
    assert client.post(f"/staff/donors/duplicates/{pair_id}/not-duplicate").status_code == 303
    client.post("/staff/donors/duplicates/scan")
    assert "No possible duplicates" in client.get("/staff/donors/duplicates/").get_data(as_text=True)
    assert client.post(f"/staff/donors/duplicates/{pair_id}/not-duplicate", csrf=False).status_code == 400
