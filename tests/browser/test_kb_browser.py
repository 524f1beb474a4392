"""A donor searches the help centre as they type and opens an article; typing a message subject suggests articles."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from portal.extensions import db
from portal.kb import services
from tests.conftest import PASSWORD, make_donor, make_user

pytestmark = pytest.mark.browser


@pytest.fixture
def donor_signed_in(app, live_server, page: Page):
    with app.app_context():
        services.sync_directory(services.default_content_dir(), queue_index=False)
        services.reindex_everything()
        donor = make_donor(email="iris@example.org", first_name="Iris")
        make_user("donor", "iris@example.org", donor_id=donor.id)
        db.session.remove()
    page.goto(f"{live_server}/login")
    page.get_by_label("Email").fill("iris@example.org")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name=re.compile("Sign in", re.I)).click()
    page.wait_for_load_state("networkidle")
    return page


def test_donor_searches_as_they_type_and_opens_an_article(donor_signed_in: Page, live_server):
    page = donor_signed_in
    page.goto(f"{live_server}/me/help")
    page.get_by_label("Search the help centre").press_sequentially("renewi", delay=60)
    first = page.locator(".kb-results .kb-result-title").first
    expect(first).to_have_text("How sponsorship renewal works")
    expect(page).to_have_url(re.compile(r"/me/help\?q=renewi"))
    expect(page.locator(".kb-results mark").first).to_be_visible()
    first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("How sponsorship renewal works")
    # htmx is loaded with defer: until the page's load event the vote buttons still post the plain form.
    page.wait_for_load_state()
    page.get_by_role("button", name="Yes").click()
    expect(page.locator("#vote")).to_contain_text("Thank you for your feedback")


def test_typing_a_subject_suggests_an_article(donor_signed_in: Page, live_server):
    page = donor_signed_in
    page.goto(f"{live_server}/me/help")
    page.get_by_label("What do you need help with?").press_sequentially("my card has expired", delay=40)
    suggestion = page.locator("#deflect a").first
    expect(suggestion).to_have_text("How to update your card details")
    suggestion.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("How to update your card details")
    expect(page).to_have_url(re.compile(r"via=ticket_form"))
