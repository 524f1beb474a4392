"""Signed-in staff clients for these tests. Staff addresses use example.org: email-validator 2.x refuses
the special-use .test domain at the login form."""
import os

from tests.conftest import login, make_user


def signed_in(app, role: str, name: str | None = None):
    with app.app_context():
        user = make_user(role, f"{role}-{os.urandom(3).hex()}@staff.example.org", name=name)
        email, user_id = user.email, user.id
    client = app.test_client()
    response = login(client, email)
    assert response.status_code == 303, response.data[:300]
    client.user_id = user_id
    return client
