import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from portal.extensions import db
from portal.taxrelief import services as taxrelief
from portal.taxrelief.models import Declaration
from tests.browser.screens import screenshots
from tests.conftest import PASSWORD, make_user

pytestmark = pytest.mark.browser

DONORS_CSV = ("First Name,Surname,Gift Aid declaration,Gift Aid declaration date\n"
              "Ada,Lovelace,Yes,14/02/2024\n"
              "Bob,Smith,sometimes,\n"
              "Grace,Hopper,no,\n").encode()


def test_staff_import_donors_with_their_gift_aid_declarations(app, live_server, page):
    with app.app_context():
        taxrelief.update_settings(scheme_key="uk_gift_aid")
        make_user("fundraiser", "importer@harbour.example.org", name="Tom Okafor")
    page.goto(f"{live_server}/login")
    page.fill("input[name=email]", "importer@harbour.example.org")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")

    page.goto(f"{live_server}/staff/imports/")
    page.select_option("select[name=kind]", "donors")
    page.set_input_files("input[name=file]", files=[{"name": "supporters.csv", "mimeType": "text/csv", "buffer": DONORS_CSV}])
    page.get_by_role("button", name="Upload and match columns").click()

    expect(page.get_by_role("heading", name="Match the columns")).to_be_visible()
    expect(page.get_by_label("Gift Aid declaration", exact=True)).to_have_value("gift_aid")
    expect(page.get_by_label("Gift Aid declaration date")).to_have_value("gift_aid_date")
    screenshots(page, "import-gift-aid-columns")
    page.get_by_role("button", name="Check the rows").click()

    problem = page.locator("#problems tr.bad")
    expect(problem).to_have_count(1, timeout=15000)
    expect(problem).to_contain_text("Gift Aid (yes/no) must be yes or no (or left blank).")
    expect(page.locator("#extra-summary")).to_have_text("The import will also record 1 Gift Aid declaration.")
    screenshots(page, "import-gift-aid-check")

    page.get_by_label(re.compile("Skip the 1 row with problems")).check()
    page.get_by_role("button", name="Import 2 donors").click()
    expect(page.get_by_role("heading", name="Import finished")).to_be_visible(timeout=15000)
    expect(page.get_by_text("Imported 2 donors. Recorded 1 Gift Aid declaration.")).to_be_visible()
    with app.app_context():
        assert [(d.scope, d.method, d.made_on.isoformat()) for d in db.session.scalars(select(Declaration))] == \
            [("past_and_future", "paper", "2024-02-14")]
