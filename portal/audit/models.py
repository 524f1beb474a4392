from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, event
from sqlalchemy.orm import Mapped, Session, mapped_column

from portal.extensions import db
from portal.timeutil import utcnow


class AuditEvent(db.Model):
    """One staff action (or a security event such as a failed sign-in). Rows are only ever added.

    Who and which donor are kept as plain ids and labels, not foreign keys: the trail must outlive the
    user or donor it names (an erased donor's request stays on record without their data). The app never
    updates or deletes a row (the listeners below refuse it), except `purge_read_log()` for read events."""

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


class AppendOnlyError(RuntimeError):
    """Something tried to change or remove an audit event."""


@event.listens_for(AuditEvent, "before_update")
@event.listens_for(AuditEvent, "before_delete")
def _refuse_changes(_mapper, _connection, target: AuditEvent) -> None:
    raise AppendOnlyError(f"audit event {target.id} cannot be changed or deleted")


@event.listens_for(Session, "do_orm_execute")
def _refuse_bulk_changes(state) -> None:
    """UPDATE and DELETE statements on the trail are refused too, except the read log's retention purge."""
    if (state.is_update or state.is_delete) and state.bind_mapper is not None \
            and state.bind_mapper.class_ is AuditEvent and not state.execution_options.get("audit_read_log_purge"):
        raise AppendOnlyError("audit events cannot be changed or deleted")
