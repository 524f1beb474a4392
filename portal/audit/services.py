"""Write to and read the audit trail."""
from __future__ import annotations

from typing import Any

from portal.audit.models import AuditEvent
from portal.extensions import db


def record(action: str, *, actor: Any = None, actor_label: str = "", donor_id: int | None = None,
           summary: str = "", detail: dict | None = None, ip_address: str = "") -> AuditEvent:
    """Add one event to the current session, so it commits (or rolls back) with the change it records.

    `actor` is a user (anything with `id` and `email`); `actor_label` names a caller that is not one,
    such as the email address a failed sign-in tried. Never pass secrets or erased personal data."""
    event = AuditEvent(action=action, actor_user_id=getattr(actor, "id", None),
                       actor_label=actor_label or getattr(actor, "email", "") or "", donor_id=donor_id,
                       summary=summary[:300], detail=detail, ip_address=ip_address[:45])
    db.session.add(event)
    return event


def events_for(*, action: str | None = None, actor_user_id: int | None = None, donor_id: int | None = None,
               limit: int = 100) -> list[AuditEvent]:
    """The newest events first, optionally narrowed to one action, actor or donor."""
    query = db.select(AuditEvent)
    if action:
        query = query.where(AuditEvent.action == action)
    if actor_user_id is not None:
        query = query.where(AuditEvent.actor_user_id == actor_user_id)
    if donor_id is not None:
        query = query.where(AuditEvent.donor_id == donor_id)
    return list(db.session.scalars(query.order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc()).limit(limit)))
