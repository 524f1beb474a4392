"""The back-office home says when each figure was calculated, and fundraisers can recalculate them."""
import re

from portal.extensions import db
from portal.insights import services
from tests.conftest import make_donor, make_gift


def test_every_tile_says_when_it_was_calculated_and_fundraisers_can_recalculate(app, staff_client):
    fundraiser = staff_client("fundraiser")
    html = fundraiser.get("/staff/").get_data(as_text=True)
    assert html.count('class="as-of"') == len(re.findall(r'<div class="stat">', html))
    assert "Calculated " in html and "As of " in html
    assert "Recalculate now" in html
    with app.app_context():
        donor = make_donor(email="ann@example.org")
        make_gift(donor.id, 2500)
        db.session.commit()
    response = fundraiser.post("/staff/insights/home/refresh")
    assert response.status_code == 303 and response.headers["Location"].endswith("/staff/")
    with app.app_context():
        snapshot = services.find_snapshot(services.REPORTS["headline"], services.headline_params())
        assert snapshot.status == "done"


def test_support_staff_see_the_times_but_cannot_recalculate(staff_client):
    support = staff_client("support")
    html = support.get("/staff/").get_data(as_text=True)
    assert "Recalculate now" not in html and "As of " in html
    assert support.post("/staff/insights/home/refresh").status_code == 403
