from __future__ import annotations

from typing import TypeVar
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


SettingsRow = TypeVar("SettingsRow")


def settings_row(model: type[SettingsRow], *, commit: bool = False) -> SettingsRow:
    """The one row of a settings table, created with its defaults on first use; cached for the request."""
    cache_name = f"settings_row_{model.__tablename__}"
    if has_request_context() and cache_name in g:
        return g.get(cache_name)
    row = db.session.scalar(select(model).limit(1))
    if row is None:
        row = model()
        db.session.add(row)
        if commit:
            db.session.commit()
        else:
            db.session.flush()
    if has_request_context():
        setattr(g, cache_name, row)
    return row


def organisation() -> Organisation:
    # Committed at once: every page reads it, and a GET's transaction is otherwise rolled back.
    return settings_row(Organisation, commit=True)


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


def set_retention_years(years: int | None) -> Organisation:
    """The retention period in years (None: off); the privacy domain checks and audits it. No commit."""
    if years is not None and not 1 <= years <= 100:
        raise SettingsError("Enter a number of years from 1 to 100.", "retention_years")
    org = organisation()
    org.retention_years = years
    return org
