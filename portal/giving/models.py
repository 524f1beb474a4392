from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.timeutil import utcnow

GIFT_STATUSES = {"received": "Received", "pledged": "Pledged", "refunded": "Refunded"}
GIFT_METHODS = {"card": "Card", "direct_debit": "Direct debit", "bank_transfer": "Bank transfer",
                "cheque": "Cheque", "cash": "Cash", "online": "Online", "payroll": "Payroll giving", "other": "Other"}
PLAN_KINDS = {"recurring_gift": "Recurring gift", "sponsorship": "Sponsorship", "membership": "Membership"}
PLAN_INTERVALS = {"monthly": "Monthly", "quarterly": "Quarterly", "yearly": "Yearly"}
INTERVAL_MONTHS = {"monthly": 1, "quarterly": 3, "yearly": 12}
PLAN_STATUSES = {"active": "Active", "paused": "Paused", "lapsed": "Lapsed", "cancelled": "Cancelled"}


class RecurringPlan(db.Model):
    __tablename__ = "recurring_plans"
    __table_args__ = (Index("ix_recurring_plans_status_renews", "status", "renews_on"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    donor_id: Mapped[int] = mapped_column(ForeignKey("donors.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20), default="recurring_gift")
    amount_minor: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    interval: Mapped[str] = mapped_column(String(12), default="monthly")
    fund: Mapped[str] = mapped_column(String(80), default="")
    description: Mapped[str] = mapped_column(String(200), default="")  # e.g. the sponsored child or project
    started_at: Mapped[date]
    renews_on: Mapped[date | None]  # next renewal (sponsorships, memberships) or next payment
    ended_at: Mapped[date | None]
    status: Mapped[str] = mapped_column(String(12), default="active")
    end_reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    donor = relationship("Donor")

    @property
    def kind_label(self) -> str:
        return PLAN_KINDS.get(self.kind, self.kind)


class Gift(db.Model):
    __tablename__ = "gifts"
    __table_args__ = (
        Index("ix_gifts_donor_received", "donor_id", "received_at"),
        Index("ix_gifts_received_at", "received_at"),
        # A gift imported with the old system's gift id can be imported again without doubling it.
        Index("uq_gifts_source_gift", "source_system", "source_gift_id", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    donor_id: Mapped[int] = mapped_column(ForeignKey("donors.id", ondelete="CASCADE"))
    amount_minor: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    received_at: Mapped[datetime]
    fund: Mapped[str] = mapped_column(String(80), default="")
    campaign: Mapped[str] = mapped_column(String(80), default="")
    method: Mapped[str] = mapped_column(String(20), default="other")
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("recurring_plans.id", ondelete="SET NULL"), index=True)
    status: Mapped[str] = mapped_column(String(12), default="received")
    reference: Mapped[str] = mapped_column(String(80), default="")
    # Where an imported gift came from: the old system's name and its id for the gift there.
    source_system: Mapped[str | None] = mapped_column(String(80))
    source_gift_id: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    donor = relationship("Donor")
    plan = relationship(RecurringPlan)


class DonorStats(db.Model):
    """Per-donor giving rollup over received gifts, refreshed on every gift write and rebuildable."""

    __tablename__ = "donor_stats"
    # "Has an active plan" is combined with a range in the donor list's filters; a yes/no column alone is
    # no use as an index.
    __table_args__ = (
        Index("ix_donor_stats_plan_last_gift", "has_active_plan", "last_gift_at"),
        Index("ix_donor_stats_plan_lifetime", "has_active_plan", "lifetime_minor"),
        # Recency with value is the commonest segment ("gave in the last year, at least £100"): with both columns
        # and the donor id in the index, such a count never reads the table rows.
        Index("ix_donor_stats_last_gift_value", "last_gift_at", "lifetime_minor", "donor_id"),
    )

    donor_id: Mapped[int] = mapped_column(ForeignKey("donors.id", ondelete="CASCADE"), primary_key=True)
    first_gift_at: Mapped[datetime | None] = mapped_column(index=True)
    last_gift_at: Mapped[datetime | None]
    lifetime_minor: Mapped[int] = mapped_column(default=0, index=True)
    gift_count: Mapped[int] = mapped_column(default=0)
    last_12m_minor: Mapped[int] = mapped_column(default=0)
    prev_12m_minor: Mapped[int] = mapped_column(default=0)
    largest_minor: Mapped[int] = mapped_column(default=0)
    average_minor: Mapped[int] = mapped_column(default=0)
    has_active_plan: Mapped[bool] = mapped_column(default=False)
    as_of: Mapped[date | None]  # the day the 12-month windows were measured from
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
