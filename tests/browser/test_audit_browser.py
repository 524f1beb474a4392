"""The audit log in headless Chromium: a fundraiser's export and donor visit show up for an administrator,
who narrows the log by action and donor and exports it. Screenshots at desktop and phone width go to
test-results/."""
from __future__ import annotations

import csv
import io
import re

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import make_donor, make_user, sign_in_staff
from tests.browser.screens import screenshots

pytestmark = pytest.mark.browser

ADMIN = "ana.admin@harbour.example.org"
FUNDRAISER = "tom.okafor@harbour.example.org"


def test_an_administrator_finds_a_fundraisers_export_and_donor_visit(app, live_server, page: Page, browser):
    with app.app_context():
        donor_id = make_donor(first_name="Amelia", last_name="Clarke", email="amelia@example.org").id
        make_user("fundraiser", FUNDRAISER, name="Tom Okafor")
        make_user("admin", ADMIN, name="Ana Admin")

    fundraiser = browser.new_context(accept_downloads=True).new_page()
    sign_in_staff(fundraiser, live_server, FUNDRAISER)
    fundraiser.goto(f"{live_server}/staff/donors/{donor_id}")
    expect(fundraiser.get_by_role("heading", name="Amelia Clarke")).to_be_visible()
    with fundraiser.expect_download():
        fundraiser.goto(f"{live_server}/staff/donors/")
        fundraiser.get_by_role("link", name="Export CSV").click()
    fundraiser.context.close()

    page.set_viewport_size({"width": 1366, "height": 860})
    sign_in_staff(page, live_server, ADMIN)
    page.get_by_role("link", name="Audit log").click()
    expect(page.get_by_role("heading", name="Audit log")).to_be_visible()
    table = page.locator("#audit-table")
    expect(table).to_contain_text("donor.view")
    expect(table).to_contain_text("Exported donors: 1 row")
    screenshots(page, "audit-log")

    page.get_by_label("Action").fill("donor.export")
    page.get_by_role("button", name="Search").click()
    expect(page).to_have_url(re.compile(r"action=donor\.export"))
    expect(table.locator("tbody tr")).to_have_count(1)
    expect(table).not_to_contain_text("donor.view")

    page.get_by_label("Action").fill("")
    page.get_by_label("Donor number").fill(str(donor_id))
    page.get_by_role("button", name="Search").click()
    expect(table.locator("tbody tr")).to_have_count(1)
    expect(table).to_contain_text("Viewed the donor's record")

    page.get_by_label("Donor number").fill("not a number")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_text("Enter a donor number, such as 1042.")).to_be_visible()
    screenshots(page, "audit-log-error")

    page.goto(f"{live_server}/staff/admin/audit/?action=donor.export")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Export CSV").click()
    with open(download_info.value.path(), encoding="utf-8") as handle:
        rows = list(csv.reader(io.StringIO(handle.read())))
    assert [row[1] for row in rows[1:]] == ["donor.export"] and rows[1][2] == FUNDRAISER
