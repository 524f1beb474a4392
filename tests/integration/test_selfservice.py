"""Every /me route through the test client, scoped to the signed-in donor (other donors' ids give 404)."""
import re
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from portal.donors.models import Donor
from portal.extensions import db
from portal.giving import services as giving
from portal.giving.models import Gift, RecurringPlan
from portal.journey.models import Touchpoint
from portal.loyalty import services as loyalty
from portal.support import services as support
from portal.support.models import Ticket, TicketMessage
from portal.timeutil import utcnow
from portal.tokens import unsubscribe_url
from tests.conftest import login, make_donor, make_gift, make_user


@pytest.fixture
def donor_client(app):
    """Returns a function (first_name, email) -> (client, donor_id) signed in as that donor."""

    def _make(first_name="Amelia", email="amelia@example.org", **values):
        with app.app_context():
            donor = make_donor(first_name=first_name, last_name="Clarke", email=email, **values)
            make_user("donor", email, donor_id=donor.id, name=first_name)
            donor_id = donor.id
        client = app.test_client()
        assert login(client, email).status_code == 303
        return client, donor_id

    return _make


@pytest.fixture
def two_donors(app, donor_client):
    """Donor A signed in, and donor B's gift, plan and ticket ids to probe with."""
    client, a_id = donor_client()
    with app.app_context():
        make_gift(a_id, 2500, utcnow() - timedelta(days=20), fund="Lifeboat crews")
        b = make_donor(first_name="Bea", last_name="Other", email="bea@example.org")
        gift = make_gift(b.id, 9900, datetime(2025, 3, 1, 12))
        plan = giving.start_plan(b.id, giving.PlanInput(kind="recurring_gift", amount_minor=1000, currency="GBP",
                                                       interval="monthly", started_at=utcnow().date()))
        ticket = support.open_ticket(b.id, "Bea's private question", "Hello")
        ids = {"gift": gift.id, "plan": plan.id, "ticket": ticket.id, "b": b.id}
    return client, a_id, ids


def test_me_requires_a_donor_login(app, client):
    assert client.get("/me").status_code == 302
    assert "/login" in client.get("/me").headers["Location"]
    with app.app_context():
        make_user("fundraiser", "tom@harbour.example.org")
    login(client, "tom@harbour.example.org")
    assert client.get("/me").status_code == 403


def test_home_greets_the_donor_with_totals_points_and_renewal(app, donor_client):
    client, donor_id = donor_client()
    with app.app_context():
        make_gift(donor_id, 12000, utcnow() - timedelta(days=10))
        giving.start_plan(donor_id, giving.PlanInput(kind="sponsorship", amount_minor=1500, currency="GBP", interval="monthly",
                                                    started_at=utcnow().date(), description="Sponsoring the Whitby crew"))
        support.open_ticket(donor_id, "Where is my receipt?", "Please resend it")
    page = client.get("/me").get_data(as_text=True)
    assert "Hello, Amelia" in page
    assert "£120.00" in page
    assert "170</span> points" in page  # 120 + first-gift bonus 50
    assert "80 more points to reach <strong>Supporter</strong>" in page
    assert "Sponsoring the Whitby crew" in page and "renews" in page
    assert "Where is my receipt?" in page


def test_giving_history_filters_by_year_and_renders_a_fragment_for_htmx(app, donor_client):
    client, donor_id = donor_client()
    with app.app_context():
        make_gift(donor_id, 1000, datetime(2024, 5, 1, 12), fund="Clean water")
        make_gift(donor_id, 2000, datetime(2025, 5, 1, 12), fund="Flood relief")
    page = client.get("/me/giving").get_data(as_text=True)
    assert "Clean water" in page and "Flood relief" in page and "Annual statements" in page
    fragment = client.get("/me/giving?year=2025", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "Flood relief" in fragment and "Clean water" not in fragment
    assert "<html" not in fragment and "In 2025 you gave <strong>£20.00</strong>" in fragment


def test_receipt_and_statement_print_with_the_organisation_name(app, two_donors):
    client, donor_id, _ = two_donors
    with app.app_context():
        gift_id = db.session.scalar(select(Gift.id).where(Gift.donor_id == donor_id))
        year = db.session.get(Gift, gift_id).received_at.year
    receipt = client.get(f"/me/giving/{gift_id}/receipt").get_data(as_text=True)
    assert "Harbour Trust" in receipt and f"R-{gift_id:06d}" in receipt and "£25.00" in receipt
    statement = client.get(f"/me/giving/statement/{year}").get_data(as_text=True)
    assert f"Annual giving statement {year}" in statement and "Total for" in statement and "£25.00" in statement


def test_pledged_gift_has_no_receipt(app, donor_client):
    client, donor_id = donor_client()
    with app.app_context():
        pledge_id = make_gift(donor_id, 1000, utcnow(), status="pledged").id
    assert client.get(f"/me/giving/{pledge_id}/receipt").status_code == 404


def test_other_donors_ids_give_404_everywhere(two_donors):
    client, _, ids = two_donors
    assert client.get(f"/me/giving/{ids['gift']}/receipt").status_code == 404
    assert client.get("/me/giving/statement/2025").status_code == 404  # only donor B gave in 2025
    assert client.get(f"/me/support/{ids['ticket']}").status_code == 404
    assert client.post(f"/me/support/{ids['ticket']}", data={"body": "hi"}).status_code == 404
    assert client.post(f"/me/regular-giving/{ids['plan']}/amount", data={"amount": "5"}).status_code == 404
    assert client.post(f"/me/regular-giving/{ids['plan']}/pause").status_code == 404
    assert client.get(f"/me/regular-giving/{ids['plan']}/cancel").status_code == 404
    assert client.post(f"/me/regular-giving/{ids['plan']}/cancel", data={"reason": "x"}).status_code == 404


def test_other_donors_records_are_left_untouched_by_those_requests(app, two_donors):
    client, _, ids = two_donors
    client.post(f"/me/regular-giving/{ids['plan']}/cancel", data={"reason": "x"})
    client.post(f"/me/support/{ids['ticket']}", data={"body": "hi"})
    with app.app_context():
        assert db.session.get(RecurringPlan, ids["plan"]).status == "active"
        assert len(db.session.get(Ticket, ids["ticket"]).messages) == 1


def test_give_again_records_a_pledge_that_earns_nothing_yet(app, donor_client):
    client, donor_id = donor_client()
    assert client.post("/me/giving/give", data={"amount": "abc", "fund": "General fund"}).status_code == 400
    response = client.post("/me/giving/give", data={"amount": "30", "fund": "General fund"})
    assert response.status_code == 200 and "Thank you, Amelia" in response.get_data(as_text=True)
    with app.app_context():
        gift = db.session.scalar(select(Gift).where(Gift.donor_id == donor_id))
        assert (gift.status, gift.amount_minor) == ("pledged", 3000)
        assert loyalty.balance(donor_id) == 0


def test_changing_pausing_resuming_and_cancelling_a_recurring_gift(app, donor_client):
    client, donor_id = donor_client()
    with app.app_context():
        plan_id = giving.start_plan(donor_id, giving.PlanInput(kind="recurring_gift", amount_minor=1000, currency="GBP",
                                                              interval="monthly", started_at=utcnow().date())).id
    bad = client.post(f"/me/regular-giving/{plan_id}/amount", data={"amount": "-4"})
    assert bad.status_code == 400 and "more than zero" in bad.get_data(as_text=True)
    assert client.post(f"/me/regular-giving/{plan_id}/amount", data={"amount": "15"}).status_code == 303
    assert client.post(f"/me/regular-giving/{plan_id}/pause").status_code == 303
    assert client.post(f"/me/regular-giving/{plan_id}/resume").status_code == 303
    confirm = client.get(f"/me/regular-giving/{plan_id}/cancel").get_data(as_text=True)
    assert "Cancel your recurring gift?" in confirm and "pause" in confirm
    assert client.post(f"/me/regular-giving/{plan_id}/cancel", data={"reason": "Money is tight"}).status_code == 303
    with app.app_context():
        plan = db.session.get(RecurringPlan, plan_id)
        assert (plan.status, plan.amount_minor) == ("cancelled", 1500)
        kinds = db.session.scalars(select(Touchpoint.kind).where(Touchpoint.donor_id == donor_id, Touchpoint.channel == "portal")
                                   .order_by(Touchpoint.id)).all()
        assert [k for k in kinds if k.startswith("plan_")] == ["plan_amount_changed", "plan_paused", "plan_resumed", "plan_cancelled"]
        cancelled = db.session.scalar(select(Touchpoint).where(Touchpoint.kind == "plan_cancelled"))
        assert cancelled.data["reason"] == "Money is tight"


def test_profile_saves_details_birthday_and_causes(app, donor_client):
    client, donor_id = donor_client()
    assert client.get("/me/details").status_code == 200
    bad = client.post("/me/details", data={"first_name": "Amelia", "last_name": "Clarke", "birthday": "2999-01-01",
                                           "preferred_channel": "email"})
    assert bad.status_code == 400 and "be in the future" in bad.get_data(as_text=True)
    response = client.post("/me/details", data={"first_name": "Amy", "last_name": "Clarke", "phone": "07700 900123",
                                                "birthday": "1986-05-14", "preferred_channel": "phone",
                                                "interests": ["lifeboats", "water"]})
    assert response.status_code == 303
    with app.app_context():
        donor = db.session.get(Donor, donor_id)
        assert (donor.first_name, donor.phone, donor.preferred_channel, str(donor.birthday)) == ("Amy", "07700 900123", "phone", "1986-05-14")
        assert [t.name for t in donor.interests] == ["lifeboats", "water"]


def test_preference_centre_saves_topics_and_global_consent(app, donor_client):
    client, donor_id = donor_client()
    page = client.get("/me/details/email-preferences").get_data(as_text=True)
    assert "Impact stories" in page and "receipts" in page
    assert client.post("/me/details/email-preferences", data={"marketing": "y", "topics": ["news", "events"]}).status_code == 303
    with app.app_context():
        from portal.donors import preferences

        donor = db.session.get(Donor, donor_id)
        assert donor.can_receive_marketing and donor.marketing_consent_source == "preference centre"
        assert preferences.opted_out_topics(donor_id) == {"appeals", "impact"}


def test_state_changes_need_the_csrf_token(donor_client):
    client, _ = donor_client()
    assert client.post("/me/giving/give", data={"amount": "30", "fund": "General fund"}, csrf=False).status_code == 400


def test_points_page_and_redeeming_with_confirmation(app, donor_client):
    client, donor_id = donor_client()
    with app.app_context():
        make_gift(donor_id, 10000, utcnow() - timedelta(days=3), fund="Lifeboat crews")
        reward = loyalty.save_reward(None, name="Harbour open day tickets", description="Two tickets", kind="event_ticket",
                                     points_cost=100, stock=5, donation_minor=None, funds="", active=True)
        reward_id = reward.id
    page = client.get("/me/points").get_data(as_text=True)
    assert "150</span> points" in page and "Your gift to Lifeboat crews" in page and "Harbour open day tickets" in page
    confirm = client.get(f"/me/points/rewards/{reward_id}", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "Redeem Harbour open day tickets?" in confirm and "<strong>50</strong> left" in confirm and "<html" not in confirm
    wallet = client.post(f"/me/points/rewards/{reward_id}", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert 'id="wallet"' in wallet and '<span id="points-balance">50</span>' in wallet and "Thank you!" in wallet
    refused = client.post(f"/me/points/rewards/{reward_id}")
    assert refused.status_code == 400 and "You need 100 points for this reward and you have 50." in refused.get_data(as_text=True)
    with app.app_context():
        assert loyalty.balance(donor_id) == 50
    assert client.get("/me/points/rewards/999").status_code == 404


def test_support_pages_hide_internal_notes(app, donor_client):
    client, donor_id = donor_client()
    form = client.get("/me/support/new").get_data(as_text=True)
    assert 'id="subject"' in form and 'id="ticket-suggestions"' in form
    assert client.post("/me/support/new", data={"subject": "", "body": ""}).status_code == 400
    response = client.post("/me/support/new", data={"subject": "Gift Aid question", "body": "Can I add Gift Aid?"})
    assert response.status_code == 303
    with app.app_context():
        ticket = db.session.scalar(select(Ticket).where(Ticket.donor_id == donor_id))
        db.session.add_all([TicketMessage(ticket=ticket, body="Check the declaration first", internal=True),
                            TicketMessage(ticket=ticket, body="Yes, we can add it for you.")])
        ticket.status = "waiting"
        db.session.commit()
        ticket_id = ticket.id
    thread = client.get(f"/me/support/{ticket_id}").get_data(as_text=True)
    assert "Can I add Gift Aid?" in thread and "Yes, we can add it for you." in thread
    assert "Check the declaration first" not in thread
    assert client.post(f"/me/support/{ticket_id}", data={"body": "Thank you!"}).status_code == 303
    listing = client.get("/me/support").get_data(as_text=True)
    assert "Gift Aid question" in listing and "Open" in listing


def test_one_click_unsubscribe_confirms_on_get_and_unsubscribes_on_post(app, client):
    with app.app_context():
        donor = make_donor(email="ada@example.org", marketing_opt_in=True)
        url = unsubscribe_url(donor.id, "appeals").replace("http://127.0.0.1:5000", "")
        donor_id = donor.id
    page = client.get(url)
    assert page.status_code == 200 and "Stop sending <strong>appeals</strong> emails" in page.get_data(as_text=True)
    with app.app_context():
        from portal.donors import preferences

        assert preferences.can_email(db.session.get(Donor, donor_id), "appeals")
    done = client.post(url, data={"List-Unsubscribe": "One-Click"}, csrf=False)
    assert done.status_code == 200 and "You're unsubscribed" in done.get_data(as_text=True)
    with app.app_context():
        donor = db.session.get(Donor, donor_id)
        assert not preferences.can_email(donor, "appeals") and preferences.can_email(donor, "news")
    assert "already unsubscribed" in client.get(url).get_data(as_text=True)


def test_global_unsubscribe_link_withdraws_marketing_consent(app, client):
    with app.app_context():
        donor = make_donor(email="ada@example.org", marketing_opt_in=True)
        url = unsubscribe_url(donor.id).replace("http://127.0.0.1:5000", "")
        donor_id = donor.id
    assert client.post(url, csrf=False).status_code == 200
    with app.app_context():
        donor = db.session.get(Donor, donor_id)
        assert not donor.marketing_opt_in and donor.marketing_consent_source == "unsubscribe link"


def test_tampered_unsubscribe_link_gives_a_clear_page(app, client):
    with app.app_context():
        donor = make_donor(email="ada@example.org", marketing_opt_in=True)
        url = unsubscribe_url(donor.id).replace("http://127.0.0.1:5000", "")
    response = client.post(re.sub(r".$", "x", url) + "x", csrf=False)
    assert response.status_code == 400 and "This link can't be used" in response.get_data(as_text=True)
    assert client.get("/unsubscribe/nonsense").status_code == 400


def test_the_portal_navigation_starts_at_home_whichever_domain_registers_first(app, donor_client):
    client, _ = donor_client()
    nav = client.get("/me").get_data(as_text=True).split('aria-label="Your account"', 1)[1].split("</nav>", 1)[0]
    labels = re.findall(r">([^<>]+)</a>", nav)
    assert labels == ["Home", "My giving", "Regular giving", "Points &amp; rewards", "Support", "Surveys", "My details", "Help"]
