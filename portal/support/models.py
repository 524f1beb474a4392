from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.timeutil import utcnow

TICKET_STATUSES = {"new": "New", "open": "Open", "waiting": "Waiting on donor", "closed": "Closed"}
TICKET_CHANNELS = {"portal": "Donor portal", "phone": "Phone call", "email": "Email", "in_person": "In person", "staff": "Staff"}
TASK_STATUSES = {"open": "Open", "done": "Done", "cancelled": "Cancelled"}
TASK_KINDS = {"follow_up": "Follow-up", "low_score": "Low survey score", "risk": "At-risk donor", "check_in": "Check-in",
              "renewal": "Renewal"}


class Ticket(db.Model):
    __tablename__ = "tickets"
    __table_args__ = (Index("ix_tickets_status_created", "status", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    donor_id: Mapped[int] = mapped_column(ForeignKey("donors.id", ondelete="CASCADE"), index=True)
    subject: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(12), default="new")
    channel: Mapped[str] = mapped_column(String(20), default="portal")  # portal | phone | email | staff
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    first_response_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    reopened_count: Mapped[int] = mapped_column(default=0)
    # Set while the donor's latest message has no staff reply; the first-response timer runs from here.
    awaiting_reply_since: Mapped[datetime | None] = mapped_column(index=True)

    messages = relationship("TicketMessage", order_by="TicketMessage.created_at", back_populates="ticket",
                            cascade="all, delete-orphan")
    donor = relationship("Donor")
    assignee = relationship("User")


class TicketMessage(db.Model):
    __tablename__ = "ticket_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    author_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    from_donor: Mapped[bool] = mapped_column(default=False)
    internal: Mapped[bool] = mapped_column(default=False)  # staff-only note, never shown to the donor
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    ticket = relationship(Ticket, back_populates="messages")
    author = relationship("User")


class Task(db.Model):
    """A follow-up for staff: from a low survey score, a risk alert, a workflow step, or by hand."""

    __tablename__ = "tasks"
    __table_args__ = (
        Index("ix_tasks_status_due", "status", "due_at"),
        Index("ix_tasks_role_status_due", "assignee_role", "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    details: Mapped[str] = mapped_column(Text, default="")
    kind: Mapped[str] = mapped_column(String(30), default="follow_up")  # follow_up | low_score | risk | check_in | renewal
    donor_id: Mapped[int | None] = mapped_column(ForeignKey("donors.id", ondelete="CASCADE"), index=True)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    assignee_role: Mapped[str] = mapped_column(String(20), default="")  # a team, when no one person is assigned
    due_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(12), default="open")
    outcome: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(60), default="")  # e.g. survey_response:12, workflow_run:5
    dedupe_key: Mapped[str | None] = mapped_column(String(120), unique=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None]

    donor = relationship("Donor")
    assignee = relationship("User", foreign_keys=[assignee_id])
    created_by = relationship("User", foreign_keys=[created_by_id])
    comments = relationship("TaskComment", order_by="TaskComment.created_at", back_populates="task",
                            cascade="all, delete-orphan")


class TaskComment(db.Model):
    __tablename__ = "task_comments"

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    task = relationship(Task, back_populates="comments")
    author = relationship("User")


class SupportSettings(db.Model):
    """Service levels admins set: hours to the first reply and to resolution."""

    __tablename__ = "support_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    first_response_hours: Mapped[int] = mapped_column(default=24)
    resolution_hours: Mapped[int] = mapped_column(default=120)
