"""Every route of the app, from `app.url_map`, made into concrete URLs for the sweeps."""
from __future__ import annotations

import re

from werkzeug.routing import AnyConverter, IntegerConverter, Rule

ARGUMENT = re.compile(r"<(?:[^:<>]+:)?(\w+)>")

# Query parameters the pages read as numbers or ids; a sweep sends each one oversized at once.
NUMERIC_QUERY_ARGS = ("page", "q", "year", "donor", "donor_id", "template_id", "segment_id", "preview_donor_id",
                      "survey", "segment", "days", "assignee", "tag", "status", "step", "scope", "start", "end")


def rules(app) -> list[Rule]:
    return sorted((rule for rule in app.url_map.iter_rules() if rule.endpoint != "static"), key=lambda rule: rule.rule)


def state_changing_methods(rule: Rule) -> list[str]:
    return sorted(rule.methods - {"GET", "HEAD", "OPTIONS"})


def url_for_rule(rule: Rule, number: str, text: str = "x") -> str:
    """The rule's path with every integer part set to `number` and every other part to a value it accepts."""

    def fill(match: re.Match) -> str:
        converter = rule._converters[match.group(1)]
        if isinstance(converter, IntegerConverter):
            return number
        if isinstance(converter, AnyConverter):
            return sorted(converter.items)[0]
        return text

    return ARGUMENT.sub(fill, rule.rule)


def has_integer_part(rule: Rule) -> bool:
    return any(isinstance(converter, IntegerConverter) for converter in rule._converters.values())


ROLES = ("anonymous", "donor", "support", "fundraiser", "admin")


def client_for(app, role: str):
    """A test client for the role: signed out, a donor with a donor record, or a new staff user."""
    from tests.conftest import login, make_donor, make_user, signed_in

    if role == "anonymous":
        return app.test_client()
    if role != "donor":
        return signed_in(app, role)
    with app.app_context():
        donor = make_donor(first_name="Sweep", last_name="Donor", email="sweep.donor@example.org")
        make_user("donor", "sweep.donor@example.org", donor_id=donor.id, name="Sweep")
    client = app.test_client()
    assert login(client, "sweep.donor@example.org").status_code == 303
    return client


def ends_the_session(rule: Rule) -> bool:
    """Signing out in the middle of a sweep would make every later request an anonymous one."""
    return rule.endpoint in ("auth.logout", "account.end_session", "settings.end_user_sessions")
