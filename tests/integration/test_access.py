"""Every staff route refuses anonymous visitors and donor users; roles limit what staff can change;
CSRF protects every state change; sign-in is rate-limited."""
import re

import pytest

from portal.extensions import limiter
from tests.conftest import PASSWORD, login, make_donor, make_user


def staff_urls(app):
    """Every /staff URL rule with its methods, ids filled in with 1."""
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/staff"):
            url = re.sub(r"<any\(([^,)]+)[^>]*>", r"\1", rule.rule)
            url = re.sub(r"<(?:int:)?[^>]+>", "1", url)
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                yield method, url


def test_there_are_staff_routes_to_check(app):
    assert len(list(staff_urls(app))) >= 15


def test_anonymous_visitors_are_sent_to_sign_in(app, client):
    for method, url in staff_urls(app):
        response = client.post(url) if method == "POST" else client.open(url, method=method)
        assert response.status_code == 302, (method, url, response.status_code)
        assert response.headers["Location"].startswith("/login?next="), (method, url)


def test_donor_users_get_403_everywhere_in_staff(app, client):
    with app.app_context():
        donor = make_donor(email="donor@example.org")
        make_user("donor", "donor@example.org", donor_id=donor.id)
    assert login(client, "donor@example.org").status_code == 303
    for method, url in staff_urls(app):
        response = client.post(url) if method == "POST" else client.open(url, method=method)
        assert response.status_code == 403, (method, url, response.status_code)
        assert b"have access to this page" in response.data


@pytest.mark.parametrize("role,url,expected", [
    ("support", "/staff/donors/new", 403),
    ("support", "/staff/admin/users", 403),
    ("fundraiser", "/staff/admin/organisation", 403),
    ("fundraiser", "/staff/donors/new", 200),
    ("support", "/staff/donors/", 200),
    ("admin", "/staff/admin/users", 200),
])
def test_role_matrix(staff_client, role, url, expected):
    assert staff_client(role).get(url).status_code == expected


def test_support_cannot_record_a_gift_but_can_log_an_interaction(app, staff_client):
    with app.app_context():
        donor_id = make_donor().id
    support = staff_client("support")
    assert support.post(f"/staff/donors/{donor_id}/gifts", data={"amount": "10", "received_on": "2026-01-01"}).status_code == 403
    response = support.post(f"/staff/donors/{donor_id}/interactions", data={"kind": "inquiry", "summary": "Asked about receipts"})
    assert response.status_code == 303


def test_csrf_is_enforced_for_forms_and_htmx(app, staff_client):
    with app.app_context():
        donor_id = make_donor().id
    client = staff_client("fundraiser")
    data = {"kind": "note", "summary": "No token"}
    assert client.post(f"/staff/donors/{donor_id}/interactions", data=data, csrf=False).status_code == 400
    htmx = client.post(f"/staff/donors/{donor_id}/interactions", data=data, csrf=False, headers={"HX-Request": "true"})
    assert htmx.status_code == 400
    assert client.post("/logout", csrf=False).status_code == 400
    assert client.post(f"/staff/donors/{donor_id}/interactions", data=data).status_code == 303


def test_password_reset_requests_are_rate_limited(app, client):
    # Sign-in has its own throttle on failed attempts (tests/security/test_sign_in_throttle.py).
    from portal.config import Config

    app.config["LOGIN_RATE_LIMIT"] = Config.LOGIN_RATE_LIMIT
    limiter.reset()
    try:
        codes = [client.post("/password/forgot", data={"email": "boss@example.org"}).status_code for _ in range(11)]
    finally:
        app.config["LOGIN_RATE_LIMIT"] = "1000 per minute"
        limiter.reset()
    assert codes[:10] == [200] * 10
    assert codes[10] == 429


def test_wrong_password_and_inactive_user_are_refused_with_a_message(app, client):
    with app.app_context():
        user = make_user("fundraiser", "f@example.org")
        from portal.extensions import db

        user.active = False
        db.session.commit()
    response = client.post("/login", data={"email": "f@example.org", "password": PASSWORD})
    assert response.status_code == 400 and b"don&#39;t match an active account" in response.data


def test_next_parameter_cannot_redirect_off_site(app, client):
    with app.app_context():
        make_user("admin", "a@example.org")
    response = client.post("/login?next=//evil.example/", data={"email": "a@example.org", "password": PASSWORD})
    assert response.headers["Location"] == "/staff/"
