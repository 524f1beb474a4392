"""Every route in app.url_map, for every kind of visitor: who may reach it, CSRF on every state change, and
no private response that a shared cache may keep. Built from the URL map, so a new route is swept at once."""
import pytest

from tests.security.routes import (ROLES, client_for, ends_the_session, rules, state_changing_methods, url_for_rule)

STAFF_ROLES = ("support", "fundraiser", "admin")
# Reached without signing in on purpose: signing in, public help, links carrying their own signed token, and the
# health checks a load balancer calls.
PUBLIC_PREFIXES = ("/login", "/logout", "/signup", "/invitation/", "/password/", "/help", "/survey/", "/unsubscribe/", "/t/",
                   "/data-export/", "/healthz", "/readyz")


def _area(path: str) -> str:
    if path.startswith("/staff"):
        return "staff"
    if path.startswith("/me"):
        return "me"
    if path.startswith(PUBLIC_PREFIXES) or path == "/":
        return "public"
    raise AssertionError(f"{path} is in no known area: decide who may reach it and add it here")


def _allowed(app, rule, role: str) -> bool:
    area = _area(rule.rule)
    if area == "public":
        return True
    if area == "me":
        return role == "donor"
    if role not in STAFF_ROLES:
        return False
    required = getattr(app.view_functions[rule.endpoint], "required_roles", None)
    return required is None or role == "admin" or role in required


def _sweep(app, role):
    client = client_for(app, role)
    for rule in rules(app):
        if ends_the_session(rule):
            continue
        url = url_for_rule(rule, "1")
        for method in (["GET"] if "GET" in rule.methods else []) + state_changing_methods(rule):
            # Staff and donor forms carry a CSRF token (CSRFClient adds it): this sweep is about roles.
            response = client.post(url) if method == "POST" else client.open(url, method=method)
            response.get_data()
            yield rule, method, url, response


@pytest.mark.parametrize("role", ROLES)
def test_every_route_lets_in_exactly_the_roles_it_should(app, role):
    wrong = {}
    for rule, method, url, response in _sweep(app, role):
        status = response.status_code
        if rule.rule == "/readyz" and status == 503 and response.is_json:
            continue  # "not ready" is its answer while a dependency (here the unbuilt search index) is missing
        if status >= 500:
            wrong[f"{method} {url}"] = status
        elif not _allowed(app, rule, role):
            expected = ("redirect to sign-in" if role == "anonymous" else 403)
            refused = (status in (302, 303) and "/login" in response.headers.get("Location", "")) if role == "anonymous" \
                else status == 403
            if not refused:
                wrong[f"{method} {url}"] = f"{status}, expected {expected}"
        elif status == 403 or (_area(rule.rule) != "public" and status in (302, 303)
                               and "/login" in response.headers.get("Location", "")):
            wrong[f"{method} {url}"] = f"{status}: refused a role that may use it"
    assert wrong == {}


@pytest.mark.parametrize("role", ROLES)
def test_no_rendered_response_may_be_kept_by_a_shared_cache(app, role):
    cacheable = {f"{method} {url}": response.headers.get("Cache-Control")
                 for _rule, method, url, response in _sweep(app, role)
                 if "no-store" not in response.headers.get("Cache-Control", "")}
    assert cacheable == {}


# One-click unsubscribe (RFC 8058) is posted by the mail client without a page, so it carries no CSRF token:
# its signed, single-purpose token is the proof instead.
CSRF_EXEMPT = {"unsubscribe.unsubscribe"}


@pytest.mark.parametrize("role", ROLES)
def test_every_state_change_without_a_csrf_token_is_refused(app, role):
    client = client_for(app, role)
    accepted = {}
    checked = 0
    for rule in rules(app):
        if rule.endpoint in CSRF_EXEMPT:
            continue
        for method in state_changing_methods(rule):
            url = url_for_rule(rule, "1")
            response = client.open(url, method=method, data={"name": "x"})
            checked += 1
            if response.status_code != 400 or "This form has expired" not in response.get_data(as_text=True):
                accepted[f"{method} {url}"] = response.status_code
    assert checked > 80
    assert accepted == {}
