"""Private responses are never kept by a shared cache: signed-in pages, token pages and exports say no-store."""
from datetime import timedelta

import pytest

from portal.timeutil import utcnow
from portal.tokens import unsubscribe_url
from tests.conftest import login, make_donor, make_gift, make_user


@pytest.fixture
def donor_client(app):
    with app.app_context():
        donor = make_donor(first_name="Amelia", last_name="Clarke", email="amelia@example.org")
        make_user("donor", "amelia@example.org", donor_id=donor.id, name="Amelia")
        gift = make_gift(donor.id, 2500, utcnow() - timedelta(days=3))
        ids = {"donor": donor.id, "gift": gift.id, "year": gift.received_at.year}
    client = app.test_client()
    assert login(client, "amelia@example.org").status_code == 303
    return client, ids


def test_donor_portal_pages_receipts_and_statements_are_no_store(donor_client):
    client, ids = donor_client
    for url in ("/me/", "/me/giving", f"/me/giving/{ids['gift']}/receipt", f"/me/giving/statement/{ids['year']}",
                "/me/details", "/me/points"):
        first, again = client.get(url), client.get(url)  # the second answer may come from the page store
        assert (first.status_code, again.status_code) == (200, 200), url
        assert first.headers["Cache-Control"] == again.headers["Cache-Control"] == "no-store", url


def test_staff_pages_and_every_export_are_no_store(staff_client):
    client = staff_client("admin")
    for url in ("/staff/", "/staff/donors/", "/staff/donors/export.csv", "/staff/admin/organisation",
                "/staff/insights/satisfaction/comments.csv"):
        response = client.get(url)
        assert response.status_code == 200, url
        response.get_data()
        assert response.headers["Cache-Control"] == "no-store", url


def test_token_pages_and_the_sign_in_form_are_no_store(app, client):
    with app.app_context():
        donor = make_donor(first_name="Bea", email="bea@example.org")
        link = unsubscribe_url(donor.id, "newsletter")
    path = link.split("://", 1)[1].split("/", 1)[1]
    for url in ("/" + path, "/login", "/password/reset/not-a-token"):
        response = client.get(url)
        assert response.status_code in (200, 400, 404), url
        assert response.headers["Cache-Control"] == "no-store", url


def test_static_files_keep_their_own_caching(client):
    response = client.get("/static/css/app.css")
    assert response.status_code == 200
    assert "no-store" not in response.headers.get("Cache-Control", "")
    response.close()
