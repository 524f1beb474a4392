from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db
from portal.timeutil import utcnow


class AuditEvent(db.Model):
    """One staff action (or a security event such as a failed sign-in). Rows are only ever added.

    Who and which donor are kept as plain ids and labels, not foreign keys: the trail must outlive the
    user or donor it names (an erased donor's request stays on record without their data)."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_time", "occurred_at"),
        Index("ix_audit_events_action_time", "action", "occurred_at"),
        Index("ix_audit_events_actor_time", "actor_user_id", "occurred_at"),
        Index("ix_audit_events_donor_time", "donor_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    action: Mapped[str] = mapped_column(String(60))
    actor_user_id: Mapped[int | None]
    actor_label: Mapped[str] = mapped_column(String(254), default="")
    donor_id: Mapped[int | None]
    summary: Mapped[str] = mapped_column(String(300), default="")
    detail: Mapped[dict | None] = mapped_column(db.JSON)
    ip_address: Mapped[str] = mapped_column(String(45), default="")
