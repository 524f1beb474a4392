"""Flows a charity trips on when they go wrong, in headless Chromium with and without JavaScript: cancelling
regular giving from the back office, redeeming a reward from its own page, printing a statement or receipt."""
from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from portal.extensions import db
from portal.giving.models import Gift, RecurringPlan
from portal.loyalty import services as loyalty
from portal.loyalty.models import Reward
from tests.browser.test_donor_portal import donor_with_history, sign_in
from tests.conftest import make_user, sign_in_staff
from tests.integration.test_statement_pdf import page_count

pytestmark = pytest.mark.browser

FUNDRAISER = "tom.okafor@harbour.example.org"


def _sponsorship(app) -> tuple[int, int]:
    donor_id = donor_with_history(app)
    with app.app_context():
        make_user("fundraiser", FUNDRAISER, name="Tom Okafor")
        plan_id = db.session.scalar(select(RecurringPlan.id).where(RecurringPlan.donor_id == donor_id))
    return donor_id, plan_id


@pytest.mark.parametrize("javascript", [True, False], ids=["with-js", "without-js"])
def test_staff_cancel_asks_for_confirmation_and_a_reason(app, live_server, browser: Browser, javascript):
    donor_id, plan_id = _sponsorship(app)
    context = browser.new_context(java_script_enabled=javascript)
    page = context.new_page()
    sign_in_staff(page, live_server, FUNDRAISER)
    page.goto(f"{live_server}/staff/donors/{donor_id}")
    page.get_by_role("link", name="Cancel…").click()
    expect(page.get_by_role("heading", name="Cancel Amelia Clarke’s sponsorship?")).to_be_visible()
    with app.app_context():
        assert db.session.get(RecurringPlan, plan_id).status == "active"

    page.get_by_role("button", name="Yes, cancel it").click()
    expect(page.get_by_text("Say why it is ending")).to_be_visible()
    with app.app_context():
        assert db.session.get(RecurringPlan, plan_id).status == "active"

    page.get_by_label("Why is it ending?").fill("Moving abroad, told us on the phone")
    page.get_by_role("button", name="Yes, cancel it").click()
    expect(page).to_have_url(f"{live_server}/staff/donors/{donor_id}")
    expect(page.get_by_text("Sponsorship cancelled.")).to_be_visible()
    with app.app_context():
        plan = db.session.get(RecurringPlan, plan_id)
        assert (plan.status, plan.end_reason) == ("cancelled", "Moving abroad, told us on the phone")
    context.close()


def test_redeeming_from_the_reward_page_opened_directly(app, live_server, page: Page):
    donor_id = donor_with_history(app)
    with app.app_context():
        reward_id = db.session.scalar(select(Reward.id).where(Reward.name == "Harbour open day tickets"))
    sign_in(page, live_server)
    page.goto(f"{live_server}/me/points/rewards/{reward_id}")
    page.wait_for_function("window.htmx !== undefined")
    page.get_by_role("button", name="Yes, redeem").click()
    expect(page).to_have_url(f"{live_server}/me/points")
    expect(page.get_by_text("You've redeemed 200 points for Harbour open day tickets")).to_be_visible()
    expect(page.locator("#points-balance")).to_have_text("25")
    with app.app_context():
        assert loyalty.balance(donor_id) == 25


@pytest.mark.parametrize("document", ["statement", "receipt"])
def test_statements_and_receipts_print_alone_on_one_page(app, live_server, page: Page, document):
    donor_id = donor_with_history(app)
    with app.app_context():
        gift_id = db.session.scalar(select(Gift.id).where(Gift.donor_id == donor_id).order_by(Gift.received_at.desc()))
        year = db.session.get(Gift, gift_id).received_at.year
    sign_in(page, live_server)
    page.goto(f"{live_server}/me/giving/statement/{year}" if document == "statement" else f"{live_server}/me/giving/{gift_id}/receipt")
    page.emulate_media(media="print")
    for chrome in (".donor-top", ".site-footer", ".doc-tools"):
        if page.locator(chrome).count():
            expect(page.locator(chrome).first).to_be_hidden()
    expect(page.locator("article.doc")).to_be_visible()
    pdf = page.pdf(format="A4")
    assert page_count(pdf) == 1
