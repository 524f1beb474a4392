"""The sending rules admins can change: the marketing frequency cap and open/click tracking."""
from __future__ import annotations

from flask import g, has_request_context
from sqlalchemy import select

from portal.engagement.models import EngagementSettings
from portal.extensions import db


class SettingsError(ValueError):
    def __init__(self, message: str, field_name: str):
        super().__init__(message)
        self.field_name = field_name


def current() -> EngagementSettings:
    """The settings row, created with defaults on first use; cached for the request."""
    if has_request_context() and "engagement_settings" in g:
        return g.engagement_settings
    row = db.session.scalar(select(EngagementSettings).limit(1))
    if row is None:
        row = EngagementSettings()
        db.session.add(row)
        db.session.flush()
    if has_request_context():
        g.engagement_settings = row
    return row


def update(*, marketing_weekly_cap: int, track_opens: bool, track_clicks: bool) -> EngagementSettings:
    if not 1 <= marketing_weekly_cap <= 50:
        raise SettingsError("Choose between 1 and 50 marketing emails a week.", "marketing_weekly_cap")
    row = current()
    row.marketing_weekly_cap, row.track_opens, row.track_clicks = marketing_weekly_cap, track_opens, track_clicks
    db.session.commit()
    return row
