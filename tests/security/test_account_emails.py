"""Account emails (reset, invitation, signup) never show staff a link into someone's account.

The stored message and the mail log page carry only "link hidden"; the recipient's copy, signed as it goes to
the mail server, carries the working link."""
import re

import pytest
from sqlalchemy import select

from portal.engagement.models import EmailMessage
from portal.extensions import db
from tests.conftest import PASSWORD, login, make_donor, make_gift, make_user

LINK = re.compile(r"http://127\.0\.0\.1:5000(/(?:password/reset|invitation|signup)/\S+)")
NEW_PASSWORD = "a long harbour walk"


def last_message(app, to):
    with app.app_context():
        message = db.session.scalar(select(EmailMessage).where(EmailMessage.to_email == to).order_by(EmailMessage.id.desc()))
        db.session.expunge(message)
        return message


def assert_hidden_from_staff(app, staff_client, message):
    assert not LINK.search(message.text_body) and "link hidden: only the recipient can use it" in message.text_body
    page = staff_client("support").get(f"/staff/mail/{message.id}").get_data(as_text=True)
    assert "link hidden: only the recipient can use it" in page
    assert not re.search(r"/(password/reset|invitation|signup)/[\w.-]{20,}", page)
    assert message.subject in page  # staff still see that it was sent, and when
    assert "Queued" in page


@pytest.mark.smtp
def test_support_cannot_take_over_the_admin_through_a_reset_email(app, client, staff_client, smtp_server):
    with app.app_context():
        make_user("admin", "boss@example.org")
    assert client.post("/password/forgot", data={"email": "boss@example.org"}).status_code == 200
    message = last_message(app, "boss@example.org")
    assert message.status == "sent"
    assert_hidden_from_staff(app, staff_client, message)

    delivered = smtp_server.messages[-1].get_payload(decode=True).decode()
    link = LINK.search(delivered).group(1)
    assert link.startswith("/password/reset/")
    assert client.post(link, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}).status_code == 303
    assert login(client, "boss@example.org", NEW_PASSWORD).status_code == 303


def test_invitation_and_signup_links_are_hidden_in_the_mail_log(app, staff_client):
    fundraiser = staff_client("fundraiser")
    with app.app_context():
        invited = make_donor(first_name="Grace", email="grace@example.org").id
        signing_up = make_donor(first_name="Alan", email="alan@example.org").id
        make_gift(signing_up)
    assert fundraiser.post(f"/staff/donors/{invited}/portal-invitation").status_code == 303
    assert fundraiser.post("/signup", data={"email": "alan@example.org"}).status_code == 200
    for address, path in (("grace@example.org", "/invitation/"), ("alan@example.org", "/signup/")):
        message = last_message(app, address)
        assert_hidden_from_staff(app, staff_client, message)
        from portal.engagement.delivery.outbox import bodies_for_recipient

        with app.app_context():
            text, _html = bodies_for_recipient(message)
        assert LINK.search(text).group(1).startswith(path)


def test_a_donors_reset_email_is_hidden_too_and_the_password_is_not_changed_by_staff(app, client, staff_client):
    with app.app_context():
        donor = make_donor(first_name="Amelia", email="amelia@example.org")
        make_user("donor", "amelia@example.org", donor_id=donor.id)
    client.post("/password/forgot", data={"email": "amelia@example.org"})
    message = last_message(app, "amelia@example.org")
    assert_hidden_from_staff(app, staff_client, message)
    assert login(client, "amelia@example.org", PASSWORD).status_code == 303
