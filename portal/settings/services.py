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


def update_organisation(*, name: str, currency: str, timezone: str, support_email: str, impact_line: str,
                        financial_year_start: int | None = None) -> Organisation:
    """`financial_year_start` is the month (1-12) the reports' years start in; None leaves it as it is."""
    if not name.strip():
        raise SettingsError("Enter the organisation's name.", "name")
    if currency not in CURRENCIES:
        raise SettingsError("Choose a currency from the list.", "currency")
    if timezone not in available_timezones():
        raise SettingsError("Choose a time zone from the list, such as Europe/London.", "timezone")
    if financial_year_start is not None and not 1 <= financial_year_start <= 12:
        raise SettingsError("Choose the month the financial year starts in.", "financial_year_start")
    org = organisation()
    if financial_year_start is not None:
        org.financial_year_start = financial_year_start
    org.name, org.currency, org.timezone = name.strip(), currency, timezone
    org.support_email, org.impact_line = support_email.strip(), impact_line.strip()
    db.session.commit()
    return org
