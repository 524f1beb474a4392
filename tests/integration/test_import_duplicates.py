"""Likely duplicates and erased donors' addresses through the import pages."""
import io
import re

from sqlalchemy import select

from portal.donors import services as donor_services
from portal.donors.models import Donor
from portal.extensions import db
from tests.conftest import make_donor

CSV = ("First name,Last name,Email,Postcode\n"
       "Amelia,Clarke,amelia.new@example.org,YO21 3PU\n"
       "Grace,Hopper,gone@example.org,\n"
       "Alan,Turing,alan@example.org,M1 1AA\n"
       "alan,turing,alan.2@example.org,M1 1AA\n")


def _checked_batch(client) -> int:
    response = client.post("/staff/imports/", data={"kind": "donors", "file": (io.BytesIO(CSV.encode()), "people.csv")},
                           content_type="multipart/form-data")
    batch_id = int(re.search(r"/staff/imports/(\d+)", response.headers["Location"]).group(1))
    response = client.post(f"/staff/imports/{batch_id}/columns", data={
        "column_0": "first_name", "column_1": "last_name", "column_2": "email", "column_3": "postcode", "day_first": "day"})
    assert response.status_code == 303
    return batch_id


def _setup(app) -> int:
    with app.app_context():
        clarke = make_donor(first_name="Amelia", last_name="Clarke", email="amelia@example.org", postcode="YO21 3PU")
        donor_services.remember_erased_email("gone@example.org")
        db.session.commit()
        return clarke.id


def _emails(app) -> set[str]:
    with app.app_context():
        return set(db.session.scalars(select(Donor.email)))


def test_the_check_names_the_duplicates_and_the_erased_address(app, staff_client):
    clarke_id = _setup(app)
    client = staff_client("fundraiser")
    batch_id = _checked_batch(client)
    page = client.get(f"/staff/imports/{batch_id}").data.decode()
    assert re.search(r'<td class="num">2</td>\s*<td>Last name</td>\s*<td>Amelia Clarke</td>\s*<td><span class="badge '
                     r'badge-plain">Likely duplicate</span> Likely the same person as donor #' + str(clarke_id) +
                     r' Amelia Clarke \(the same name and the same postcode \(YO213PU\)\)\.</td>', page)
    assert re.search(r'<td class="num">5</td>\s*<td>Last name</td>\s*<td>alan turing</td>\s*<td><span class="badge '
                     r'badge-plain">Likely duplicate</span> Likely the same person as row 4 of this file', page)
    assert re.search(r'<tr class="bad">\s*<td class="num">3</td>\s*<td>Email</td>\s*<td>gone@example.org</td>\s*'
                     r'<td>This address belonged to a donor whose data was erased at their request.</td>', page)
    assert "2 rows look like donors already on file or another row of this file" in page
    assert re.search(r'<input type="checkbox" name="include_duplicates" value="y" id="include_duplicates" >', page), \
        "importing the likely duplicates is off by default"
    assert "They asked to be added again: import the 1 row whose address belonged to a donor erased" in page
    csv_text = client.get(f"/staff/imports/{batch_id}/problems.csv").data.decode()
    assert f"2,Last name,Amelia Clarke,Likely the same person as donor #{clarke_id} Amelia Clarke" in csv_text

    refused = client.post(f"/staff/imports/{batch_id}/confirm", data={})
    assert refused.status_code == 400
    assert b"1 row has problems. Tick the box to skip it and import the 1 valid row" in refused.data

    response = client.post(f"/staff/imports/{batch_id}/confirm", data={"skip_invalid": "y"})
    assert response.status_code == 303
    page = client.get(f"/staff/imports/{batch_id}").data.decode()
    assert "Imported 1 donor. 2 likely duplicates were skipped." in page
    assert _emails(app) == {"amelia@example.org", "alan@example.org"}


def test_staff_can_import_the_duplicates_and_re_add_an_erased_donor(app, staff_client):
    _setup(app)
    client = staff_client("fundraiser")
    batch_id = _checked_batch(client)
    response = client.post(f"/staff/imports/{batch_id}/confirm", data={"include_duplicates": "y", "include_erased": "y"})
    assert response.status_code == 303
    page = client.get(f"/staff/imports/{batch_id}").data.decode()
    assert "Imported 4 donors." in page
    assert _emails(app) == {"amelia@example.org", "amelia.new@example.org", "gone@example.org", "alan@example.org",
                            "alan.2@example.org"}
