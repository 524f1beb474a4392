from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.timeutil import utcnow

MESSAGE_STATUSES = {"pending": "Waiting to send", "sending": "Sending", "sent": "Sent", "stored": "Stored (no mail server)",
                    "failed": "Failed", "skipped": "Skipped"}
CATEGORIES = {"transactional": "Transactional", "marketing": "Marketing"}


class EmailMessage(db.Model):
    """The outbox. A row is written in the transaction that decides to send; delivery happens later."""

    __tablename__ = "email_messages"
    __table_args__ = (
        Index("ix_email_messages_due", "status", "next_attempt_at"),
        Index("ix_email_messages_donor", "donor_id", "created_at"),
        Index("ix_email_messages_bulk", "bulk_send_id", "status"),
        # Counts of what went out recently (the back-office home, the engagement report) read a range of it.
        Index("ix_email_messages_sent", "sent_at", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    donor_id: Mapped[int | None] = mapped_column(ForeignKey("donors.id", ondelete="SET NULL"))
    to_email: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    text_body: Mapped[str] = mapped_column(Text)
    html_body: Mapped[str | None] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(20), default="transactional")  # transactional | marketing
    purpose: Mapped[str] = mapped_column(String(60), default="")  # e.g. password_reset, workflow:12
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    message_id: Mapped[str] = mapped_column(String(200), unique=True)
    headers: Mapped[dict | None] = mapped_column(db.JSON)
    # An account email's link, kept unsigned (see portal.tokens.sealed_link): the body holds only HIDDEN_LINK.
    sealed_link: Mapped[dict | None] = mapped_column(db.JSON)
    status: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    # A claim is a lease: the worker holding claim_token renews claimed_at while it works through its batch.
    claimed_at: Mapped[datetime | None]
    claim_token: Mapped[str | None] = mapped_column(String(32), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    # Bulk sends insert rows unrendered (one INSERT ... SELECT); the worker renders them just before sending.
    bulk_send_id: Mapped[int | None] = mapped_column(ForeignKey("bulk_sends.id", ondelete="SET NULL"))
    needs_render: Mapped[bool] = mapped_column(default=False)
    opened_at: Mapped[datetime | None]
    clicked_at: Mapped[datetime | None]

    @property
    def status_label(self) -> str:
        return MESSAGE_STATUSES.get(self.status, self.status)


class EmailTemplate(db.Model):
    """A staff-editable email: subject, HTML and text bodies written in sandboxed Jinja."""

    __tablename__ = "email_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str | None] = mapped_column(String(60), unique=True)  # shipped defaults keep their key
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(String(300), default="")
    category: Mapped[str] = mapped_column(String(20), default="marketing")
    subject: Mapped[str] = mapped_column(String(300))
    html_body: Mapped[str] = mapped_column(Text, default="")
    text_body: Mapped[str] = mapped_column(Text, default="")
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Segment(db.Model):
    """A saved audience: a tree of conditions compiled to one SQL query whenever it is used."""

    __tablename__ = "segments"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str | None] = mapped_column(String(60), unique=True)  # the ready-made segments
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(String(300), default="")
    rules: Mapped[dict] = mapped_column(db.JSON)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Workflow(db.Model):
    """A trigger, an optional segment condition and ordered steps with delays."""

    __tablename__ = "workflows"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str | None] = mapped_column(String(60), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(String(300), default="")
    trigger: Mapped[str] = mapped_column(String(40))  # a key of workflows.TRIGGERS
    trigger_days: Mapped[int | None]  # N for "inactive N days", "renewal in N days", "no gift since N days"
    segment_id: Mapped[int | None] = mapped_column(ForeignKey("segments.id", ondelete="SET NULL"))
    # None: a donor may enter once per occurrence; N: and not again within N days of their last entry.
    reentry_days: Mapped[int | None]
    conversion_days: Mapped[int] = mapped_column(default=30)
    enabled: Mapped[bool] = mapped_column(default=False, index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    segment = relationship(Segment)
    steps = relationship("WorkflowStep", order_by="WorkflowStep.position", back_populates="workflow",
                         cascade="all, delete-orphan")


class WorkflowStep(db.Model):
    __tablename__ = "workflow_steps"

    id: Mapped[int] = mapped_column(primary_key=True)
    workflow_id: Mapped[int] = mapped_column(ForeignKey("workflows.id", ondelete="CASCADE"), index=True)
    position: Mapped[int]
    delay_days: Mapped[int] = mapped_column(default=0)  # after the previous step (or entry, for the first)
    kind: Mapped[str] = mapped_column(String(40))  # a key of the step registry
    config: Mapped[dict] = mapped_column(db.JSON, default=dict)

    workflow = relationship(Workflow, back_populates="steps")


class WorkflowRun(db.Model):
    """One donor's way through one occurrence of a workflow; the database is the only place it lives."""

    __tablename__ = "workflow_runs"
    __table_args__ = (
        UniqueConstraint("workflow_id", "occurrence_key", name="uq_workflow_runs_occurrence"),
        Index("ix_workflow_runs_due", "status", "next_due_at"),
        Index("ix_workflow_runs_donor", "donor_id", "entered_at"),
        Index("ix_workflow_runs_workflow", "workflow_id", "entered_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workflow_id: Mapped[int] = mapped_column(ForeignKey("workflows.id", ondelete="CASCADE"))
    donor_id: Mapped[int] = mapped_column(ForeignKey("donors.id", ondelete="CASCADE"))
    occurrence_key: Mapped[str] = mapped_column(String(120))
    touchpoint_id: Mapped[int | None] = mapped_column(ForeignKey("touchpoints.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(12), default="active")  # active | completed
    last_position: Mapped[int] = mapped_column(default=0)  # position of the last step done
    next_due_at: Mapped[datetime | None]
    entered_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None]
    last_error: Mapped[str] = mapped_column(String(300), default="")  # a step that failed and will be retried

    workflow = relationship(Workflow)
    donor = relationship("Donor")
    steps_done = relationship("WorkflowRunStep", order_by="WorkflowRunStep.executed_at", back_populates="run")


class WorkflowRunStep(db.Model):
    """What one step did for one run: the source of the per-step counts."""

    __tablename__ = "workflow_run_steps"
    __table_args__ = (UniqueConstraint("run_id", "step_id", name="uq_workflow_run_steps_once"),
                      Index("ix_workflow_run_steps_step", "step_id", "outcome"))

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("workflow_runs.id", ondelete="CASCADE"))
    step_id: Mapped[int] = mapped_column(ForeignKey("workflow_steps.id", ondelete="CASCADE"))
    executed_at: Mapped[datetime] = mapped_column(default=utcnow)
    outcome: Mapped[str] = mapped_column(String(20))  # done | emailed | skipped
    detail: Mapped[str] = mapped_column(String(300), default="")
    email_message_id: Mapped[int | None] = mapped_column(ForeignKey("email_messages.id", ondelete="SET NULL"))

    run = relationship(WorkflowRun, back_populates="steps_done")
    step = relationship(WorkflowStep)
    email = relationship(EmailMessage)


class BulkSend(db.Model):
    """One template sent to one segment. The template is copied, so later edits don't change a send in flight."""

    __tablename__ = "bulk_sends"

    id: Mapped[int] = mapped_column(primary_key=True)
    template_id: Mapped[int | None] = mapped_column(ForeignKey("email_templates.id", ondelete="SET NULL"))
    segment_id: Mapped[int | None] = mapped_column(ForeignKey("segments.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(20))
    subject: Mapped[str] = mapped_column(String(300))
    html_body: Mapped[str] = mapped_column(Text, default="")
    text_body: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(12), default="queued")  # queued | sending | done
    total: Mapped[int] = mapped_column(default=0)
    excluded: Mapped[dict | None] = mapped_column(db.JSON)  # why members were left out: {"no consent": 12, ...}
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]

    template = relationship(EmailTemplate)
    segment = relationship(Segment)
    created_by = relationship("User")


class EngagementSettings(db.Model):
    """The single row of sending rules admins can change."""

    __tablename__ = "engagement_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    marketing_weekly_cap: Mapped[int] = mapped_column(default=3)  # marketing emails per donor per 7 days
    track_opens: Mapped[bool] = mapped_column(default=False)
    track_clicks: Mapped[bool] = mapped_column(default=False)
