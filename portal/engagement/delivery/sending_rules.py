"""The sending rules admins can change: the marketing frequency cap and open/click tracking."""
from __future__ import annotations

from portal.audit import services as audit
from portal.engagement.models import EngagementSettings
from portal.extensions import db
from portal.settings.services import SettingsError, settings_row


def current() -> EngagementSettings:
    return settings_row(EngagementSettings)


def for_editing() -> EngagementSettings:
    """The row the sending-rules form shows, created with its defaults and committed on first use."""
    row = current()
    db.session.commit()
    return row


def update(*, marketing_weekly_cap: int, track_opens: bool, track_clicks: bool, actor=None) -> EngagementSettings:
    """Commits; a SettingsError names the field at fault and rolls the transaction back."""
    if not 1 <= marketing_weekly_cap <= 50:
        db.session.rollback()
        raise SettingsError("Choose between 1 and 50 marketing emails a week.", "marketing_weekly_cap")
    row = current()
    before = audit.snapshot(row, ("marketing_weekly_cap", "track_opens", "track_clicks"))
    row.marketing_weekly_cap, row.track_opens, row.track_clicks = marketing_weekly_cap, track_opens, track_clicks
    audit.record_settings_change("Sending rules", before, row, actor=actor)
    db.session.commit()
    return row
