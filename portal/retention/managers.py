"""Relationship managers: the staff member who looks after a donor, one donor or many at a time."""
from __future__ import annotations

from sqlalchemy import delete

from portal import bulk_insert as bulk
from portal.auth.models import User
from portal.extensions import db
from portal.retention.models import RelationshipManager
from portal.retention.signals import RetentionError
from portal.timeutil import utcnow


def manager_of(donor_id: int):
    row = db.session.get(RelationshipManager, donor_id)
    return row.user if row is not None and row.user.active else None


def set_manager(donor_id: int, user_id: int | None) -> None:
    row = db.session.get(RelationshipManager, donor_id)
    if user_id is None:
        if row is not None:
            db.session.delete(row)
        db.session.commit()
        return
    user = db.session.get(User, user_id)
    if user is None or not user.is_staff or not user.active:
        raise RetentionError("Choose an active staff member.", "user_id")
    if row is None:
        db.session.add(RelationshipManager(donor_id=donor_id, user_id=user.id))
    else:
        row.user_id, row.assigned_at = user.id, utcnow()
    db.session.commit()


def set_manager_many(donor_ids: list[int], user_id: int) -> int:
    """Give many donors the same relationship manager (no commit): two statements per chunk."""
    user = db.session.get(User, user_id)
    if user is None or not user.is_staff or not user.active:
        raise RetentionError("Choose an active staff member.", "user_id")
    now = utcnow()
    for start in range(0, len(donor_ids), 5000):
        chunk = donor_ids[start:start + 5000]
        db.session.execute(delete(RelationshipManager).where(RelationshipManager.donor_id.in_(chunk)))
        bulk.insert_rows(RelationshipManager, [{"donor_id": donor_id, "user_id": user.id, "assigned_at": now} for donor_id in chunk])
    return len(donor_ids)
