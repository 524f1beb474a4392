"""Headers a production deployment sends: HSTS, a CSP that also pins form targets and <base>, a
Permissions-Policy, and a remember-me cookie that is SameSite=Lax and lasts 30 days unless configured."""
import re
from datetime import timedelta
from email.utils import parsedate_to_datetime

import pytest

from portal import create_app
from portal.config import TestConfig
from portal.extensions import db
from portal.timeutil import utcnow
from tests.conftest import PASSWORD, make_user


@pytest.fixture
def another_app(app):
    """Returns a function **config -> a second app on the same database; its connections closed afterwards."""
    made = []

    def _make(**overrides):
        config = type("HeadersConfig", (TestConfig,), {"SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
                                                         "KB_INDEX_DIR": app.config["KB_INDEX_DIR"], **overrides})
        made.append(create_app(config))
        return made[-1]

    yield _make
    for other in made:
        with other.app_context():
            db.session.remove()
            db.engine.dispose()


def test_hsts_only_in_production(app, another_app):
    assert "Strict-Transport-Security" not in app.test_client().get("/login").headers
    production = another_app(ENV_NAME="production")
    headers = production.test_client().get("/login", base_url="https://portal.example").headers
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


def test_csp_pins_form_targets_and_base_and_permissions_policy_denies_features(client):
    headers = client.get("/login").headers
    directives = dict(part.strip().split(" ", 1) for part in headers["Content-Security-Policy"].split(";"))
    assert directives["form-action"] == "'self'" and directives["base-uri"] == "'none'"
    assert directives["script-src"] == "'self'" and directives["frame-ancestors"] == "'none'"
    policy = dict(item.strip().split("=", 1) for item in headers["Permissions-Policy"].split(","))
    assert {policy[feature] for feature in ("camera", "microphone", "geolocation", "payment")} == {"()"}


def _remember_cookie(test_app, email):
    client = test_app.test_client()
    response = client.post("/login", data={"email": email, "password": PASSWORD, "remember": "y"})
    assert response.status_code == 303
    return next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("remember_token="))


def _lifetime(cookie: str) -> timedelta:
    expires = parsedate_to_datetime(re.search(r"Expires=([^;]+)", cookie).group(1))
    return expires.replace(tzinfo=None) - utcnow()


def test_remember_cookie_is_lax_and_lasts_30_days_by_default(app, another_app):
    with app.app_context():
        make_user("fundraiser", "keep@example.org")
    cookie = _remember_cookie(another_app(WTF_CSRF_ENABLED=False), "keep@example.org")
    assert "SameSite=Lax" in cookie and "HttpOnly" in cookie
    assert timedelta(days=29, hours=23) < _lifetime(cookie) <= timedelta(days=30)


def test_remember_cookie_lifetime_is_configurable(app, another_app):
    with app.app_context():
        make_user("fundraiser", "short@example.org")
    cookie = _remember_cookie(another_app(WTF_CSRF_ENABLED=False, REMEMBER_COOKIE_DURATION=timedelta(days=7)), "short@example.org")
    assert timedelta(days=6, hours=23) < _lifetime(cookie) <= timedelta(days=7)
