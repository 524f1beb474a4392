"""Insights' part in merging a donor: the journey milestones are derived, so the merged-away donor's row
goes and the survivor's is marked for the milestones job to rebuild from the combined history."""
from __future__ import annotations

from sqlalchemy import delete, update

from portal import record_keepers as records
from portal.extensions import db
from portal.insights.models import DonorMilestones


def move(from_id: int, to_id: int) -> None:
    db.session.execute(delete(DonorMilestones).where(DonorMilestones.donor_id == from_id))
    db.session.execute(update(DonorMilestones).where(DonorMilestones.donor_id == to_id).values(stale=True))


def register() -> None:
    records.register("insights", move=move)
