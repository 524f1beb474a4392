"""Account security as a person meets it in headless Chromium: the sessions page (see and end where you are
signed in). Screenshots at 1366px and 390px go to test-results/."""
from __future__ import annotations


import pytest
from playwright.sync_api import Page, expect

from tests.conftest import make_user, sign_in_staff
from tests.browser.screens import DESKTOP, screenshots

pytestmark = pytest.mark.browser

SAM = "sam.reid@harbour.example.org"


def test_ending_a_session_from_the_sessions_page_signs_that_browser_out(app, live_server, page: Page, browser):
    with app.app_context():
        make_user("support", SAM, name="Sam Reid")
    phone = browser.new_context(user_agent="Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
                                           "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1").new_page()
    sign_in_staff(phone, live_server, SAM)
    page.set_viewport_size(DESKTOP)
    sign_in_staff(page, live_server, SAM)

    page.get_by_role("link", name="Your sessions").click()
    expect(page.get_by_role("heading", name="Your sessions")).to_be_visible()
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.filter(has_text="This browser")).to_have_count(1)
    screenshots(page, "security-sessions")
    rows.filter(has_text="Safari on iPhone").get_by_role("button", name="End session").click()
    expect(page.get_by_text("That session has ended")).to_be_visible()
    expect(page.locator("tbody tr")).to_have_count(1)

    phone.reload()
    expect(phone.get_by_role("button", name="Sign in")).to_be_visible()

    page.get_by_role("button", name="Sign out", exact=True).last.click()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    phone.context.close()


def test_setting_up_two_step_sign_in_and_signing_in_with_a_recovery_code(app, live_server, page: Page):
    import pyotp

    with app.app_context():
        make_user("fundraiser", SAM, name="Sam Reid")
    page.set_viewport_size(DESKTOP)
    sign_in_staff(page, live_server, SAM)
    page.get_by_role("link", name="Two-step sign-in").click()
    expect(page.get_by_role("heading", name="Set it up")).to_be_visible()
    expect(page.locator(".qr svg")).to_be_visible()
    screenshots(page, "security-two-step-setup")
    secret = page.locator("code.secret").inner_text()
    page.get_by_label("Code").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Turn on two-step sign-in").click()
    expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()
    codes = page.locator(".recovery-codes code").all_inner_texts()
    assert len(codes) == 10
    screenshots(page, "security-recovery-codes")
    page.get_by_role("link", name="I've saved them").click()
    expect(page.get_by_role("heading", name="Two-step sign-in is on")).to_be_visible()

    page.get_by_role("button", name="Sign out", exact=True).click()
    page.goto(f"{live_server}/login")
    page.get_by_label("Email address").fill(SAM)
    page.get_by_label("Password").fill("correct-horse-battery")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Enter your code")).to_be_visible()
    screenshots(page, "security-two-step-code")
    page.get_by_label("Code").fill(codes[0])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/staff/")
    expect(page.get_by_role("link", name="Two-step sign-in")).to_be_visible()


def test_a_donor_turns_on_two_step_sign_in_from_the_portal(app, live_server, page: Page):
    import pyotp

    from tests.conftest import make_donor

    with app.app_context():
        donor = make_donor(first_name="Amelia", last_name="Clarke", email="amelia.clarke@example.org")
        make_user("donor", "amelia.clarke@example.org", donor_id=donor.id, name="Amelia Clarke")
    page.set_viewport_size(DESKTOP)
    sign_in_staff(page, live_server, "amelia.clarke@example.org", lands_on="**/me")
    page.get_by_role("link", name="Two-step sign-in").click()
    expect(page.get_by_role("heading", name="Set it up")).to_be_visible()
    screenshots(page, "security-donor-two-step")
    page.get_by_label("Code").fill(pyotp.TOTP(page.locator("code.secret").inner_text()).now())
    page.get_by_role("button", name="Turn on two-step sign-in").click()
    expect(page.locator(".recovery-codes code")).to_have_count(10)
