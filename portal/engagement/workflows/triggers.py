"""Workflow triggers: what starts a workflow, a kind of touchpoint or a scheduled check."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class Trigger:
    key: str
    label: str
    touchpoint_kind: str | None = None  # None: a scheduled trigger
    days_label: str = ""  # set when the trigger needs N days

    @property
    def scheduled(self) -> bool:
        return self.touchpoint_kind is None

    def describe(self, days: int | None) -> str:
        return self.label.replace("…", f"{days:,}") if self.days_label else self.label


TRIGGERS: dict[str, Trigger] = {t.key: t for t in (
    Trigger("donor_created", "A supporter is added", "donor_created"),
    Trigger("gift_received", "A gift is received", "gift_received"),
    Trigger("first_gift", "A donor makes their first gift", "gift_received"),
    Trigger("plan_started", "Regular giving starts", "plan_started"),
    Trigger("plan_cancelled", "Regular giving is cancelled", "plan_cancelled"),
    Trigger("tier_changed", "Loyalty tier changes", "tier_changed"),
    Trigger("ticket_closed", "A support ticket is closed", "ticket_closed"),
    Trigger("survey_answered", "A survey is answered", "survey_answered"),
    Trigger("inactive", "No activity for … days", days_label="Days without activity"),
    Trigger("birthday", "It is the donor's birthday"),
    Trigger("renewal_due", "A sponsorship or membership renews in … days", days_label="Days before renewal"),
    Trigger("no_gift_since", "No gift for … days", days_label="Days since the last gift"),
)}


def touchpoint_kinds() -> set[str]:
    return {t.touchpoint_kind for t in TRIGGERS.values() if t.touchpoint_kind}


def renewal_occurrence(occurrence_key: str) -> tuple[int, date] | None:
    """(plan id, renewal date) of a renewal_due run's occurrence key, "renewal:<plan id>:<YYYY-MM-DD>"."""
    prefix, _, rest = occurrence_key.partition(":")
    plan_id, _, day = rest.partition(":")
    if prefix != "renewal" or not plan_id.isdigit():
        return None
    try:
        return int(plan_id), date.fromisoformat(day)
    except ValueError:
        return None
