"""In a real browser: build a segment and watch the count change, then preview a template for a donor."""
import re
from datetime import datetime

import pytest
from playwright.sync_api import expect

from portal.engagement.models import EmailTemplate
from portal.extensions import db
from tests.conftest import PASSWORD, make_donor, make_gift, make_user

pytestmark = pytest.mark.browser


@pytest.fixture
def signed_in(app, live_server, page):
    with app.app_context():
        ada = make_donor(first_name="Ada", last_name="Quay", email="ada@example.org", marketing_opt_in=True, city="Whitby")
        make_donor(first_name="Ben", last_name="Quay", email="ben@example.org", city="Whitby")
        make_donor(first_name="Cy", last_name="Moor", email="cy@example.org", city="York")
        make_gift(ada.id, 150000, datetime(2026, 1, 10), fund="Lifeboat crews")
        template = EmailTemplate(name="Spring news", category="marketing", subject="Spring news",
                                 html_body="<p>Dear {{ first_name }},</p>", text_body="Dear {{ first_name }},")
        db.session.add(template)
        db.session.commit()
        template_id = template.id
        make_user("fundraiser", "fundraiser@example.org")
    page.goto(f"{live_server}/login")
    page.get_by_label("Email address").fill("fundraiser@example.org")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/staff/"))
    return {"template_id": template_id}


def settled(page) -> None:
    """Wait until htmx has swapped and wired up new content (a person cannot act within those milliseconds)."""
    page.wait_for_function("() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')")


def test_build_a_segment_and_see_the_count_change(live_server, page, signed_in):
    page.goto(f"{live_server}/staff/segments/new")
    count = page.locator("#live-count .value")
    page.locator("#c-0-field").select_option("city")
    expect(page.locator("#c-0-value")).to_be_visible()
    settled(page)
    page.locator("#c-0-value").fill("Whitby")
    expect(count).to_have_text("2")
    page.get_by_role("button", name="+ Condition", exact=True).click()
    expect(page.locator("#c-1-field")).to_be_visible()
    settled(page)
    page.locator("#c-1-field").select_option("lifetime")
    expect(page.locator("#c-1-op")).to_have_value("gte")
    settled(page)
    page.locator("#c-1-value").fill("1000")
    expect(count).to_have_text("1")
    page.locator("#match").select_option("any")
    expect(count).to_have_text("2")
    page.locator("#match").select_option("all")
    expect(count).to_have_text("1")
    page.get_by_role("button", name="Remove this condition").nth(1).click()
    expect(page.locator("#c-1-field")).to_have_count(0)
    expect(count).to_have_text("2")
    settled(page)
    page.get_by_label("Name").fill("Whitby supporters")
    page.get_by_role("button", name="Save segment").click()
    expect(page.get_by_role("heading", name="Whitby supporters")).to_be_visible()
    expect(page.locator("#members")).to_contain_text("Ada Quay")
    expect(page.locator("#members")).to_contain_text("2 donors")


def test_preview_a_template_for_a_chosen_donor_as_it_is_typed(live_server, page, signed_in):
    page.goto(f"{live_server}/staff/templates/{signed_in['template_id']}")
    preview = page.locator("#preview")
    expect(preview.locator(".preview-subject")).to_have_text("Spring news")
    page.get_by_label("Subject").fill("Spring news for {{ first_name }}")
    expect(preview.locator(".preview-subject")).to_have_text("Spring news for Amelia")  # the example values
    page.get_by_label("Show it for a donor").fill("ada")
    expect(page.get_by_label("Ada Quay")).to_be_visible()
    settled(page)
    page.get_by_label("Ada Quay").check()
    expect(preview.locator(".preview-subject")).to_have_text("Spring news for Ada")
    frame = page.frame_locator("iframe.email-frame")
    expect(frame.locator("body")).to_contain_text("Dear Ada,")
    page.get_by_label("Subject").fill("Spring news for {{ first_name")
    expect(preview).to_contain_text("Line 1: unexpected end of template")
