from __future__ import annotations

from typing import TypeVar
from zoneinfo import available_timezones

from flask import g, has_request_context
from sqlalchemy import select

from portal.audit import services as audit
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
                        two_factor_required_for: str | None = None, acting_user=None,
                        financial_year_start: int | None = None) -> Organisation:
    """Save the organisation settings. Who must use two-step sign-in is a security setting: a change to it
    goes on the audit trail. `financial_year_start` is the month (1-12) the reports' years start in; None
    leaves it as it is. Commits."""
    if two_factor_required_for not in (None, "admins", "staff"):
        raise SettingsError("Choose who must use two-step sign-in.", "two_factor_required_for")
    if not name.strip():
        raise SettingsError("Enter the organisation's name.", "name")
    if currency not in CURRENCIES:
        raise SettingsError("Choose a currency from the list.", "currency")
    if timezone not in available_timezones():
        raise SettingsError("Choose a time zone from the list, such as Europe/London.", "timezone")
    if financial_year_start is not None and not 1 <= financial_year_start <= 12:
        raise SettingsError("Choose the month the financial year starts in.", "financial_year_start")
    org = organisation()
    before = audit.snapshot(org, ("name", "currency", "timezone", "support_email", "impact_line", "financial_year_start"))
    if financial_year_start is not None:
        org.financial_year_start = financial_year_start
    org.name, org.currency, org.timezone = name.strip(), currency, timezone
    org.support_email, org.impact_line = support_email.strip(), impact_line.strip()
    if two_factor_required_for is not None and two_factor_required_for != org.two_factor_required_for:
        audit.record("settings.two_factor_requirement", actor=acting_user,
                     summary=f"Two-step sign-in now required for {'all staff' if two_factor_required_for == 'staff' else 'administrators'}",
                     detail={"from": org.two_factor_required_for, "to": two_factor_required_for})
        org.two_factor_required_for = two_factor_required_for
    audit.record_settings_change("Organisation", before, org, actor=acting_user)
    db.session.commit()
    return org


def set_retention_years(years: int | None) -> Organisation:
    """The retention period in years (None: off); the privacy domain checks and audits it. No commit."""
    if years is not None and not 1 <= years <= 100:
        raise SettingsError("Enter a number of years from 1 to 100.", "retention_years")
    org = organisation()
    org.retention_years = years
    return org
