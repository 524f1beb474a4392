"""Staff flows in headless Chromium: sign in, search as you type, a donor's journey timeline, recording a
gift, and a donor user kept out of the back office. Screenshots of each page, at desktop and phone width,
go to test-results/."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect

from sqlalchemy import func, select

from portal.extensions import db
from portal.journey import services as journey
from portal.journey.models import Touchpoint
from portal.timeutil import utcnow
from tests.conftest import make_donor, make_gift, make_user
from tests.browser.screens import screenshots, sign_in

pytestmark = pytest.mark.browser

# The login form refuses special-use domains such as .test, so these accounts have ordinary addresses.
FUNDRAISER = "tom.okafor@harbour.example.org"


@pytest.fixture
def fundraiser(app):
    with app.app_context():
        make_user("fundraiser", FUNDRAISER, name="Tom Okafor")
    return FUNDRAISER


def test_staff_member_signs_in_to_the_back_office_home(app, live_server, page: Page, fundraiser):
    with app.app_context():
        donor = make_donor(first_name="Amelia", last_name="Clarke")
        make_gift(donor.id, 5000, utcnow() - timedelta(days=1))
    sign_in(page, live_server, fundraiser)
    expect(page).to_have_url(re.compile(r"/staff/?$"))
    expect(page.get_by_role("heading", name="Good to see you, Tom")).to_be_visible()
    numbers = page.get_by_role("region", name="Headline numbers")
    donors_tile = numbers.locator(".stat", has=page.locator(".label", has_text=re.compile("^Donors$")))
    expect(donors_tile.locator(".value")).to_have_text("1")
    screenshots(page, "home")


def test_search_narrows_the_donor_list_as_you_type(app, live_server, page: Page, fundraiser):
    with app.app_context():
        for first, last in [("Ada", "Lovelace"), ("Adam", "Smith"), ("Grace", "Hopper"), ("Alan", "Turing"),
                            ("Mary", "Somerville"), ("Lovell", "Jones"), ("Katherine", "Johnson")]:
            make_donor(first_name=first, last_name=last, email=f"{first}.{last}@example.org".lower())
    sign_in(page, live_server, fundraiser)
    page.goto(f"{live_server}/staff/donors/")
    rows = page.locator("#results tbody tr")
    expect(rows).to_have_count(7)
    screenshots(page, "donor-list")
    # A full page load would lose this marker; htmx swapping the results keeps it.
    page.evaluate("window.stillTheSamePage = true")

    page.locator("#q").press_sequentially("lov", delay=180)
    expect(rows).to_have_count(2)
    expect(rows.get_by_role("link")).to_have_text(["Lovell Jones", "Ada Lovelace"])
    page.locator("#q").press_sequentially("ela", delay=180)
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Ada Lovelace")
    expect(page).to_have_url(re.compile(r"[?&]q=lovela\b"))
    assert page.evaluate("window.stillTheSamePage") is True

    page.locator("#q").fill("zzz")
    expect(page.locator("#results")).to_contain_text("No donors match")
    screenshots(page, "donor-list-no-match")


def test_donor_timeline_filters_by_kind_and_loads_more_as_you_scroll(app, live_server, page: Page, fundraiser):
    now = utcnow()
    with app.app_context():
        donor = make_donor(first_name="Ada", last_name="Lovelace", email="ada@example.org", tags=["volunteer"])
        for n in range(12):
            make_gift(donor.id, 2500 + n * 100, now - timedelta(days=30 * n + 1), fund="Lifeboat crews")
        for n in range(14):
            journey.record(donor.id, "call", f"Call number {n + 1}", occurred_at=now - timedelta(days=30 * n + 15))
        db.session.commit()
        donor_id = donor.id
        # donor_created + 12 gifts + 14 calls, and whatever the gifts caused (e.g. a loyalty tier change)
        total = db.session.scalar(select(func.count()).select_from(Touchpoint).where(Touchpoint.donor_id == donor_id))
    assert total >= 27
    sign_in(page, live_server, fundraiser)
    page.goto(f"{live_server}/staff/donors/{donor_id}")
    expect(page.get_by_role("heading", name="Ada Lovelace", level=1)).to_be_visible()
    items = page.locator("#timeline-list > li:not(.more)")
    expect(items).to_have_count(20)
    screenshots(page, "donor-page")

    page.locator("#timeline-list li.more").scroll_into_view_if_needed()
    expect(items).to_have_count(total)
    expect(page.locator("#timeline-list li.more")).to_have_count(0)
    expect(items.last).to_contain_text("Call number 14")  # the oldest

    page.evaluate("window.stillTheSamePage = true")
    tabs = page.get_by_role("navigation", name="Filter the timeline")
    tabs.get_by_role("link", name="Conversations").click()
    expect(items).to_have_count(14)
    expect(tabs.locator("[aria-current=true]")).to_have_text("Conversations")
    expect(page).to_have_url(re.compile(r"group=contact"))
    expect(items.locator(".what")).to_have_text(["Phone call"] * 14)
    tabs.get_by_role("link", name="Gifts").click()
    expect(items).to_have_count(12)
    expect(items.first).to_contain_text("£25.00 to Lifeboat crews")  # the newest
    assert page.evaluate("window.stillTheSamePage") is True


def test_recording_a_gift_shows_it_in_recent_gifts_the_timeline_and_the_rollup(app, live_server, page: Page, fundraiser):
    with app.app_context():
        donor = make_donor(first_name="Grace", last_name="Hopper", email="grace@example.org")
        make_gift(donor.id, 2500, utcnow() - timedelta(days=40), fund="General fund")
        donor_id = donor.id
    sign_in(page, live_server, fundraiser)
    page.goto(f"{live_server}/staff/donors/{donor_id}")
    rollup = page.locator(".rollup")
    expect(rollup.locator("div", has=page.locator(".label", has_text="Lifetime")).locator(".value")).to_have_text("£25.00")

    page.locator("summary", has_text="Record a gift").click()
    form = page.locator("#gift-form")
    form.get_by_label("Amount").fill("42.50")
    form.get_by_label("Fund").fill("Flood relief")
    form.get_by_label("Method").select_option("online")
    form.get_by_role("button", name="Record gift").click()

    expect(page.get_by_role("status")).to_contain_text("Gift of £42.50 recorded.")
    recent = page.locator("#recent-gifts tbody tr")
    expect(recent).to_have_count(2)
    expect(recent.first).to_contain_text("Flood relief")
    expect(recent.first).to_contain_text("£42.50")
    timeline = page.locator("#timeline-list > li")
    new_gift = timeline.filter(has_text="£42.50 to Flood relief")
    expect(new_gift.locator(".what")).to_have_text("Gift received")
    expect(new_gift).to_contain_text("by Tom Okafor")
    # Dated today, so above the gift of 40 days ago.
    expect(timeline.filter(has_text="Gift received").locator(".summary")).to_have_text(["£42.50 to Flood relief", "£25.00 to General fund"])

    def rollup_value(label: str):
        return rollup.locator("div", has=page.locator(".label", has_text=re.compile(f"^{label}$"))).locator(".value")

    expect(rollup_value("Lifetime")).to_have_text("£67.50")
    expect(rollup_value("Gifts")).to_have_text("2")
    expect(rollup_value("Largest gift")).to_have_text("£42.50")
    expect(rollup_value("Last 12 months")).to_have_text("£67.50")


def test_recording_a_gift_with_a_bad_amount_shows_the_error_and_saves_nothing(app, live_server, page: Page, fundraiser):
    with app.app_context():
        donor_id = make_donor(first_name="Grace", last_name="Hopper").id
    sign_in(page, live_server, fundraiser)
    page.goto(f"{live_server}/staff/donors/{donor_id}")
    page.locator("summary", has_text="Record a gift").click()
    page.locator("#gift-form").get_by_label("Amount").fill("twelve")
    page.locator("#gift-form").get_by_role("button", name="Record gift").click()
    expect(page.locator("#field-amount .error")).to_have_text("Enter an amount such as 25 or 12.50.")
    page.goto(f"{live_server}/staff/donors/{donor_id}")
    expect(page.locator("#recent-gifts")).to_have_count(0)


def test_a_donor_user_gets_the_403_page_on_staff_urls(app, live_server, page: Page):
    with app.app_context():
        donor = make_donor(first_name="Amelia", last_name="Clarke", email="amelia.clarke@example.org")
        make_user("donor", "amelia.clarke@example.org", donor_id=donor.id, name="Amelia Clarke")
        donor_id = donor.id
    sign_in(page, live_server, "amelia.clarke@example.org")
    page.wait_for_url(re.compile(r"/me"))
    for path in ("/staff/", "/staff/donors/", f"/staff/donors/{donor_id}"):
        response = page.goto(f"{live_server}{path}")
        assert response.status == 403, path
        expect(page.get_by_role("heading", name="You don't have access to this page")).to_be_visible()
        expect(page.locator(".sidebar")).to_have_count(0)
    expect(page.get_by_role("link", name="Go back")).to_have_count(0)  # typed in: nowhere to go back to
    page.goto(f"{live_server}/staff/donors/", referer=f"{live_server}/me/gifts")
    expect(page.get_by_role("link", name="Go back")).to_have_attribute("href", "/me/gifts")  # our own page, as a local path
    screenshots(page, "forbidden")
