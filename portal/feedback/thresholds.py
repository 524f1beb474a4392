"""What the survey work is held to: the settings (what counts as a low score, who follows it up, how
often a donor may be asked), the scales, and the limits on links, text and batches.
"""
from __future__ import annotations

from portal import tokens
from portal.audit import services as audit
from portal.extensions import db
from portal.feedback.models import FeedbackSettings
from portal.settings.services import settings_row


LINK_DAYS = tokens.MAX_AGE["survey"] // 86400
MAX_TEXT = 2000
PERIODIC_BATCH = 500  # invitations per survey per run, so a yearly survey goes out over a few days, not in one burst
LATE_EVENT_DAYS = 30  # an event recorded this long after it happened (an import, a backdated gift) sends no survey
# A plan is marked lapsed some weeks after the renewal it missed (giving's grace period); look back far enough
# to catch that, but not so far that a first run surveys donors about plans that ended long ago.
LAPSED_LOOKBACK_DAYS = 120

SCORE_QUESTIONS = {
    "csat": dict(prompt="How satisfied are you with your experience with us?", scale_min=1, scale_max=5,
                 low_label="Very dissatisfied", high_label="Very satisfied"),
    "nps": dict(prompt="How likely are you to recommend us to a friend or colleague?", scale_min=0, scale_max=10,
                low_label="Not at all likely", high_label="Extremely likely"),
}
NPS_CATEGORIES = {"promoter": "Promoter", "passive": "Passive", "detractor": "Detractor"}


class FeedbackError(ValueError):
    def __init__(self, message: str, field_name: str | None = None, *, expired: bool = False):
        super().__init__(message)
        self.field_name = field_name
        self.expired = expired


# ---------------------------------------------------------------- settings

def settings() -> FeedbackSettings:
    return settings_row(FeedbackSettings)


FOLLOW_UP_TEAMS = {"support": "Support specialists", "fundraiser": "Fundraisers"}


def update_settings(*, csat_low_max: int, nps_low_max: int, follow_up_hours: int, follow_up_team: str,
                    cap_surveys: int, cap_days: int, actor=None) -> FeedbackSettings:
    if not 1 <= csat_low_max <= 4:
        raise FeedbackError("A low CSAT score is between 1 and 4.", "csat_low_max")
    if not 0 <= nps_low_max <= 9:
        raise FeedbackError("A low NPS score is between 0 and 9.", "nps_low_max")
    if not 1 <= follow_up_hours <= 24 * 30:
        raise FeedbackError("Enter between 1 and 720 hours.", "follow_up_hours")
    if follow_up_team not in FOLLOW_UP_TEAMS:
        raise FeedbackError("Choose a team.", "follow_up_team")
    if not 1 <= cap_surveys <= 20:
        raise FeedbackError("Enter between 1 and 20 surveys.", "cap_surveys")
    if not 1 <= cap_days <= 730:
        raise FeedbackError("Enter between 1 and 730 days.", "cap_days")
    row = settings()
    before = audit.snapshot(row, ("csat_low_max", "nps_low_max", "follow_up_hours", "follow_up_team", "cap_surveys", "cap_days"))
    row.csat_low_max, row.nps_low_max, row.follow_up_hours = csat_low_max, nps_low_max, follow_up_hours
    row.follow_up_team, row.cap_surveys, row.cap_days = follow_up_team, cap_surveys, cap_days
    audit.record_settings_change("Survey settings", before, row, actor=actor)
    db.session.commit()
    return row


def nps_category(score: int) -> str:
    return "promoter" if score >= 9 else "passive" if score >= 7 else "detractor"


def is_low(kind: str, score: int | None, levels: FeedbackSettings | None = None) -> bool:
    if score is None or kind not in SCORE_QUESTIONS:
        return False
    levels = levels or settings()
    return score <= (levels.csat_low_max if kind == "csat" else levels.nps_low_max)
