from __future__ import annotations

from zoneinfo import available_timezones

from flask import g, has_request_context
from sqlalchemy import select

from portal.extensions import db
from portal.money import CURRENCIES
from portal.settings.models import Organisation


class SettingsError(ValueError):
    def __init__(self, message: str, field_name: str):
        super().__init__(message)
        self.field_name = field_name


def organisation() -> Organisation:
    """The settings row, created with defaults on first use; cached for the request."""
    if has_request_context() and "organisation" in g:
        return g.organisation
    org = db.session.scalar(select(Organisation).limit(1))
    if org is None:
        org = Organisation()
        db.session.add(org)
        db.session.commit()
    if has_request_context():
        g.organisation = org
    return org


def update_organisation(*, name: str, currency: str, timezone: str, support_email: str, impact_line: str) -> Organisation:
    if not name.strip():
        raise SettingsError("Enter the organisation's name.", "name")
    if currency not in CURRENCIES:
        raise SettingsError("Choose a currency from the list.", "currency")
    if timezone not in available_timezones():
        raise SettingsError("Choose a time zone from the list, such as Europe/London.", "timezone")
    org = organisation()
    org.name, org.currency, org.timezone = name.strip(), currency, timezone
    org.support_email, org.impact_line = support_email.strip(), impact_line.strip()
    db.session.commit()
    return org
