import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from portal.donors import services as donor_services
from portal.donors.models import Donor
from portal.extensions import db
from tests.browser.screens import screenshots
from tests.conftest import make_donor, make_user, sign_in_staff

pytestmark = pytest.mark.browser

DONORS_CSV = ("First Name,Surname,E-mail Address,Postcode\n"
              "Amelia,Clarke,amelia.new@example.org,YO21 3PU\n"
              "Grace,Hopper,gone@example.org,\n"
              "Alan,Turing,alan@example.org,M1 1AA\n"
              "Alan,Turing,alan.2@example.org,M1 1AA\n").encode()


def _emails(app) -> set[str]:
    with app.app_context():
        return set(db.session.scalars(select(Donor.email)))


def test_staff_see_likely_duplicates_and_re_add_an_erased_donor(app, live_server, page):
    with app.app_context():
        make_user("fundraiser", "importer@harbour.example.org", name="Tom Okafor")
        clarke_id = make_donor(first_name="Amelia", last_name="Clarke", email="amelia@example.org", postcode="YO21 3PU").id
        donor_services.remember_erased_email("gone@example.org")
        db.session.commit()
    sign_in_staff(page, live_server, "importer@harbour.example.org")
    page.goto(f"{live_server}/staff/imports/")
    page.select_option("select[name=kind]", "donors")
    page.set_input_files("input[name=file]", files=[{"name": "supporters.csv", "mimeType": "text/csv", "buffer": DONORS_CSV}])
    page.get_by_role("button", name="Upload and match columns").click()
    page.get_by_role("button", name="Check the rows").click()

    problems = page.locator("#problems")
    expect(problems.locator("tr", has_text="Likely duplicate")).to_have_count(2, timeout=15000)
    expect(problems).to_contain_text(f"Likely the same person as donor #{clarke_id} Amelia Clarke (the same name and the same postcode")
    expect(problems).to_contain_text("Likely the same person as row 4 of this file")
    expect(problems.locator("tr.bad")).to_contain_text("This address belonged to a donor whose data was erased at their request.")
    duplicates_box = page.get_by_label(re.compile("Import the 2 likely duplicates anyway"))
    expect(duplicates_box).not_to_be_checked()
    screenshots(page, "import-duplicates")

    page.get_by_label(re.compile("They asked to be added again")).check()
    page.get_by_role("button", name=re.compile("Import 1 donor")).click()
    expect(page.get_by_role("heading", name="Import finished")).to_be_visible(timeout=15000)
    expect(page.get_by_text("Imported 2 donors. 2 likely duplicates were skipped.")).to_be_visible()
    assert _emails(app) == {"amelia@example.org", "gone@example.org", "alan@example.org"}
