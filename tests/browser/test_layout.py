"""How pages look at 1366 and 390 pixels: nothing scrolls sideways, the lifetime table shows every column
at desktop width, the staff sidebar's dark column runs to the bottom of a long page. Full-page screenshots
of the donor portal and three staff pages go to test-results/ to be looked at."""
from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import Page
from sqlalchemy import select

from portal.donors.models import Donor
from portal.extensions import db
from portal.giving.models import RecurringPlan
from tests.conftest import make_user, sign_in_staff

pytestmark = pytest.mark.browser

SHOTS = Path(__file__).resolve().parents[2] / "test-results"
SIZES = {"desktop": {"width": 1366, "height": 800}, "phone": {"width": 390, "height": 844}}
ADMIN = "layout.admin@harbour.example.org"
SIDEBAR_INK = (0x17, 0x24, 0x3a)


@pytest.fixture
def demo(app):
    runner = app.test_cli_runner()
    with app.app_context():
        for command in (["demo-data", "--donors", "150"], ["loyalty", "launch"], ["engagement", "seed"], ["jobs", "warm-up"]):
            assert runner.invoke(args=command).exit_code == 0, command
        make_user("admin", ADMIN, name="Layout Admin")


def shoot(page: Page, name: str) -> dict[str, bytes]:
    SHOTS.mkdir(exist_ok=True)
    shots = {}
    for label, size in SIZES.items():
        page.set_viewport_size(size)
        page.evaluate("() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= size["width"], f"{name} is {width}px wide at {size['width']}px"
        shots[label] = page.screenshot(path=str(SHOTS / f"{name}-{size['width']}.png"), full_page=True)
    page.set_viewport_size(SIZES["desktop"])
    return shots


def test_staff_pages_fit_and_the_sidebar_runs_the_full_length(app, live_server, page: Page, demo):
    page.set_viewport_size(SIZES["desktop"])
    sign_in_staff(page, live_server, ADMIN)
    for name, path, long_page in (("staff-donors", "/staff/donors/", True), ("staff-lifetime", "/staff/insights/lifetime", True),
                                  ("staff-segment-builder", "/staff/segments/new", False)):
        page.goto(live_server + path)
        shots = shoot(page, name)
        image = Image.open(io.BytesIO(shots["desktop"])).convert("RGB")
        if long_page:
            assert image.height > 2 * SIZES["desktop"]["height"], f"{name} is a long page"
        assert image.getpixel((10, image.height - 10)) == SIDEBAR_INK, f"{name}: the sidebar stops before the page ends"

    with app.app_context():
        amelia = db.session.scalar(select(Donor.id).where(Donor.email == "amelia.clarke@example.org"))
        plan_id = db.session.scalar(select(RecurringPlan.id).where(RecurringPlan.donor_id == amelia))
    for name, path in (("staff-donor", f"/staff/donors/{amelia}"), ("staff-cancel-plan", f"/staff/donors/{amelia}/plans/{plan_id}/cancel")):
        page.goto(live_server + path)
        shoot(page, name)
    page.keyboard.press("?")
    page.screenshot(path=str(SHOTS / "staff-shortcuts-1366.png"))

    page.goto(f"{live_server}/staff/insights/lifetime")
    wrap = page.locator(".table-wrap", has=page.locator("#lifetime-table"))
    assert wrap.evaluate("box => box.scrollWidth <= box.clientWidth"), "the lifetime table is cut off at 1366px"
    header = page.get_by_role("columnheader", name="Predicted CLV")
    assert header.bounding_box()["x"] + header.bounding_box()["width"] <= wrap.bounding_box()["x"] + wrap.bounding_box()["width"]


def test_donor_portal_pages_fit(app, live_server, page: Page, demo):
    page.set_viewport_size(SIZES["desktop"])
    page.goto(f"{live_server}/login")
    page.fill("#email", "amelia.clarke@example.org")
    page.fill("#password", "harbour-demo-2026")
    page.click("button[type=submit]")
    page.wait_for_url("**/me")
    for name, path in (("donor-home", "/me"), ("donor-giving", "/me/giving"), ("donor-points", "/me/points"),
                       ("donor-regular-giving", "/me/regular-giving")):
        page.goto(live_server + path)
        shoot(page, name)
        menu_lines = page.evaluate("""() => new Set([...document.querySelectorAll('.donor-top nav a')]
                                       .map(a => Math.round(a.getBoundingClientRect().top))).size""")
        assert menu_lines == 1, f"{name}: the menu wraps at 1366px"
