"""Donor home and giving history are served from the page store until something they show changes."""
import re
from datetime import timedelta

import pytest
from sqlalchemy import text

from portal.donors.models import Donor
from portal.donors.services import update_donor
from portal.extensions import db, login_manager
from portal.feedback.models import Survey, SurveyInvitation
from portal.giving import services as giving
from portal.kb.models import Article, ArticleSuggestion, SuggestionState
from portal.loyalty import services as loyalty
from portal.selfservice import cache, views
from portal.settings.services import update_organisation
from portal.support import services as support
from portal.timeutil import utcnow
from tests.conftest import login, make_donor, make_gift, make_user


@pytest.fixture
def amelia(app):
    with app.app_context():
        donor = make_donor(first_name="Amelia", last_name="Clarke", email="amelia@example.org")
        make_user("donor", "amelia@example.org", donor_id=donor.id, name="Amelia")
        make_gift(donor.id, 2500, utcnow() - timedelta(days=20), fund="Lifeboat crews")
        donor_id = donor.id
    client = app.test_client()
    assert login(client, "amelia@example.org").status_code == 303
    page(client)  # the first visit creates the settings rows with their defaults
    return client, donor_id


def page(client, path="/me") -> str:
    response = client.get(path)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def without_csrf_token(html: str) -> str:
    """The page with its CSRF token taken out: the token is signed with the time, so it differs by the second."""
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    return html.replace(token, "")


def refuse(monkeypatch):
    """After this, rendering the pages afresh fails: only a stored page can answer."""
    def fail(*_args, **_kwargs):
        raise AssertionError("rendered afresh")
    monkeypatch.setattr(views.giving, "gifts_for", fail)


def test_a_second_visit_is_served_from_the_store(app, amelia, monkeypatch):
    client, _ = amelia
    first = page(client)
    assert "£25.00" in first and len(app.extensions["me_page_store"]) == 1
    refuse(monkeypatch)
    assert without_csrf_token(page(client)) == without_csrf_token(first)


def test_the_store_is_per_donor_and_per_address(app, amelia):
    client, amelia_id = amelia
    with app.app_context():
        bea = make_donor(first_name="Bea", last_name="Other", email="bea@example.org")
        make_user("donor", "bea@example.org", donor_id=bea.id, name="Bea")
        make_gift(bea.id, 9900, utcnow() - timedelta(days=400))
    other = app.test_client()
    login(other, "bea@example.org")
    assert "Hello, Amelia" in page(client) and "Hello, Bea" in page(other) and "Hello, Amelia" in page(client)
    this_year, last_year = utcnow().year, utcnow().year - 1
    assert "£25.00" in page(client, f"/me/giving?year={this_year}") or "£25.00" in page(client, f"/me/giving?year={last_year}")
    assert "£99.00" in page(other, "/me/giving") and "£99.00" not in page(client, "/me/giving")


def csrf_token(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_a_stored_page_carries_this_sessions_csrf_token(app, amelia):
    client, _ = amelia
    first_token = csrf_token(page(client))
    assert csrf_token(page(client)) == first_token  # the session it was stored for gets its token back
    second = app.test_client()
    login(second, "amelia@example.org")
    token = csrf_token(page(second))
    assert token != first_token
    assert second.post("/logout", data={"csrf_token": first_token}, csrf=False).status_code == 400
    assert second.post("/logout", data={"csrf_token": token}, csrf=False).status_code in (302, 303)


def test_a_flash_message_is_shown_once_and_never_stored(app, amelia):
    client, _ = amelia
    page(client)
    with client.session_transaction() as session:
        session["_flashes"] = [("success", "Your details are saved.")]
    assert "Your details are saved." in page(client)
    assert "Your details are saved." not in page(client)


@pytest.mark.parametrize("change, shown", [
    (lambda d: giving.add_gift(d, giving.GiftInput(amount_minor=4000, received_at=utcnow(), currency="GBP")), "£65.00"),
    (lambda d: update_donor(db.session.get(Donor, d), {"first_name": "Millie"}), "Hello, Millie"),
    (lambda d: update_organisation(name="Harbour Trust", currency="GBP", timezone="Europe/London",
                                   support_email="care@harbourtrust.example", impact_line="Every gift launches a boat."),
     "Every gift launches a boat."),
    (lambda d: support.open_ticket(d, "Where is my receipt?", "Please resend it"), "Where is my receipt?"),
])
def test_what_the_donor_does_or_staff_change_shows_at_once(app, amelia, change, shown):
    client, donor_id = amelia
    assert shown not in page(client)
    with app.app_context():
        change(donor_id)
        db.session.commit()
    assert shown in page(client)


def test_points_awarded_by_a_worker_show_at_once(app, amelia):
    client, donor_id = amelia
    with app.app_context():
        before = loyalty.points_summary(donor_id).balance
    assert f"<span>{before:,}</span> points" in page(client)
    with app.app_context():
        loyalty.award_points(donor_id, 777, reason="Thank you", source_key=f"test:{donor_id}")
        db.session.commit()
    assert f"<span>{before + 777:,}</span> points" in page(client)


def test_a_regular_gift_paused_by_staff_shows_at_once(app, amelia):
    client, donor_id = amelia
    with app.app_context():
        plan = giving.start_plan(donor_id, giving.PlanInput(kind="recurring_gift", amount_minor=1500, currency="GBP",
                                                            interval="monthly", started_at=utcnow().date()))
        plan_id = plan.id
    assert "is paused" not in page(client)
    with app.app_context():
        giving.change_plan_status(giving.plans_for(donor_id)[0], "pause", reason="Moving house")
    assert plan_id and "is paused" in page(client)


def test_a_ticket_status_set_by_staff_shows_at_once(app, amelia):
    client, donor_id = amelia
    with app.app_context():
        ticket = support.open_ticket(donor_id, "Change of address", "I moved")
        db.session.commit()
        ticket_id = ticket.id
    assert "We replied" not in page(client)
    with app.app_context():
        support.get_ticket(ticket_id).status = "waiting"
        db.session.commit()
    assert "We replied" in page(client)


def test_a_survey_sent_by_a_worker_shows_at_once(app, amelia):
    client, donor_id = amelia
    assert "How did we do?" not in page(client)
    with app.app_context():
        survey = Survey(kind="csat", name="After a gift", title="How did we do?", active=True)
        db.session.add(survey)
        db.session.flush()
        db.session.add(SurveyInvitation(survey_id=survey.id, donor_id=donor_id, source_key="test", status="sent", sent_at=utcnow()))
        db.session.commit()
    assert "How did we do?" in page(client)


def test_suggestions_computed_by_a_worker_show_at_once(app, amelia):
    client, donor_id = amelia
    with app.app_context():
        article = Article(slug="receipts", title="Receipts explained", body_md="Receipts.", body_html="<p>Receipts.</p>",
                          audience="donor", published=True)
        db.session.add(article)
        db.session.commit()
        article_id = article.id
    assert "Receipts explained" not in page(client)
    with app.app_context():
        db.session.add(ArticleSuggestion(donor_id=donor_id, article_id=article_id, rank=1, reason="because you gave"))
        db.session.merge(SuggestionState(donor_id=donor_id, computed_at=utcnow()))
        db.session.commit()
    assert "Receipts explained" in page(client)


def test_a_deleted_donor_is_never_served_a_stored_page(app, amelia):
    client, donor_id = amelia
    page(client)
    with app.app_context():
        db.session.execute(text("DELETE FROM users WHERE donor_id = :d"), {"d": donor_id})
        db.session.commit()
        assert cache.fingerprint(donor_id) is not None
        db.session.delete(db.session.get(Donor, donor_id))
        db.session.commit()
        assert cache.fingerprint(donor_id) is None
    assert client.get("/me").status_code in (302, 404)


def stored(mark, text: str) -> cache.StoredPage:
    return cache.StoredPage(mark, [text.encode()], "text/html", None, None)


def test_the_store_keeps_the_most_recently_used_pages():
    store = cache.PageStore(2)
    store.put(("a",), stored((1,), "A"))
    store.put(("b",), stored((1,), "B"))
    assert store.get(("a",), (1,)).chunks == [b"A"]
    store.put(("c",), stored((1,), "C"))
    assert store.get(("b",), (1,)) is None and store.get(("a",), (1,)) is not None and len(store) == 2
    assert store.get(("a",), (2,)) is None, "a different fingerprint never matches"


def refuse_loading_accounts(monkeypatch):
    """After this, a request that loads the signed-in account through Flask-Login fails."""
    def fail(_user_id):
        raise AssertionError("account loaded")
    monkeypatch.setattr(login_manager, "_user_callback", fail)


def test_a_stored_page_is_answered_without_loading_the_account(app, amelia, monkeypatch):
    client, _ = amelia
    first = page(client)
    refuse(monkeypatch)
    refuse_loading_accounts(monkeypatch)
    assert without_csrf_token(page(client)) == without_csrf_token(first)


def update_account(app, assignment: str, **values) -> None:
    """Change Amelia's account row directly, as another process would."""
    with app.app_context():
        db.session.execute(text(f"UPDATE users SET {assignment} WHERE email = 'amelia@example.org'"), values)
        db.session.commit()


def test_a_deactivated_account_is_never_served_its_stored_page(app, amelia):
    client, _ = amelia
    page(client)
    update_account(app, "active = :no", no=False)
    response = client.get("/me")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_an_account_no_longer_a_donor_is_never_served_a_stored_page(app, amelia):
    client, _ = amelia
    page(client)
    update_account(app, "role = 'support'")
    assert client.get("/me").status_code == 403


def test_strong_session_protection_ends_a_session_from_another_browser(app, amelia):
    client, _ = amelia
    page(client)
    app.config["SESSION_PROTECTION"] = "strong"
    try:
        response = client.get("/me", headers={"User-Agent": "another browser"})
    finally:
        app.config.pop("SESSION_PROTECTION")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_a_session_seen_from_another_browser_is_no_longer_fresh(app, amelia):
    client, _ = amelia
    page(client)
    with client.session_transaction() as session:
        assert session["_fresh"] is True
    assert client.get("/me", headers={"User-Agent": "another browser"}).status_code == 200
    with client.session_transaction() as session:
        assert session["_fresh"] is False
