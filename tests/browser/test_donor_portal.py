"""The donor portal in headless Chromium: invitation to first login, regular giving, rewards, unsubscribe, tickets."""
import re
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from portal.auth.accounts import invite_donor
from portal.donors import preferences
from portal.donors.models import Donor
from portal.engagement.models import EmailMessage
from portal.engagement.delivery.outbox import bodies_for_recipient
from portal.extensions import db
from portal.giving import services as giving
from portal.loyalty import services as loyalty
from portal.timeutil import utcnow
from portal.tokens import unsubscribe_url
from tests.conftest import PASSWORD, make_donor, make_gift, make_user

pytestmark = pytest.mark.browser
RESULTS = Path(__file__).resolve().parents[2] / "test-results"


def donor_with_history(app):
    """Amelia, with gifts, a sponsorship, points and a reward to spend them on; returns her id."""
    with app.app_context():
        donor = make_donor(first_name="Amelia", last_name="Clarke", email="amelia@example.org", marketing_opt_in=True,
                           address_line1="12 Quay Street", city="Whitby", postcode="YO21 3PU", country="United Kingdom")
        for days, amount, fund in ((700, 2500, "Spring appeal"), (400, 5000, "Flood relief"), (120, 2500, "Winter appeal"),
                                   (30, 7500, "Lifeboat crews")):
            make_gift(donor.id, amount, utcnow() - timedelta(days=days), fund=fund, method="online")
        giving.start_plan(donor.id, giving.PlanInput(kind="sponsorship", amount_minor=1500, currency="GBP", interval="monthly",
                                                    started_at=(utcnow() - timedelta(days=300)).date(), fund="Crew sponsorship",
                                                    description="Sponsoring the Whitby crew"))
        for name, kind, cost, stock, text in (
                ("A thank-you call", "thank_you_call", 150, None, "Someone from the Whitby crew rings to say thank you."),
                ("Harbour open day tickets", "event_ticket", 200, 8, "Two tickets to the summer open day."),
                ("Points into a donation", "donation", 300, None, "We turn your points into a £5 gift.")):
            loyalty.save_reward(None, name=name, description=text, kind=kind, points_cost=cost, stock=stock,
                                donation_minor=500 if kind == "donation" else None,
                                funds="Lifeboat crews, Clean water" if kind == "donation" else "", active=True)
        make_user("donor", "amelia@example.org", donor_id=donor.id, name="Amelia Clarke")
        return donor.id


def sign_in(page, base, email="amelia@example.org", password=PASSWORD):
    page.goto(f"{base}/login")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{base}/me")


def test_invitation_to_first_login(app, live_server, page):
    with app.app_context():
        donor = make_donor(first_name="Grace", last_name="Hopper", email="grace@example.org")
        invite_donor(donor, invited_by=make_user("fundraiser", "tom@harbour.example.org", name="Tom Okafor"))
        body, _html = bodies_for_recipient(db.session.scalar(select(EmailMessage).where(EmailMessage.to_email == "grace@example.org")))
    link = re.search(r"http://127\.0\.0\.1:5000(/invitation/\S+)", body).group(1)
    page.goto(live_server + link)
    expect(page.get_by_role("heading", name="Set up your supporter account")).to_be_visible()
    page.get_by_label("Choose a password").fill("a long harbour walk")
    page.get_by_label("Type it again").fill("a long harbour walk")
    page.get_by_role("button", name="Create my account").click()
    expect(page).to_have_url(f"{live_server}/me")
    expect(page.get_by_role("heading", name="Hello, Grace")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, live_server, "grace@example.org", "a long harbour walk")


def test_changing_and_cancelling_a_sponsorship(app, live_server, page):
    donor_with_history(app)
    sign_in(page, live_server)
    page.get_by_role("link", name="Regular giving").first.click()
    page.get_by_label("New amount").fill("20")
    page.get_by_role("button", name="Change amount").click()
    expect(page.get_by_text("is now £20.00 monthly")).to_be_visible()
    page.get_by_role("button", name="Pause").click()
    expect(page.get_by_text("paused. Resume it whenever you like")).to_be_visible()
    page.get_by_role("link", name="Cancel…").click()
    page.get_by_label("Would you tell us why? (optional)").fill("Moving abroad")
    page.get_by_role("button", name="Yes, cancel it").click()
    expect(page.get_by_text("Thank you for everything you've given")).to_be_visible()
    expect(page.locator(".me-plan .badge")).to_have_text("Cancelled")


def test_redeeming_a_reward_updates_the_balance_in_place(app, live_server, page):
    donor_id = donor_with_history(app)
    sign_in(page, live_server)
    page.get_by_role("link", name="Points & rewards").click()
    expect(page.locator("#points-balance")).to_have_text("225")  # £175 of gifts and the first-gift bonus
    tickets = page.locator("article.reward", has_text="Harbour open day tickets")
    tickets.get_by_role("link", name="Redeem").click()
    expect(page.get_by_text("you'll have 25 left")).to_be_visible()
    page.get_by_role("button", name="Yes, redeem").click()
    expect(page.locator("#points-balance")).to_have_text("25")
    expect(page.get_by_text("You've redeemed 200 points for Harbour open day tickets")).to_be_visible()
    expect(page).to_have_url(f"{live_server}/me/points")  # no page load: the wallet was swapped in place
    with app.app_context():
        assert loyalty.balance(donor_id) == 25


def test_unsubscribing_by_one_click_link(app, live_server, page):
    with app.app_context():
        donor_id = make_donor(first_name="Ada", email="ada@example.org", marketing_opt_in=True).id
        link = unsubscribe_url(donor_id, "appeals").replace("http://127.0.0.1:5000", live_server)
    page.goto(link)
    expect(page.get_by_text("Stop sending appeals emails to ada@example.org?")).to_be_visible()
    page.get_by_role("button", name="Unsubscribe").click()
    expect(page.get_by_role("heading", name="You're unsubscribed")).to_be_visible()
    page.get_by_role("button", name="Unsubscribe from all marketing email").click()
    expect(page.get_by_text("We won't send any more news, appeals or event emails")).to_be_visible()
    with app.app_context():
        donor = db.session.get(Donor, donor_id)
        assert not preferences.can_email(donor, "news") and donor.marketing_consent_source == "unsubscribe link"


def test_opening_a_support_ticket(app, live_server, page):
    donor_with_history(app)
    sign_in(page, live_server)
    page.get_by_role("link", name="Support", exact=True).click()
    page.get_by_role("link", name="Send us a message").click()
    page.get_by_label("Subject").fill("Gift Aid on my sponsorship")
    page.get_by_label("How can we help?").fill("Can you add Gift Aid to my monthly sponsorship?")
    page.get_by_role("button", name="Send message").click()
    expect(page.get_by_role("heading", name="Gift Aid on my sponsorship")).to_be_visible()
    expect(page.get_by_text("Can you add Gift Aid to my monthly sponsorship?")).to_be_visible()
    page.get_by_label("Your reply").fill("It's for the Whitby crew.")
    page.get_by_role("button", name="Send reply").click()
    expect(page.get_by_text("Your reply has been sent.")).to_be_visible()


@pytest.mark.parametrize("width,height,name", [(390, 844, "phone"), (1280, 900, "desktop")])
def test_donor_home_screenshots(app, live_server, page, width, height, name):
    donor_with_history(app)
    page.set_viewport_size({"width": width, "height": height})
    sign_in(page, live_server)
    expect(page.get_by_role("heading", name="Hello, Amelia")).to_be_visible()
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow == 0, "the donor home scrolls sideways"
    RESULTS.mkdir(exist_ok=True)
    page.screenshot(path=str(RESULTS / f"donor-home-{name}.png"), full_page=True)
