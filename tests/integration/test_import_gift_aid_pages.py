"""The Gift Aid column through the import pages: offered and guessed at the mapping step, row errors and the
number of declarations at the check, declarations recorded by the import."""
import io
import re
from datetime import date

from sqlalchemy import select

from portal.donors.models import Donor
from portal.extensions import db
from portal.taxrelief import services as taxrelief
from portal.taxrelief.models import Declaration

DONORS_CSV = ("First name,Last name,Gift Aid declaration,Gift Aid declaration date\n"
              "Ada,Lovelace,Yes,14/02/2024\n"
              "Bob,Smith,sometimes,\n"
              "Cy,Twin,no,\n"
              "Di,Lamb,y,\n")


def _upload(client, text: str, kind: str = "donors"):
    response = client.post("/staff/imports/", data={"kind": kind, "file": (io.BytesIO(text.encode()), f"{kind}.csv")},
                           content_type="multipart/form-data")
    assert response.status_code == 303
    return int(re.search(r"/staff/imports/(\d+)", response.headers["Location"]).group(1))


def test_gift_aid_is_not_offered_at_the_mapping_step_without_uk_gift_aid(staff_client):
    client = staff_client("fundraiser")
    batch_id = _upload(client, DONORS_CSV)
    page = client.get(f"/staff/imports/{batch_id}/columns").data.decode()
    assert '<option selected value="first_name">First name</option>' in page
    assert 'value="gift_aid"' not in page and 'value="gift_aid_date"' not in page


def test_a_donor_file_with_a_gift_aid_column_through_the_pages(app, staff_client):
    with app.app_context():
        taxrelief.update_settings(scheme_key="uk_gift_aid")
    client = staff_client("fundraiser")
    batch_id = _upload(client, DONORS_CSV)

    page = client.get(f"/staff/imports/{batch_id}/columns").data.decode()
    assert '<option selected value="gift_aid">Gift Aid (yes/no)</option>' in page
    assert '<option selected value="gift_aid_date">Gift Aid declaration date</option>' in page

    response = client.post(f"/staff/imports/{batch_id}/columns", data={
        "column_0": "first_name", "column_1": "last_name", "column_2": "gift_aid", "column_3": "gift_aid_date",
        "day_first": "day"})
    assert response.status_code == 303

    page = client.get(f"/staff/imports/{batch_id}").data.decode()
    assert re.search(r'<tr class="bad">\s*<td class="num">3</td>\s*<td>Gift Aid declaration</td>\s*<td>sometimes</td>\s*'
                     r'<td>Gift Aid \(yes/no\) must be yes or no \(or left blank\).</td>', page)
    assert '<p id="extra-summary">The import will also record 2 Gift Aid declarations.</p>' in page

    response = client.post(f"/staff/imports/{batch_id}/confirm", data={"skip_invalid": "y"})
    assert response.status_code == 303
    page = client.get(f"/staff/imports/{batch_id}").data.decode()
    assert "Imported 3 donors. Recorded 2 Gift Aid declarations." in page
    with app.app_context():
        found = db.session.execute(select(Donor.first_name, Declaration.scope, Declaration.method, Declaration.made_on)
                                   .join(Donor, Donor.id == Declaration.donor_id).order_by(Donor.first_name)).all()
        assert [tuple(row) for row in found] == [("Ada", "past_and_future", "paper", date(2024, 2, 14)),
                                                 ("Di", "past_and_future", "paper", taxrelief.local_today())]
        ada = db.session.scalar(select(Donor.id).where(Donor.first_name == "Ada"))
    donor_page = client.get(f"/staff/donors/{ada}").data.decode()
    assert "Paper form (scanned)" in donor_page


def test_a_gift_file_with_a_gift_aid_column_through_the_pages(app, staff_client):
    from tests.conftest import make_donor

    with app.app_context():
        taxrelief.update_settings(scheme_key="uk_gift_aid")
        donor_id = make_donor(first_name="Ada", last_name="Lovelace", email="ada@example.org").id
    client = staff_client("fundraiser")
    batch_id = _upload(client, "Email,Amount,Date,GA\nada@example.org,20.00,05/03/2024,yes\n", kind="gifts")
    assert '<option selected value="gift_aid">Gift Aid (yes/no)</option>' in \
        client.get(f"/staff/imports/{batch_id}/columns").data.decode()
    client.post(f"/staff/imports/{batch_id}/columns", data={
        "column_0": "donor_email", "column_1": "amount", "column_2": "received_at", "column_3": "gift_aid",
        "day_first": "day"})
    assert "The import will also record 1 Gift Aid declaration." in client.get(f"/staff/imports/{batch_id}").data.decode()
    assert client.post(f"/staff/imports/{batch_id}/confirm", data={}).status_code == 303
    with app.app_context():
        declaration = db.session.scalar(select(Declaration))
        assert (declaration.donor_id, declaration.scope, declaration.made_on) == (donor_id, "this_gift", date(2024, 3, 5))
        assert taxrelief.assess_gifts([declaration.gift_id])[declaration.gift_id].eligible
