import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from portal.extensions import db
from portal.giving.models import Gift
from tests.conftest import make_donor, make_user, sign_in_staff

pytestmark = pytest.mark.browser

GIFTS_CSV = ("Constituent ID,Primary Email,Gift Date,Gift Amount,Fund Description,Gift Type,Appeal\n"
             "H0005,hana@example.org,15/01/2023,25.00,General,Cash,Spring\n"
             "H0005,hana@example.org,02/03/2024,40.00,Lifeboats,Cheque,Spring\n"
             "H0006,ivan@example.org,31/12/2024,10.00,General,Credit Card,\n").encode()


def _gift_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Gift))


def _upload_and_check(page, live_server: str) -> None:
    page.goto(f"{live_server}/staff/imports/")
    page.select_option("select[name=kind]", "gifts")
    page.set_input_files("input[name=file]", files=[{"name": "gifts.csv", "mimeType": "text/csv", "buffer": GIFTS_CSV}])
    page.get_by_role("button", name="Upload and match columns").click()
    expect(page.get_by_role("heading", name="Match the columns")).to_be_visible()
    expect(page.get_by_label("Gift Type")).to_have_value("method")
    expect(page.locator("#currency-note")).to_contain_text("Amounts are read as GBP")


def test_importing_a_gift_file_again_reports_every_row_as_already_on_file(app, live_server, page):
    with app.app_context():
        make_user("fundraiser", "migrator@harbour.example.org", name="Mo Migrator")
        for ref, first, email in (("H0005", "Hana", "hana@example.org"), ("H0006", "Ivan", "ivan@example.org")):
            donor = make_donor(first_name=first, last_name="Test", email=email)
            donor.external_ref = ref
        db.session.commit()
    sign_in_staff(page, live_server, "migrator@harbour.example.org")

    _upload_and_check(page, live_server)
    page.get_by_role("button", name="Check the rows").click()
    page.get_by_role("button", name="Import 3 gifts").click()
    expect(page.get_by_role("heading", name="Import finished")).to_be_visible(timeout=15000)
    expect(page.get_by_text("Imported 3 gifts.")).to_be_visible()
    assert _gift_count(app) == 3

    _upload_and_check(page, live_server)
    expect(page.get_by_role("alert").filter(has_text="This file has been imported before")).to_be_visible()
    page.get_by_role("button", name="Check the rows").click()
    expect(page.get_by_role("heading", name="Everything is already on file")).to_be_visible(timeout=15000)
    expect(page.locator("#on-file-summary")).to_have_text(
        "3 rows match a gift already on file (listed below) and are not imported again: nothing would be written.")
    rows = page.locator("#problems tbody tr")
    expect(rows).to_have_count(3)
    for index in range(3):
        expect(rows.nth(index)).to_contain_text("Already on file")
    expect(page.get_by_role("button", name="Import 3 gifts")).to_have_count(0)
    assert _gift_count(app) == 3
