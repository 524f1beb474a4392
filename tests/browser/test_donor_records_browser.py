"""One record per donor and data rights in headless Chromium: the duplicate check while adding a donor, the
review queue and merge, tagging "all matching" from the donor list, and a donor downloading their data.
Screenshots of each page, at desktop and phone width, go to test-results/."""
from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from portal.donors.models import Donor, Tag, donor_tags
from portal.extensions import db
from tests.conftest import make_donor, make_gift, make_user
from tests.browser.screens import screenshots, sign_in

pytestmark = pytest.mark.browser

FUNDRAISER = "tom.okafor@harbour.example.org"


def htmx_ready(page: Page) -> None:
    page.wait_for_function("() => window.htmx !== undefined")


@pytest.fixture
def fundraiser(app):
    with app.app_context():
        make_user("fundraiser", FUNDRAISER, name="Tom Okafor")
    return FUNDRAISER


def test_a_likely_duplicate_is_shown_while_typing_then_found_and_merged(app, live_server, page: Page, fundraiser):
    with app.app_context():
        kept = make_donor(first_name="Amelia", last_name="Clarke", email="amelia@example.org", postcode="YO21 3PU")
        make_gift(kept.id, 2500)
        other = make_donor(first_name="Amélia", last_name="Clarke", email="amelia.work@example.org", postcode="YO213PU",
                           phone="07700 900123")
        make_gift(other.id, 4000)
        kept_id, other_id = kept.id, other.id
    sign_in(page, live_server, fundraiser)

    page.goto(f"{live_server}/staff/donors/new")
    htmx_ready(page)
    page.get_by_label("First name").fill("Amelia")
    page.get_by_label("Last name").fill("Clarke")
    page.get_by_label("Postcode").fill("yo21 3pu")
    candidates = page.locator("#duplicate-check")
    expect(candidates).to_contain_text("This may be a donor you already have")
    expect(candidates.get_by_role("link", name="It's this donor").first).to_be_visible()
    screenshots(page, "donor-new-duplicate-check")

    page.goto(f"{live_server}/staff/donors/duplicates/")
    expect(page.get_by_text("No possible duplicates")).to_be_visible()
    page.get_by_role("button", name="Scan again").click()
    expect(page.locator("#duplicate-pairs")).to_contain_text("apart from accents or punctuation and the same postcode")
    screenshots(page, "duplicates-queue")
    page.get_by_role("link", name="Compare and merge").click()
    expect(page.get_by_role("heading", name="Merge two records")).to_be_visible()
    page.locator('input[name="keep_email"][value="other"]').check()
    screenshots(page, "duplicates-merge")
    page.get_by_role("button", name=f"Merge into #{kept_id}").click()

    expect(page).to_have_url(re.compile(rf"/staff/donors/{kept_id}$"))
    expect(page.get_by_text(f"Merged: donor #{other_id} is now part of this record.")).to_be_visible()
    expect(page.get_by_text(f"Donor #{other_id} merged into this record")).to_be_visible()
    page.goto(f"{live_server}/staff/donors/{other_id}")
    expect(page).to_have_url(re.compile(rf"/staff/donors/{kept_id}$"))
    with app.app_context():
        survivor = db.session.get(Donor, kept_id)
        assert survivor.email == "amelia.work@example.org" and survivor.stats.lifetime_minor == 6500


def test_tag_everyone_matching_a_search(app, live_server, page: Page, fundraiser):
    with app.app_context():
        lees = [make_donor(first_name=f"Ann{i}", last_name="Lee", email=f"ann{i}@example.org").id for i in range(30)]
        make_donor(first_name="Bob", last_name="Stone", email="bob@example.org")
    sign_in(page, live_server, fundraiser)
    page.goto(f"{live_server}/staff/donors/")
    htmx_ready(page)
    page.get_by_label("Search").fill("lee")
    expect(page.get_by_text("All 30 matching")).to_be_visible()
    screenshots(page, "donor-list-bulk-bar")
    page.get_by_label("All 30 matching").check()
    page.get_by_label("Action", exact=True).select_option("tag")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Add a tag")).to_be_visible()
    expect(page.locator("#bulk-count")).to_have_text("30")
    page.get_by_label("Tag").fill("Spring appeal")
    screenshots(page, "donor-bulk-confirm")
    page.get_by_role("button", name="Add a tag for 30 donors").click()
    expect(page.get_by_text("Add a tag: done for 30 donors.")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/staff/donors/\?q=lee$"))
    expect(page.locator("#results .tag", has_text="spring appeal")).to_have_count(25)  # the first page of 30
    with app.app_context():
        tagged = set(db.session.scalars(select(donor_tags.c.donor_id).join(Tag, Tag.id == donor_tags.c.tag_id)
                                        .where(Tag.name == "spring appeal")))
        assert tagged == set(lees)


def test_a_donor_downloads_their_data_from_their_details(app, live_server, page: Page):
    with app.app_context():
        donor = make_donor(first_name="Amelia", last_name="Clarke", email="amelia@example.org", postcode="YO21 3PU")
        make_gift(donor.id, 2500, fund="Lifeboats")
        make_user("donor", "amelia@example.org", donor_id=donor.id, name="Amelia")
    sign_in(page, live_server, "amelia@example.org")
    page.goto(f"{live_server}/me/details")
    page.get_by_role("link", name="Download my data").click()
    expect(page.get_by_role("heading", name="Your data")).to_be_visible()
    page.get_by_role("button", name="Prepare my data").click()
    link = page.get_by_role("link", name="Download my data")
    expect(link).to_be_visible()
    screenshots(page, "me-data-export")
    with page.expect_download() as download_info:
        link.click()
    download = download_info.value
    assert download.suggested_filename.endswith("-data.zip")
    with zipfile.ZipFile(io.BytesIO(Path(download.path()).read_bytes())) as archive:
        names = set(archive.namelist())
        assert {"profile.csv", "gifts.csv", "summary.html"} <= names
        assert "Lifeboats" in archive.read("gifts.csv").decode()
        assert "Amelia Clarke" in archive.read("summary.html").decode()


def test_an_administrator_erases_a_donor_and_previews_retention(app, live_server, page: Page):
    with app.app_context():
        make_user("admin", "admin@harbour.example.org", name="Ada Admin")
        donor = make_donor(first_name="Philippa", last_name="Quennell", email="philippa@example.org", phone="07700 911482")
        make_gift(donor.id, 2500, fund="Lifeboats")
        donor_id = donor.id
    sign_in(page, live_server, "admin@harbour.example.org")
    page.goto(f"{live_server}/staff/donors/{donor_id}")
    panel = page.get_by_role("region", name="Data rights")
    expect(panel.get_by_role("button", name="Export their data")).to_be_visible()
    panel.get_by_role("link", name="Erase personal data…").click()
    page.get_by_label("Type ERASE to confirm").fill("erase")
    page.get_by_role("button", name="Erase personal data").click()
    expect(page.get_by_role("alert")).to_contain_text("Type ERASE in capitals to confirm.")
    screenshots(page, "privacy-erase")
    page.get_by_label("Type ERASE to confirm").fill("ERASE")
    page.get_by_role("button", name="Erase personal data").click()
    expect(page).to_have_url(re.compile(rf"/staff/donors/{donor_id}$"))
    expect(page.get_by_role("heading", name=f"Erased donor #{donor_id}")).to_be_visible()
    expect(page.get_by_text("Philippa")).to_have_count(0)
    screenshots(page, "privacy-erased-donor")

    page.get_by_role("link", name="Data retention").click()
    htmx_ready(page)
    expect(page.get_by_text("The policy is off")).to_be_visible()
    page.get_by_label("Years without a gift or contact").fill("7")
    expect(page.locator("#retention-preview")).to_contain_text("0 donors with no gift or contact")
    screenshots(page, "privacy-retention")
