from datetime import timedelta

import pytest
from playwright.sync_api import expect

from portal.extensions import db
from portal.giving import services as giving
from portal.loyalty import services as loyalty
from portal.timeutil import utcnow
from tests.conftest import make_donor, make_user, sign_in_staff

pytestmark = pytest.mark.browser


def test_admin_previews_and_awards_points_for_imported_history(app, live_server, page):
    now = utcnow()
    with app.app_context():
        make_user("admin", "launcher@harbour.example.org", name="Lena Launch")
        donor = make_donor(first_name="Keen", last_name="Giver")
        giving.add_gifts([(donor.id, giving.GiftInput(amount_minor=10000, received_at=now - timedelta(days=days),
                                                      currency="GBP")) for days in (800, 90, 60, 30)], channel="import")
        db.session.commit()
        donor_id = donor.id
    sign_in_staff(page, live_server, "launcher@harbour.example.org")
    page.goto(f"{live_server}/staff/loyalty/")
    page.get_by_role("link", name="Past gifts").click()
    page.get_by_label("Gifts received on or after").fill((now - timedelta(days=365)).date().isoformat())
    page.get_by_role("button", name="Preview").click()
    expect(page.locator("#past-gifts-summary")).to_have_text("3 gifts from 1 donor would earn 300 points.")
    supporter = page.locator("#past-gifts-tiers tr", has_text="Supporter")
    expect(supporter.locator("td")).to_have_text(["0", "1"])
    page.get_by_role("button", name="Award 300 points").click()
    expect(page.get_by_text("3 past gifts earned points.")).to_be_visible()
    expect(page.locator("#past-gifts-summary")).to_contain_text("there is nothing to award")
    with app.app_context():
        assert loyalty.balance(donor_id) == 300
