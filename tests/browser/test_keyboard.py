"""Keyboard use in headless Chromium: the skip link, a visible focus ring on everything Tab reaches, and
results that arrive without a page load (search as you type, older timeline entries) announced through
the page's live region."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect

from portal.extensions import db
from portal.journey import services as journey
from portal.timeutil import utcnow
from tests.conftest import make_donor, make_user, sign_in_staff

pytestmark = pytest.mark.browser

STAFF = "kim.keyboard@harbour.example.org"

FOCUS_RING = """() => {
    const el = document.activeElement;
    const style = getComputedStyle(el);
    return {tag: el.tagName, type: el.type || '', id: el.id, text: (el.textContent || el.value || '').trim().slice(0, 40),
            outline: style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2, detail: [style.outlineStyle, style.outlineWidth, el.matches(':focus'), el.getAttribute('tabindex')]};
}"""


@pytest.fixture
def staff_page(app, live_server, page: Page):
    with app.app_context():
        make_user("fundraiser", STAFF, name="Kim Keyboard")
    page.set_viewport_size({"width": 1366, "height": 900})
    sign_in_staff(page, live_server, STAFF)
    return page


def test_the_skip_link_comes_first_and_moves_focus_to_the_main_content(app, live_server, staff_page: Page):
    with app.app_context():
        donor_id = make_donor(first_name="Ada", last_name="Lovelace").id
    staff_page.goto(f"{live_server}/staff/donors/{donor_id}")
    staff_page.keyboard.press("Tab")
    skip = staff_page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    box = skip.bounding_box()
    assert box["x"] >= 0 and box["y"] >= 0, "the focused skip link is on screen"
    staff_page.keyboard.press("Enter")
    assert staff_page.evaluate("document.activeElement.id") == "main"


def test_every_control_tab_reaches_shows_a_focus_ring(app, live_server, staff_page: Page):
    with app.app_context():
        donor_id = make_donor(first_name="Ada", last_name="Lovelace", email="ada@example.org").id
    staff_page.goto(f"{live_server}/staff/donors/{donor_id}")
    seen = []
    for _ in range(45):
        staff_page.keyboard.press("Tab")
        focused = staff_page.evaluate(FOCUS_RING)
        if focused["tag"] == "BODY":
            break
        seen.append(focused)
    without_ring = [f for f in seen if not f["outline"]]
    assert len(seen) >= 30
    assert not without_ring, [f"{f}" for f in without_ring]


def test_donor_search_results_are_announced(app, live_server, staff_page: Page):
    with app.app_context():
        for first, last in [("Ada", "Lovelace"), ("Lovell", "Jones"), ("Grace", "Hopper")]:
            make_donor(first_name=first, last_name=last)
    staff_page.goto(f"{live_server}/staff/donors/")
    expect(staff_page.locator("#announcer")).to_have_text("")
    staff_page.locator("#q").press_sequentially("lov")
    expect(staff_page.locator("#announcer")).to_have_text("2 donors found")
    expect(staff_page.locator("#announcer")).to_have_attribute("aria-live", "polite")


def test_loading_older_timeline_entries_announces_how_many_arrived(app, live_server, staff_page: Page):
    with app.app_context():
        donor = make_donor(first_name="Ada", last_name="Lovelace")
        start = utcnow() - timedelta(days=60)
        for day in range(25):
            journey.record(donor.id, "note", f"Note {day}", occurred_at=start + timedelta(days=day))
        db.session.commit()
        donor_id = donor.id
    staff_page.goto(f"{live_server}/staff/donors/{donor_id}")
    entries = staff_page.locator("#timeline-list > li:not(.more)")
    expect(entries).to_have_count(20)
    staff_page.get_by_role("link", name="Load older").scroll_into_view_if_needed()
    expect(entries).to_have_count(26)  # 25 notes and "Joined"
    expect(staff_page.locator("#announcer")).to_have_text("6 older entries loaded")


def test_the_searching_indicator_is_hidden_without_javascript(app, live_server, browser):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{live_server}/help")
    expect(page.locator("#kb-searching")).to_be_hidden()
    context.close()


def test_back_office_shortcuts_and_their_overlay(app, live_server, staff_page: Page):
    staff_page.goto(f"{live_server}/staff/")
    staff_page.keyboard.press("?")
    overlay = staff_page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(overlay).to_be_visible()
    expect(overlay).to_contain_text("Go to donors")
    staff_page.keyboard.press("Escape")
    expect(overlay).to_be_hidden()

    staff_page.keyboard.press("g")
    staff_page.keyboard.press("d")
    staff_page.wait_for_url("**/staff/donors/")
    staff_page.keyboard.press("/")
    expect(staff_page.locator("#q")).to_be_focused()
    staff_page.keyboard.type("g t/")  # typed into the search box, not taken as shortcuts
    expect(staff_page.locator("#q")).to_have_value("g t/")
    expect(staff_page).to_have_url(re.compile(r"/staff/donors/"))

    staff_page.locator("#q").blur()
    staff_page.keyboard.press("g")
    staff_page.keyboard.press("t")
    staff_page.wait_for_url("**/staff/tasks/")
    staff_page.keyboard.press("/")  # no search on this page: the donor list opens with its search focused
    staff_page.wait_for_url("**/staff/donors/?focus=search")
    expect(staff_page.locator("#q")).to_be_focused()
