"""Donor accounts: staff invitation, signup by the email a gift was recorded under, password reset, login touchpoint."""
import re
from datetime import timedelta

import time_machine
from sqlalchemy import select

from portal.auth.models import User
from portal.engagement.models import EmailMessage
from portal.engagement.delivery.outbox import bodies_for_recipient
from portal.extensions import db
from portal.journey.models import Touchpoint
from portal.timeutil import utcnow
from tests.conftest import PASSWORD, login, make_donor, make_gift, make_user

NEW_PASSWORD = "a long harbour walk"
CSRF_TOKEN = re.compile(r"[\w-]{20,}\.[\w-]+\.[\w-]+")


def staff(app, role="fundraiser"):
    client = app.test_client()
    with app.app_context():
        make_user(role, f"{role}@harbour.example.org")
    assert login(client, f"{role}@harbour.example.org").status_code == 303
    return client


def link_in_last_email(app, to):
    with app.app_context():
        message = db.session.scalar(select(EmailMessage).where(EmailMessage.to_email == to).order_by(EmailMessage.id.desc()))
        assert message is not None, f"no email to {to}"
        text, _html = bodies_for_recipient(message)  # the recipient's copy: the stored one hides the link
        return re.search(r"http://127\.0\.0\.1:5000(/\S+)", text).group(1)


def emails_to(app, to):
    with app.app_context():
        return db.session.scalars(select(EmailMessage.subject).where(EmailMessage.to_email == to).order_by(EmailMessage.id)).all()


def test_staff_invite_a_donor_who_sets_a_password_and_lands_on_their_page(app, client):
    fundraiser = staff(app)
    with app.app_context():
        donor_id = make_donor(first_name="Amelia", email="amelia@example.org").id
    page = fundraiser.get(f"/staff/donors/{donor_id}").get_data(as_text=True)
    assert '<button class="btn btn-secondary btn-sm" type="submit">Invite to the portal</button>' in page
    assert fundraiser.post(f"/staff/donors/{donor_id}/portal-invitation").status_code == 303
    assert emails_to(app, "amelia@example.org") == ["Your Harbour Trust supporter account"]
    link = link_in_last_email(app, "amelia@example.org")
    assert link.startswith("/invitation/")

    form = client.get(link)
    assert form.status_code == 200 and "amelia@example.org" in form.get_data(as_text=True)
    mismatch = client.post(link, data={"password": NEW_PASSWORD, "confirm": "something else"})
    assert mismatch.status_code == 400 and "match" in mismatch.get_data(as_text=True)
    done = client.post(link, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert done.status_code == 303 and done.headers["Location"] == "/me"
    assert "Hello, Amelia" in client.get("/me").get_data(as_text=True)
    with app.app_context():
        kinds = db.session.scalars(select(Touchpoint.kind).where(Touchpoint.donor_id == donor_id, Touchpoint.kind.like("portal_%"))
                                   .order_by(Touchpoint.id)).all()
        assert kinds == ["portal_invited", "portal_account_created", "portal_login"]
    again = app.test_client().get(link)
    assert again.status_code == 400 and "already have an account" in again.get_data(as_text=True)
    assert "Has an account" in fundraiser.get(f"/staff/donors/{donor_id}").get_data(as_text=True)


def test_invitation_needs_an_email_and_no_existing_account(app):
    fundraiser = staff(app)
    with app.app_context():
        no_email = make_donor().id
    fundraiser.post(f"/staff/donors/{no_email}/portal-invitation")
    with app.app_context():
        assert db.session.scalar(select(EmailMessage.id)) is None
    assert fundraiser.post("/staff/donors/999/portal-invitation").status_code == 404


def test_tampered_and_expired_invitation_links_give_a_clear_page(app, client):
    fundraiser = staff(app)
    with app.app_context():
        donor_id = make_donor(email="amelia@example.org").id
    fundraiser.post(f"/staff/donors/{donor_id}/portal-invitation")
    link = link_in_last_email(app, "amelia@example.org")
    tampered = client.get(link[:-3] + "abc")
    assert tampered.status_code == 400 and "not valid" in tampered.get_data(as_text=True)
    with time_machine.travel(utcnow() + timedelta(days=15)):
        expired = client.get(link)
    assert expired.status_code == 400 and "This link has expired" in expired.get_data(as_text=True)


def test_signup_never_reveals_whether_an_address_is_known(app, client):
    with app.app_context():
        giver_id = make_donor(first_name="Amelia", email="amelia@example.org").id
        make_gift(giver_id, 2500)
        make_donor(first_name="Nogift", email="prospect@example.org")
    pages = {}
    for email in ("amelia@example.org", "prospect@example.org", "stranger@example.org"):
        response = client.post("/signup", data={"email": email})
        assert response.status_code == 200
        # The CSRF token is signed with a timestamp, so it is the one part allowed to differ.
        pages[email] = CSRF_TOKEN.sub("TOKEN", response.get_data(as_text=True).replace(email, "EMAIL"))
    assert len(set(pages.values())) == 1
    assert emails_to(app, "prospect@example.org") == [] and emails_to(app, "stranger@example.org") == []
    link = link_in_last_email(app, "amelia@example.org")
    assert link.startswith("/signup/")
    assert client.post(link, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}).status_code == 303
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "amelia@example.org"))
        assert (user.role, user.donor_id) == ("donor", giver_id)
    assert client.post("/signup", data={"email": "amelia@example.org"}).status_code == 200
    assert emails_to(app, "amelia@example.org")[-1] == "Your Harbour Trust account"  # "you already have an account"


def test_password_reset_by_emailed_link_works_once(app, client):
    with app.app_context():
        make_user("donor", "amelia@example.org")
    assert client.post("/password/forgot", data={"email": "amelia@example.org"}).status_code == 200
    assert client.post("/password/forgot", data={"email": "nobody@example.org"}).status_code == 200
    assert emails_to(app, "nobody@example.org") == []
    link = link_in_last_email(app, "amelia@example.org")
    short = client.post(link, data={"password": "short", "confirm": "short"})
    assert short.status_code == 400
    assert client.post(link, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}).status_code == 303
    assert login(client, "amelia@example.org", NEW_PASSWORD).status_code == 303
    reused = app.test_client().get(link)
    assert reused.status_code == 400 and "already been used" in reused.get_data(as_text=True)
    assert login(app.test_client(), "amelia@example.org", PASSWORD).status_code == 400


def test_login_page_offers_reset_and_signup_and_a_donor_login_is_a_touchpoint(app, client):
    page = client.get("/login").get_data(as_text=True)
    assert "Forgot your password?" in page and "Create an account" in page
    with app.app_context():
        donor_id = make_donor(email="amelia@example.org").id
        make_user("donor", "amelia@example.org", donor_id=donor_id)
    assert login(client, "amelia@example.org").headers["Location"] == "/me"
    with app.app_context():
        assert db.session.scalar(select(Touchpoint.kind).where(Touchpoint.donor_id == donor_id,
                                                              Touchpoint.kind == "portal_login")) == "portal_login"
