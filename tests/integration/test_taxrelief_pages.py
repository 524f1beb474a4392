"""Gift Aid pages: the donor's own declarations at /me/gift-aid and at "Give again", staff claims and the donor
panel, receipt and statement wording, roles, CSRF and other donors' records."""
import re
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.taxrelief import claims, services
from portal.taxrelief.models import Claim, Declaration
from portal.timeutil import utcnow
from tests.conftest import login, make_donor, make_gift, make_user

HOME = {"address_line1": "12 High Street", "postcode": "SW1A 1AA", "country": "United Kingdom"}


@pytest.fixture
def gift_aid_on(app):
    with app.app_context():
        services.update_settings(scheme_key="uk_gift_aid")


def _donor_client(app, email="amelia@example.org", **values):
    with app.app_context():
        donor = make_donor(first_name="Amelia", last_name="Clarke", email=email, **{**HOME, **values})
        make_user("donor", email, donor_id=donor.id, name="Amelia")
        donor_id = donor.id
    client = app.test_client()
    assert login(client, email).status_code == 303
    return client, donor_id


def _declarations(app, donor_id):
    with app.app_context():
        return [(d.scope, d.method, d.cancelled_on is not None)
                for d in db.session.scalars(select(Declaration).where(Declaration.donor_id == donor_id))]


def test_donor_makes_sees_and_cancels_a_declaration(app, gift_aid_on):
    client, donor_id = _donor_client(app)
    page = client.get("/me/gift-aid").get_data(as_text=True)
    assert "I want to Gift Aid this donation and any donations I make in the future or have made in the past 4 years" in page
    unticked = client.post("/me/gift-aid", data={"scope": "past_and_future"})
    assert unticked.status_code == 400 and "Tick the box to confirm the declaration." in unticked.get_data(as_text=True)
    assert _declarations(app, donor_id) == []
    assert client.post("/me/gift-aid", data={"scope": "future", "confirm": "y"}).status_code == 303
    assert _declarations(app, donor_id) == [("future", "online", False)]
    page = client.get("/me/gift-aid").get_data(as_text=True)
    assert "In force" in page and "Cancel my declaration" in page
    assert "See or cancel your declaration" in client.get("/me").get_data(as_text=True)
    declaration_id = int(re.search(r"/me/gift-aid/(\d+)/cancel", page).group(1))
    assert client.post(f"/me/gift-aid/{declaration_id}/cancel").status_code == 303
    assert _declarations(app, donor_id) == [("future", "online", True)]


def test_donor_gift_aids_a_pledge_at_give_again(app, gift_aid_on):
    client, donor_id = _donor_client(app)
    assert "add Gift Aid to your gift on the next page" in client.get("/me/giving/give").get_data(as_text=True)
    thanks = client.post("/me/giving/give", data={"amount": "40", "fund": "General fund"}).get_data(as_text=True)
    assert "Gift Aid adds £10.00 to this gift at no cost to you" in thanks
    gift_id = int(re.search(r'name="gift_id" type="hidden" value="(\d+)"', thanks).group(1))
    unchosen = client.post("/me/gift-aid/gift", data={"gift_id": gift_id, "scope": ""}, follow_redirects=True)
    assert "Choose what your declaration covers." in unchosen.get_data(as_text=True)
    assert _declarations(app, donor_id) == []
    response = client.post("/me/gift-aid/gift", data={"gift_id": gift_id, "scope": "this_gift"})
    assert response.status_code == 303
    assert _declarations(app, donor_id) == [("this_gift", "online", False)]
    with app.app_context():
        assert db.session.scalar(select(Declaration.gift_id)) == gift_id


def test_donors_cannot_touch_other_donors_declarations_or_gifts(app, gift_aid_on):
    client, _ = _donor_client(app)
    with app.app_context():
        other = make_donor(first_name="Bea", last_name="Other", **HOME)
        gift = make_gift(other.id, 1000, utcnow() - timedelta(days=1))
        declaration = services.make_declaration(other.id, scope="future", method="paper")
        gift_id, declaration_id = gift.id, declaration.id
    assert client.post(f"/me/gift-aid/{declaration_id}/cancel").status_code == 404
    assert client.post("/me/gift-aid/gift", data={"gift_id": gift_id, "scope": "future"}).status_code == 404
    assert client.post("/me/gift-aid", data={"scope": "future", "confirm": "y"}, csrf=False).status_code == 400


def test_gift_aid_pages_are_off_when_the_scheme_is(app):
    client, _ = _donor_client(app)
    assert client.get("/me/gift-aid").status_code == 404
    assert "Gift Aid" not in client.get("/me").get_data(as_text=True)


def test_receipt_and_statement_wording_follow_the_scheme(app, gift_aid_on):
    client, donor_id = _donor_client(app)
    with app.app_context():
        services.make_declaration(donor_id, scope="past_and_future", method="paper", made_on=date(2026, 1, 1))
        gift = make_gift(donor_id, 4000, datetime(2026, 2, 1, 12))
        make_gift(donor_id, 2000, datetime(2026, 3, 1, 12))
        gift_id = gift.id
    receipt = client.get(f"/me/giving/{gift_id}/receipt").get_data(as_text=True)
    assert "Gift Aid adds £10.00 to your gift at no cost to you." in receipt
    statement = client.get("/me/giving/statement/2026").get_data(as_text=True)
    assert "Gift Aid adds £15.00 to your gifts at no cost to you." in statement
    with app.app_context():
        services.update_settings(scheme_key="us_irs")
        services.add_benefit(donor_id, received_on=date(2026, 2, 1), value_minor=1500, description="Gala dinner")
        db.session.commit()
    receipt = client.get(f"/me/giving/{gift_id}/receipt").get_data(as_text=True)
    assert "Gift Aid" not in receipt
    assert "you received goods or services with an estimated value of £15.00" in receipt
    with app.app_context():
        services.update_settings(scheme_key="none")
    assert "No goods or services were provided in return for this gift." in client.get(
        f"/me/giving/{gift_id}/receipt").get_data(as_text=True)


def test_staff_record_a_phone_declaration_and_see_eligibility_on_the_donor_page(app, gift_aid_on, staff_client):
    fundraiser = staff_client("fundraiser")
    with app.app_context():
        donor = make_donor(first_name="Pat", last_name="Jones", email="pat@example.org", address_line1="High Street")
        make_gift(donor.id, 2000, utcnow() - timedelta(days=2))
        donor_id = donor.id
    page = fundraiser.get(f"/staff/donors/{donor_id}").get_data(as_text=True)
    assert "No declaration" in page and "No house name or number in the first address line; No postcode" in page
    assert "No valid Gift Aid declaration covers the gift&#39;s date" in page
    bad = fundraiser.post(f"/staff/gift-aid/donors/{donor_id}/declarations",
                          data={"scope": "future", "method": "oral", "made_on": (date.today() + timedelta(days=2)).isoformat()})
    assert bad.status_code == 303 and _declarations(app, donor_id) == []
    assert fundraiser.post(f"/staff/gift-aid/donors/{donor_id}/declarations",
                           data={"scope": "past_and_future", "method": "oral", "made_on": date.today().isoformat()}
                           ).status_code == 303
    assert _declarations(app, donor_id) == [("past_and_future", "oral", False)]
    page = fundraiser.get(f"/staff/donors/{donor_id}").get_data(as_text=True)
    assert "Declaration in force" in page and "Eligible: £5.00" in page and "confirmation sent" in page


def test_staff_build_download_and_submit_a_claim(app, gift_aid_on, staff_client):
    fundraiser = staff_client("fundraiser")
    with app.app_context():
        donor = make_donor(first_name="Ann", last_name="Lee", **HOME)
        services.make_declaration(donor.id, scope="past_and_future", method="paper", made_on=date(2026, 1, 1))
        make_gift(donor.id, 8000, datetime(2026, 1, 10, 12))
    preview = fundraiser.get("/staff/gift-aid/?start=2026-01-01&end=2026-01-31").get_data(as_text=True)
    assert "£20.00" in preview and "Create the draft claim" in preview
    backwards = fundraiser.get("/staff/gift-aid/?start=2026-02-01&end=2026-01-31")
    assert backwards.status_code == 400 and "The end date must be on or after the start date." in backwards.get_data(as_text=True)
    built = fundraiser.post("/staff/gift-aid/claims", data={"start": "2026-01-01", "end": "2026-01-31"})
    assert built.status_code == 303
    claim_url = built.headers["Location"]
    page = fundraiser.get(claim_url).get_data(as_text=True)
    assert "SW1A 1AA" in page and "10/01/26" in page and "Mark as submitted to HMRC" in page
    download = fundraiser.get(claim_url + "/schedule.ods")
    assert download.mimetype == "application/vnd.oasis.opendocument.spreadsheet"
    assert download.data[:2] == b"PK"
    assert fundraiser.post(claim_url + "/submit").status_code == 303
    with app.app_context():
        assert db.session.scalar(select(Claim.status)) == "submitted"
        assert claims.claimed_tax_total() == 2000
    assert "£20" in fundraiser.get("/staff/").get_data(as_text=True)  # the home tile
    insights = fundraiser.get("/staff/insights/").get_data(as_text=True)
    section = insights[insights.index('id="insights-gift-aid-h"'):]
    assert "£20 reclaimed in all" in section and "Worked out" in section
    assert fundraiser.post(claim_url + "/delete").status_code == 303
    with app.app_context():
        assert db.session.scalar(select(Claim.status)) == "submitted"  # a submitted claim is never deleted


def test_gift_aid_staff_pages_need_the_right_role(app, gift_aid_on, staff_client):
    support = staff_client("support")
    assert support.get("/staff/gift-aid/").status_code == 403
    assert support.post("/staff/gift-aid/claims", data={"start": "2026-01-01", "end": "2026-01-31"}).status_code == 403
    assert staff_client("fundraiser").get("/staff/gift-aid/settings").status_code == 403
    admin = staff_client("admin")
    assert admin.post("/staff/gift-aid/settings", data={"scheme": "bogus"}).status_code == 400
    assert admin.post("/staff/gift-aid/settings", data={"scheme": "us_irs", "hmrc_reference": ""}).status_code == 303
    with app.app_context():
        assert services.scheme() == "us_irs"
    assert app.test_client().get("/staff/gift-aid/").status_code == 302


def test_the_gift_aid_help_articles_ship_and_the_portal_links_to_one(app, gift_aid_on):
    from portal.kb import services as kb

    client, _ = _donor_client(app)
    with app.app_context():
        kb.sync_directory(kb.default_content_dir(), queue_index=False)
    link = re.search(r'href="(/me/help/how-gift-aid-works)"', client.get("/me/gift-aid").get_data(as_text=True)).group(1)
    article = client.get(link).get_data(as_text=True)
    assert "25p for every £1 you give" in article
    cancel = client.get("/me/help/make-or-cancel-a-gift-aid-declaration").get_data(as_text=True)
    assert "You then have <strong>30 days</strong> to cancel it" in cancel
