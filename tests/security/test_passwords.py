"""Passwords follow NIST SP 800-63B: long enough, and never one of the common passwords shipped with the app."""
import pytest
from sqlalchemy import select

from portal.auth.models import User
from portal.auth.passwords import common_passwords, password_problem
from portal.extensions import db
from tests.conftest import PASSWORD, login, make_user

COMMON = "This is one of the most common passwords"


def test_the_shipped_list_holds_at_least_the_10000_most_common_passwords():
    listed = common_passwords()
    assert len(listed) >= 10_000
    assert {"123456", "password", "qwerty", "iloveyou", "1234567890", "password12", "qwertyuiop"} <= listed


@pytest.mark.parametrize("password", ["password12", "1234567890", "PASSWORD12", "qwertyuiop", "iloveyou12"])
def test_common_passwords_are_refused_whatever_their_case(password):
    assert password_problem(password).startswith(COMMON)


@pytest.mark.parametrize("password, message", [
    ("short", "Use at least 10 characters."),
    ("x" * 257, "Use at most 256 characters."),
    ("aaaaaaaaaaaa", "This password repeats the same few characters."),
    ("1212121212", "This password repeats the same few characters."),
    ("ada@example.org", "Your password cannot be your email address."),
])
def test_length_repetition_and_the_email_address(password, message):
    assert password_problem(password, "ada@example.org").startswith(message)


@pytest.mark.parametrize("password", ["harbour-demo-2026", PASSWORD, "a long harbour walk", "correct horse battery staple",
                                      "ünïcödé pässwörd", "abcd" * 64])
def test_the_demo_and_ordinary_passphrases_are_accepted(password):
    assert password_problem(password, "ada@example.org") is None


def test_an_admin_cannot_give_a_staff_user_a_common_password(app, staff_client):
    admin = staff_client("admin")
    response = admin.post("/staff/admin/users", data={"name": "Sam", "email": "sam@example.org", "role": "support",
                                                      "password": "password12"})
    assert response.status_code == 400 and COMMON in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(User).where(User.email == "sam@example.org")) is None


def test_a_refused_new_password_keeps_the_other_changes_unsaved(app, staff_client):
    admin = staff_client("admin")
    with app.app_context():
        fay_id = make_user("fundraiser", "fay@example.org", name="Fay").id
    response = admin.post(f"/staff/admin/users/{fay_id}", data={"name": "Fay Jones", "role": "support", "active": "y",
                                                               "password": "1234567890"})
    assert response.status_code == 400 and COMMON in response.get_data(as_text=True)
    with app.app_context():
        fay = db.session.get(User, fay_id)
        assert (fay.name, fay.role) == ("Fay", "fundraiser")


def test_a_reset_to_a_common_password_is_refused_with_the_reason(app, client):
    from portal.auth.services import _password_fingerprint
    from portal.tokens import make_token

    with app.app_context():
        user = make_user("donor", "amelia@example.org")
        token = make_token("password_reset", {"u": user.id, "f": _password_fingerprint(user)})
    response = client.post(f"/password/reset/{token}", data={"password": "1234567890", "confirm": "1234567890"})
    assert response.status_code == 400 and COMMON in response.get_data(as_text=True)
    assert login(client, "amelia@example.org").status_code == 303
