import io
import re

import pytest
from sqlalchemy import func, select

from portal.donors import imports
from portal.donors.models import Donor, ImportBatch
from portal.extensions import db
from portal.giving.models import DonorStats, Gift
from portal.journey import services as journey
from tests.conftest import make_donor, make_user, login

DONORS_CSV = ("Given name,Surname,E-mail Address,Postcode\n"
              "Ada,Lovelace,ada@example.org,N1 1AA\n"
              "Bob,Smith,not-an-email,\n"
              "Cy,Twin,cy@example.org,\n")


def _upload(client, data: bytes | None, *, kind: str = "donors", filename: str = "people.csv"):
    form = {"kind": kind}
    if data is not None:
        form["file"] = (io.BytesIO(data), filename)
    return client.post("/staff/imports/", data=form, content_type="multipart/form-data")


def _batch_id(response) -> int:
    return int(re.search(r"/staff/imports/(\d+)", response.headers["Location"]).group(1))


def _count(app, model, *where) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model).where(*where))


def _batch(app, batch_id: int) -> dict:
    with app.app_context():
        batch = db.session.get(ImportBatch, batch_id)
        return {"status": batch.status, "valid": batch.valid_rows, "imported": batch.imported_rows, "message": batch.message}


@pytest.mark.parametrize("path, method", [
    ("/staff/imports/", "get"), ("/staff/imports/", "post"), ("/staff/imports/1", "get"),
    ("/staff/imports/1/columns", "get"), ("/staff/imports/1/progress", "get"), ("/staff/imports/1/confirm", "post"),
    ("/staff/imports/1/cancel", "post"), ("/staff/imports/1/problems.csv", "get"),
])
def test_only_fundraisers_and_admins_reach_imports(app, client, staff_client, path, method):
    anonymous = getattr(client, method)(path)
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    with app.app_context():
        donor = make_donor(email="donor@example.org")
        make_user("donor", "donor@example.org", donor_id=donor.id)
    donor_client = app.test_client()
    login(donor_client, "donor@example.org")
    assert getattr(donor_client, method)(path).status_code == 403
    assert getattr(staff_client("support"), method)(path).status_code == 403


def test_the_donor_list_offers_the_import_to_fundraisers_only(staff_client):
    assert b'href="/staff/imports/"' in staff_client("fundraiser").get("/staff/donors/").data
    assert b'href="/staff/imports/"' not in staff_client("support").get("/staff/donors/").data


def test_upload_needs_a_csrf_token(staff_client):
    response = staff_client("fundraiser").post("/staff/imports/", data={"kind": "donors"}, csrf=False)
    assert response.status_code == 400


@pytest.mark.parametrize("data, kind, filename, message", [
    (None, "donors", "", "Choose a CSV file to upload."),
    (b"", "donors", "empty.csv", "The file is empty."),
    (b"First name\n", "donors", "header.csv", "The file has a header row but no data rows."),
    (b"First name\nAda\n", "pledges", "people.csv", "Choose donors or gifts."),
    (bytes(range(256)) * 20, "donors", "photo.csv", "This doesn&#39;t look like a CSV file: it contains binary data."),
    (b"PK\x03\x04" + b"\x00" * 100, "donors", "book.xlsx", "This looks like an Excel workbook."),
])
def test_bad_uploads_get_a_clear_message_and_400(app, staff_client, data, kind, filename, message):
    response = _upload(staff_client("fundraiser"), data, kind=kind, filename=filename)
    assert response.status_code == 400
    assert message.encode() in response.data
    assert _count(app, ImportBatch) == 0


def test_a_file_over_the_size_limit_is_refused(app, staff_client, monkeypatch):
    monkeypatch.setattr(imports.reading, "MAX_FILE_BYTES", 100 * 1024)
    client = staff_client("fundraiser")
    assert b"of up to 100 KB" in client.get("/staff/imports/").data
    response = _upload(client, b"First name\n" + b"Ada\n" * 30_000)
    assert response.status_code == 400
    assert b"The file is larger than 100 KB, the most that can be imported at once. Split it into smaller files" in response.data
    assert _count(app, ImportBatch) == 0


def test_the_problems_download_cannot_run_formulas(app, staff_client):
    client = staff_client("fundraiser")
    batch_id = _batch_id(_upload(client, b"First name,Email\nAda,=HYPERLINK(\"http://evil\")\n"))
    client.post(f"/staff/imports/{batch_id}/columns", data={"column_0": "first_name", "column_1": "email", "day_first": "day"})
    lines = client.get(f"/staff/imports/{batch_id}/problems.csv").data.decode().splitlines()
    assert lines[1] == "2,Email,\"'=HYPERLINK(\"\"http://evil\"\")\",Not a valid email address.,error"


def test_the_whole_donor_import_through_the_pages(app, staff_client):
    client = staff_client("fundraiser")
    response = _upload(client, DONORS_CSV.encode())
    assert response.status_code == 303 and response.headers["Location"].endswith("/columns")
    batch_id = _batch_id(response)

    page = client.get(f"/staff/imports/{batch_id}/columns")
    assert page.status_code == 200
    html = page.data.decode()
    assert '<option selected value="first_name">First name</option>' in html
    assert '<option selected value="email">Email</option>' in html
    assert "ada@example.org" in html, "sample values help staff match the columns"

    response = client.post(f"/staff/imports/{batch_id}/columns", data={
        "column_0": "first_name", "column_1": "last_name", "column_2": "email", "column_3": "postcode", "day_first": "day"})
    assert response.status_code == 303 and response.headers["Location"].endswith(f"/staff/imports/{batch_id}")

    page = client.get(f"/staff/imports/{batch_id}").data.decode()
    assert "Rows with problems" in page
    assert re.search(r'<tr class="bad">\s*<td class="num">3</td>\s*<td>E-mail Address</td>\s*<td>not-an-email</td>\s*'
                     r'<td>Not a valid email address.</td>', page)
    assert "Skip the 1 row with problems and import the 2 valid donors" in page
    assert "Lovelace" in page and "N1 1AA" in page, "the preview shows the valid rows"

    refused = client.post(f"/staff/imports/{batch_id}/confirm", data={})
    assert refused.status_code == 400
    assert b"1 row has problems. Tick the box to skip it and import the 2 valid rows" in refused.data
    assert _count(app, Donor) == 0

    response = client.post(f"/staff/imports/{batch_id}/confirm", data={"skip_invalid": "y"})
    assert response.status_code == 303
    assert _batch(app, batch_id) == {"status": "imported", "valid": 2, "imported": 2, "message": "Imported 2 donors."}
    page = client.get(f"/staff/imports/{batch_id}").data.decode()
    assert "Import finished" in page and "1 row with problems was skipped." in page
    listing = client.get("/staff/donors/?sort=-created").data.decode()
    assert "Ada Lovelace" in listing and "Cy Twin" in listing and "Bob Smith" not in listing

    csv_text = client.get(f"/staff/imports/{batch_id}/problems.csv").data.decode()
    assert csv_text.splitlines() == ["row,column,value,problem,level",
                                     "3,E-mail Address,not-an-email,Not a valid email address.,error"]


def test_gift_import_through_the_pages_updates_the_donor(app, staff_client):
    with app.app_context():
        donor_id = make_donor(first_name="Ada", last_name="Lovelace", email="ada@example.org").id
    client = staff_client("fundraiser")
    batch_id = _batch_id(_upload(client, b"Email;Gift Amount;Gift Date;Fund\nada@example.org;12,50;03/01/2025;Lifeboats\n",
                                 kind="gifts", filename="gifts.csv"))
    response = client.post(f"/staff/imports/{batch_id}/columns", data={
        "column_0": "donor_email", "column_1": "amount", "column_2": "received_at", "column_3": "fund", "day_first": "day"})
    assert response.status_code == 303
    assert "Ada Lovelace (ada@example.org)" in client.get(f"/staff/imports/{batch_id}").data.decode()
    assert client.post(f"/staff/imports/{batch_id}/confirm", data={}).status_code == 303
    with app.app_context():
        gift = db.session.scalar(select(Gift))
        assert (gift.donor_id, gift.amount_minor, gift.received_at.date().isoformat(), gift.fund) == \
            (donor_id, 1250, "2025-01-03", "Lifeboats")
        assert db.session.get(DonorStats, donor_id).lifetime_minor == 1250
        assert [t.summary for t in journey.timeline(donor_id).items if t.kind == "gift_received"] == ["£12.50 to Lifeboats"]


def test_mapping_errors_are_shown_in_place_with_400(app, staff_client):
    client = staff_client("fundraiser")
    batch_id = _batch_id(_upload(client, DONORS_CSV.encode()))
    response = client.post(f"/staff/imports/{batch_id}/columns", data={
        "column_0": "first_name", "column_1": "first_name", "column_2": "email", "column_3": "", "day_first": "day"})
    assert response.status_code == 400
    assert "First name is already taken by the column “Given name”." in response.data.decode()
    response = client.post(f"/staff/imports/{batch_id}/columns", data={
        "column_0": "shoe_size", "column_1": "", "column_2": "", "column_3": "", "day_first": "day"})
    assert response.status_code == 400 and b"Not a valid choice" in response.data
    assert _batch(app, batch_id)["status"] == "uploaded"


def test_cancel_through_the_page_imports_nothing(app, staff_client):
    client = staff_client("fundraiser")
    batch_id = _batch_id(_upload(client, DONORS_CSV.encode()))
    client.post(f"/staff/imports/{batch_id}/columns", data={
        "column_0": "first_name", "column_1": "last_name", "column_2": "email", "column_3": "postcode", "day_first": "day"})
    response = client.post(f"/staff/imports/{batch_id}/cancel", data={})
    assert response.status_code == 303
    page = client.get(f"/staff/imports/{batch_id}", follow_redirects=True).data.decode()
    assert "Import cancelled: nothing was imported." in page
    assert client.post(f"/staff/imports/{batch_id}/confirm", data={"skip_invalid": "y"}).status_code == 400
    assert _batch(app, batch_id)["status"] == "cancelled" and _count(app, Donor) == 0


def test_progress_fragment_polls_while_running_and_stops_when_done(app, staff_client):
    client = staff_client("fundraiser")
    batch_id = _batch_id(_upload(client, DONORS_CSV.encode()))
    with app.app_context():
        db.session.execute(ImportBatch.__table__.update().values(status="validating", job_id="not-started-yet"))
        db.session.commit()
    fragment = client.get(f"/staff/imports/{batch_id}/progress", headers={"HX-Request": "true"}).data.decode()
    assert fragment.lstrip().startswith('<div id="import-panel"') and "<html" not in fragment
    assert 'hx-trigger="every 1s"' in fragment and 'role="progressbar"' in fragment
    assert f'<a href="/staff/imports/{batch_id}">Refresh</a>' in fragment, "works without JavaScript too"
    with app.app_context():
        db.session.execute(ImportBatch.__table__.update().values(status="validated", valid_rows=3))
        db.session.commit()
    fragment = client.get(f"/staff/imports/{batch_id}/progress", headers={"HX-Request": "true"}).data.decode()
    assert "hx-trigger" not in fragment and "Ready to import" in fragment


def test_unknown_batches_are_404(staff_client):
    client = staff_client("fundraiser")
    for path in ("/staff/imports/999", "/staff/imports/999/columns", "/staff/imports/999/progress",
                 "/staff/imports/999/problems.csv"):
        assert client.get(path).status_code == 404
    assert client.post("/staff/imports/999/confirm", data={}).status_code == 404
    assert client.post("/staff/imports/999/cancel", data={}).status_code == 404


def test_the_index_lists_recent_imports(staff_client):
    client = staff_client("fundraiser")
    _upload(client, DONORS_CSV.encode(), filename="spring-event.csv")
    page = client.get("/staff/imports/").data.decode()
    assert "spring-event.csv" in page and "Matching columns" in page
