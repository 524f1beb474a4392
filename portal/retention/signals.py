"""The risk score's signals and the levels an admin sets: weights, threshold, windows and check-ins."""
from __future__ import annotations

from dataclasses import dataclass

from portal.audit import services as audit
from portal.extensions import db
from portal.retention.models import RiskSettings
from portal.settings.services import settings_row


BOUNCE_DAYS = 180
RENEWING_PLAN_KINDS = ("sponsorship", "membership")  # a recurring gift's "renewal" is just its next payment
NOT_CONTACT = ("email_sent",)  # mail we send is not the donor being in touch with us


class RetentionError(ValueError):
    def __init__(self, message: str, field_name: str | None = None):
        super().__init__(message)
        self.field_name = field_name


@dataclass(frozen=True)
class Signal:
    label: str
    weight_help: str


SIGNALS: dict[str, Signal] = {
    "giving_down": Signal("Giving down", "Full weight when nothing was given in the last 12 months after giving in the 12 before; "
                                         "in proportion to the drop otherwise"),
    "plan_ended": Signal("Regular giving ended", "A recurring gift, sponsorship or membership was cancelled or lapsed in the last 12 months"),
    "plan_paused": Signal("Regular giving paused", "A recurring gift, sponsorship or membership is paused"),
    "renewal_no_contact": Signal("Renewal with no contact", "A sponsorship or membership renews soon and nobody has been in touch recently"),
    "negative_feedback": Signal("Negative feedback", "The latest CSAT or NPS rating in 12 months was low, or they gave a reason when cancelling"),
    "ticket_trouble": Signal("Support ticket trouble", "An open ticket is unanswered past its first-response time, or was reopened"),
    "no_contact": Signal("No recent contact", "No touchpoint (other than email we sent) for the set number of days"),
    "email_bouncing": Signal("Email bouncing", f"An email to them failed in the last {BOUNCE_DAYS} days"),
    "unsubscribed": Signal("Unsubscribed", "They unsubscribed from email"),
}


def settings() -> RiskSettings:
    return settings_row(RiskSettings)


SETTING_RANGES = {
    "threshold": (1, 100), "no_contact_days": (7, 1095), "renewal_window_days": (1, 180), "recent_contact_days": (7, 365),
    "alert_task_hours": (1, 720), "check_in_renewal_days": (0, 180), "check_in_anniversary_days": (0, 60),
    "major_donor_minor": (0, 10**12), "major_check_in_months": (0, 24),
    **{f"w_{key}": (0, 100) for key in SIGNALS},
}
TEAMS = {"fundraiser": "Fundraisers", "support": "Support specialists"}


def update_settings(values: dict, *, actor=None) -> RiskSettings:
    """Validate everything first, then save everything: nothing is half-saved."""
    for name, (low, high) in SETTING_RANGES.items():
        value = values.get(name)
        if not isinstance(value, int) or not low <= value <= high:
            raise RetentionError(f"Enter a whole number from {low:,} to {high:,}.", name)
    for name in ("alert_team", "check_in_team"):
        if values.get(name) not in TEAMS:
            raise RetentionError("Choose a team.", name)
    if values.get("check_in_action") not in ("task", "email", "both"):
        raise RetentionError("Choose what a check-in does.", "check_in_action")
    row = settings()
    names = (*SETTING_RANGES, "alert_team", "check_in_team", "check_in_action")
    before = audit.snapshot(row, names)
    for name in names:
        setattr(row, name, values[name])
    audit.record_settings_change("Risk scores and check-ins", before, row, actor=actor)
    db.session.commit()
    return row
