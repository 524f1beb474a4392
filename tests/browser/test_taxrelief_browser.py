"""In a real browser: a donor makes a Gift Aid declaration in /me, and staff build and submit a claim with their gift."""
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect

from portal.taxrelief import services
from portal.timeutil import utcnow
from tests.conftest import PASSWORD, make_donor, make_gift, make_user, sign_in_staff

pytestmark = pytest.mark.browser
RESULTS = Path(__file__).resolve().parents[2] / "test-results"


def _no_sideways_scroll(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth") == 0


def _donor_with_a_gift(app) -> str:
    """Amelia (UK address, one gift 10 days ago, no declaration) and a fundraiser; returns the gift's date."""
    with app.app_context():
        services.update_settings(scheme_key="uk_gift_aid")
        donor = make_donor(title="Mrs", first_name="Amelia", last_name="Clarke-Hughes", email="amelia@example.org",
                           address_line1="12 Quay Street", city="Whitby", postcode="yo21 3pu", country="United Kingdom")
        gift = make_gift(donor.id, 4000, utcnow() - timedelta(days=10))
        make_user("donor", "amelia@example.org", donor_id=donor.id, name="Amelia Clarke-Hughes")
        make_user("fundraiser", "finance@harbour.example.org", name="Fran Finance")
        return gift.received_at.date()


def test_donor_declares_in_me_and_staff_claim_their_gift(app, live_server, page, browser, tmp_path):
    gift_day = _donor_with_a_gift(app)
    RESULTS.mkdir(exist_ok=True)

    page.goto(f"{live_server}/login")
    page.get_by_label("Email address").fill("amelia@example.org")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Make a Gift Aid declaration →").click()
    page.get_by_label("Gifts in the last 4 years, this gift and all future gifts").check()
    page.get_by_role("button", name="Make my declaration").click()
    expect(page.get_by_text("Tick the box to confirm the declaration.")).to_be_visible()
    page.get_by_label("I am a UK taxpayer and I agree to the declaration above").check()
    page.get_by_role("button", name="Make my declaration").click()
    expect(page.get_by_text("Thank you: Gift Aid will add 25p to every £1 you give.")).to_be_visible()
    expect(page.get_by_text("In force")).to_be_visible()
    for width, name in ((1366, "desktop"), (390, "phone")):
        page.set_viewport_size({"width": width, "height": 900})
        _no_sideways_scroll(page)
        page.screenshot(path=str(RESULTS / f"gift-aid-me-{name}.png"), full_page=True)

    staff = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
    sign_in_staff(staff, live_server, "finance@harbour.example.org")
    staff.get_by_role("link", name="Gift Aid").click()
    staff.get_by_label("Gifts received from").fill((gift_day - timedelta(days=1)).isoformat())
    staff.get_by_label("to", exact=True).fill(utcnow().date().isoformat())
    staff.get_by_role("button", name="Check these dates").click()
    expect(staff.locator("#plan")).to_contain_text("£10.00")
    staff.screenshot(path=str(RESULTS / "gift-aid-staff-build.png"), full_page=True)
    staff.get_by_role("button", name="Create the draft claim").click()
    expect(staff.get_by_text("Draft claim built.")).to_be_visible()
    row = staff.get_by_role("row", name="Amelia")
    expect(row).to_contain_text("Clarke Hughes")
    expect(row).to_contain_text("YO21 3PU")
    expect(row).to_contain_text(gift_day.strftime("%d/%m/%y"))
    with staff.expect_download() as download_info:
        staff.get_by_role("link", name="Download the schedule (.ods)").click()
    saved = tmp_path / download_info.value.suggested_filename
    download_info.value.save_as(saved)
    assert saved.suffix == ".ods" and saved.read_bytes()[:2] == b"PK"
    staff.get_by_role("button", name="Mark as submitted to HMRC").click()
    expect(staff.get_by_text("Marked as submitted: its gifts are now claimed.")).to_be_visible()
    for width, name in ((1366, "desktop"), (390, "phone")):
        staff.set_viewport_size({"width": width, "height": 900})
        staff.screenshot(path=str(RESULTS / f"gift-aid-claim-{name}.png"), full_page=True)
    staff.set_viewport_size({"width": 1366, "height": 900})
    staff.get_by_role("link", name="Amelia").first.click()
    expect(staff.locator("#gift-aid")).to_contain_text("Already claimed")
    staff.locator("#gift-aid").screenshot(path=str(RESULTS / "gift-aid-donor-panel.png"))
