import re

import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD, make_user

pytestmark = pytest.mark.browser

DONORS_CSV = ("First Name,Surname,E-mail Address,Town\n"
              "Ada,Lovelace,ada@example.org,London\n"
              "Bob,Smith,bob-at-example,Leeds\n"
              "Grace,Hopper,grace@example.org,York\n").encode()


@pytest.fixture
def background_jobs(app):
    """Jobs on the web process's background thread, as `make run` has them, so the page polls for progress."""
    runner = app.extensions["portal_jobs"]
    runner.mode = "thread"
    yield
    runner.mode = "sync"


def test_staff_import_donors_skipping_the_bad_row(app, live_server, page, background_jobs):
    with app.app_context():
        make_user("fundraiser", "importer@harbour.example.org", name="Tom Okafor")
    page.goto(f"{live_server}/login")
    page.fill("input[name=email]", "importer@harbour.example.org")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")

    page.goto(f"{live_server}/staff/donors/")
    page.get_by_role("link", name="Import CSV").click()
    expect(page.get_by_role("heading", name="Import from a CSV file")).to_be_visible()
    page.select_option("select[name=kind]", "donors")
    page.set_input_files("input[name=file]", files=[{"name": "supporters.csv", "mimeType": "text/csv", "buffer": DONORS_CSV}])
    page.get_by_role("button", name="Upload and match columns").click()

    expect(page.get_by_role("heading", name="Match the columns")).to_be_visible()
    expect(page.get_by_label("E-mail Address")).to_have_value("email")
    expect(page.get_by_label("Surname")).to_have_value("last_name")
    page.get_by_role("button", name="Check the rows").click()

    problem = page.locator("#problems tr.bad")
    expect(problem).to_have_count(1, timeout=15000)
    expect(problem).to_contain_text("3")
    expect(problem).to_contain_text("bob-at-example")
    expect(problem).to_contain_text("Not a valid email address.")
    expect(page.get_by_role("heading", name="Preview")).to_be_visible()
    expect(page.get_by_role("cell", name="Lovelace")).to_be_visible()

    page.get_by_label(re.compile("Skip the 1 row with problems")).check()
    page.get_by_role("button", name="Import 2 donors").click()
    expect(page.get_by_role("heading", name="Import finished")).to_be_visible(timeout=15000)
    expect(page.get_by_text("Imported 2 donors.")).to_be_visible()

    page.get_by_role("link", name="See the donors").click()
    results = page.locator("#results")
    expect(results.get_by_role("link", name="Ada Lovelace")).to_be_visible()
    expect(results.get_by_role("link", name="Grace Hopper")).to_be_visible()
    expect(results.get_by_text("Bob Smith")).to_have_count(0)
