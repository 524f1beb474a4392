"""Retention's part in merging and erasing a donor (see portal.record_keepers). Risk scores and alerts
are the charity's own working notes, not the donor's data, so an access export leaves them out."""
from __future__ import annotations

from sqlalchemy import delete, update

from portal import record_keepers as records
from portal.extensions import db
from portal.retention.models import Alert, CheckIn, RelationshipManager, RiskHistory, RiskScore
from portal.retention.services import recompute_donor


def move(from_id: int, to_id: int) -> None:
    records.reassign(RiskHistory, from_id, to_id)
    records.reassign(CheckIn, from_id, to_id)
    # At most one open risk alert per donor: the merged-away donor's keeps its history but not that slot.
    db.session.execute(update(Alert).where(Alert.donor_id == from_id).values(donor_id=to_id, open_key=None))
    if db.session.get(RelationshipManager, to_id) is None:
        records.reassign(RelationshipManager, from_id, to_id)
    else:
        db.session.execute(delete(RelationshipManager).where(RelationshipManager.donor_id == from_id))
    db.session.execute(delete(RiskScore).where(RiskScore.donor_id == from_id))
    db.session.flush()
    recompute_donor(to_id)


def erase(donor_id: int) -> None:
    db.session.execute(update(Alert).where(Alert.donor_id == donor_id).values(summary="", close_reason=""))
    db.session.execute(update(CheckIn).where(CheckIn.donor_id == donor_id).values(detail=""))


def register() -> None:
    records.register("retention", move=move, erase=erase)
