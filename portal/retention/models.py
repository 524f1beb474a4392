from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.timeutil import utcnow

ALERT_KINDS = {"risk": "At risk", "ticket_sla": "Ticket past its service level"}
ALERT_STATUSES = {"open": "Open", "dismissed": "Dismissed", "resolved": "Resolved"}
CHECK_IN_REASONS = {"renewal": "Renewal coming up", "anniversary": "Giving anniversary", "major": "Major donor check-in"}
CHECK_IN_ACTIONS = {"task": "A task for their relationship manager", "email": "An email to the donor", "both": "Both"}


class RiskSettings(db.Model):
    """How the risk score is weighed and when it raises an alert; check-in rules. One row, edited by admins."""

    __tablename__ = "risk_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    threshold: Mapped[int] = mapped_column(default=60)
    w_giving_down: Mapped[int] = mapped_column(default=30)
    w_plan_ended: Mapped[int] = mapped_column(default=30)
    w_plan_paused: Mapped[int] = mapped_column(default=15)
    w_renewal_no_contact: Mapped[int] = mapped_column(default=15)
    w_negative_feedback: Mapped[int] = mapped_column(default=25)
    w_ticket_trouble: Mapped[int] = mapped_column(default=15)
    w_no_contact: Mapped[int] = mapped_column(default=15)
    w_email_bouncing: Mapped[int] = mapped_column(default=10)
    w_unsubscribed: Mapped[int] = mapped_column(default=10)
    no_contact_days: Mapped[int] = mapped_column(default=180)
    renewal_window_days: Mapped[int] = mapped_column(default=30)
    recent_contact_days: Mapped[int] = mapped_column(default=90)
    alert_team: Mapped[str] = mapped_column(String(20), default="fundraiser")
    alert_task_hours: Mapped[int] = mapped_column(default=72)
    check_in_renewal_days: Mapped[int] = mapped_column(default=30)  # 0: off
    check_in_anniversary_days: Mapped[int] = mapped_column(default=14)  # 0: off
    major_donor_minor: Mapped[int] = mapped_column(default=500000)
    major_check_in_months: Mapped[int] = mapped_column(default=6)  # 0: off
    check_in_action: Mapped[str] = mapped_column(String(10), default="task")
    check_in_team: Mapped[str] = mapped_column(String(20), default="fundraiser")


class RiskScore(db.Model):
    """Each donor's current score and the points each signal contributed (the reasons)."""

    __tablename__ = "risk_scores"

    donor_id: Mapped[int] = mapped_column(ForeignKey("donors.id", ondelete="CASCADE"), primary_key=True)
    score: Mapped[int] = mapped_column(default=0, index=True)
    giving_down: Mapped[int] = mapped_column(default=0)
    plan_ended: Mapped[int] = mapped_column(default=0)
    plan_paused: Mapped[int] = mapped_column(default=0)
    renewal_no_contact: Mapped[int] = mapped_column(default=0)
    negative_feedback: Mapped[int] = mapped_column(default=0)
    ticket_trouble: Mapped[int] = mapped_column(default=0)
    no_contact: Mapped[int] = mapped_column(default=0)
    email_bouncing: Mapped[int] = mapped_column(default=0)
    unsubscribed: Mapped[int] = mapped_column(default=0)
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)


class RiskHistory(db.Model):
    """A donor's score each time it changed: the trend."""

    __tablename__ = "risk_history"
    __table_args__ = (Index("ix_risk_history_donor_time", "donor_id", "computed_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    donor_id: Mapped[int] = mapped_column(ForeignKey("donors.id", ondelete="CASCADE"))
    score: Mapped[int]
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)


class Alert(db.Model):
    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_status_created", "status", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    donor_id: Mapped[int] = mapped_column(ForeignKey("donors.id", ondelete="CASCADE"), index=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    score: Mapped[int | None]
    summary: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(12), default="open")
    # A breach is alerted once, ever (dedupe_key); a donor has at most one open risk alert (open_key, cleared on close).
    dedupe_key: Mapped[str | None] = mapped_column(String(120), unique=True)
    open_key: Mapped[str | None] = mapped_column(String(60), unique=True)
    task_id: Mapped[int | None] = mapped_column(ForeignKey("tasks.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None]
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    close_reason: Mapped[str] = mapped_column(Text, default="")

    donor = relationship("Donor")
    task = relationship("Task")
    closed_by = relationship("User")

    @property
    def kind_label(self) -> str:
        return ALERT_KINDS.get(self.kind, self.kind)


class CheckIn(db.Model):
    """A scheduled reason to get in touch; the key makes each one happen once."""

    __tablename__ = "check_ins"
    __table_args__ = (Index("ix_check_ins_donor_reason", "donor_id", "reason", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    donor_id: Mapped[int] = mapped_column(ForeignKey("donors.id", ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(String(20))
    key: Mapped[str] = mapped_column(String(80), unique=True)
    due_on: Mapped[date]
    detail: Mapped[str] = mapped_column(String(200), default="")
    task_id: Mapped[int | None] = mapped_column(ForeignKey("tasks.id", ondelete="SET NULL"))
    emailed: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RelationshipManager(db.Model):
    """The staff member who looks after a donor; their check-ins go to this person."""

    __tablename__ = "relationship_managers"

    donor_id: Mapped[int] = mapped_column(ForeignKey("donors.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    assigned_at: Mapped[datetime] = mapped_column(default=utcnow)

    user = relationship("User")
