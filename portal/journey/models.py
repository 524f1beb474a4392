from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db
from portal.timeutil import utcnow


class Touchpoint(db.Model):
    """One thing a donor did or had done to them. The event log the rest of the app reads."""

    __tablename__ = "touchpoints"
    __table_args__ = (
        Index("ix_touchpoints_donor_time", "donor_id", "occurred_at", "id"),
        Index("ix_touchpoints_kind_time", "kind", "occurred_at"),
        Index("ix_touchpoints_unprocessed", "processed_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    donor_id: Mapped[int] = mapped_column(ForeignKey("donors.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    channel: Mapped[str] = mapped_column(String(20), default="")
    summary: Mapped[str] = mapped_column(String(300), default="")
    data: Mapped[dict | None] = mapped_column(db.JSON)
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor_label: Mapped[str] = mapped_column(String(120), default="")
    # Set when the automation sweep has handed this touchpoint to every reactor.
    processed_at: Mapped[datetime | None]
