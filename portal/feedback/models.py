from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.timeutil import utcnow

SURVEY_KINDS = {"csat": "Satisfaction (CSAT, 1–5)", "nps": "Net Promoter Score (NPS, 0–10)", "custom": "Custom questions"}
QUESTION_KINDS = {"scale": "Rating scale", "choice": "Multiple choice", "text": "Free text"}


class Survey(db.Model):
    __tablename__ = "surveys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))  # for staff
    kind: Mapped[str] = mapped_column(String(10), default="nps")
    title: Mapped[str] = mapped_column(String(200))  # what the donor sees
    intro: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(default=False)
    # When it is sent (each one opt-in, all subject to the per-donor cap).
    on_gift: Mapped[bool] = mapped_column(default=False)
    on_ticket_closed: Mapped[bool] = mapped_column(default=False)
    on_plan_end: Mapped[bool] = mapped_column(default=False)
    delay_days: Mapped[int] = mapped_column(default=0)
    periodic_months: Mapped[int] = mapped_column(default=0)  # 0: not sent periodically
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    questions = relationship("SurveyQuestion", order_by="SurveyQuestion.position", back_populates="survey",
                             cascade="all, delete-orphan")

    @property
    def kind_label(self) -> str:
        return SURVEY_KINDS.get(self.kind, self.kind)

    @property
    def score_question(self) -> "SurveyQuestion | None":
        return next((q for q in self.questions if q.is_score), None)


class SurveyQuestion(db.Model):
    __tablename__ = "survey_questions"

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(default=0)
    kind: Mapped[str] = mapped_column(String(10), default="text")
    prompt: Mapped[str] = mapped_column(String(300))
    required: Mapped[bool] = mapped_column(default=False)
    options: Mapped[list | None] = mapped_column(db.JSON)  # choice questions
    scale_min: Mapped[int] = mapped_column(default=1)
    scale_max: Mapped[int] = mapped_column(default=5)
    low_label: Mapped[str] = mapped_column(String(60), default="")
    high_label: Mapped[str] = mapped_column(String(60), default="")
    # The CSAT or NPS rating itself: fixed scale, required, cannot be removed.
    is_score: Mapped[bool] = mapped_column(default=False)

    survey = relationship(Survey, back_populates="questions")


class SurveyInvitation(db.Model):
    """One donor asked to answer one survey, for one reason (source_key), answered at most once."""

    __tablename__ = "survey_invitations"
    __table_args__ = (
        UniqueConstraint("survey_id", "donor_id", "source_key", name="uq_survey_invitations_reason"),
        Index("ix_survey_invitations_donor_created", "donor_id", "created_at"),
        Index("ix_survey_invitations_due", "status", "send_after"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"))
    donor_id: Mapped[int] = mapped_column(ForeignKey("donors.id", ondelete="CASCADE"))
    source_key: Mapped[str] = mapped_column(String(80))  # e.g. gift:12, ticket:4, plan_end:9, periodic:2026-01
    status: Mapped[str] = mapped_column(String(12), default="scheduled")  # scheduled | sent | answered | cancelled
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    send_after: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]

    survey = relationship(Survey)
    donor = relationship("Donor")
    response = relationship("SurveyResponse", uselist=False, back_populates="invitation")


class SurveyResponse(db.Model):
    __tablename__ = "survey_responses"
    __table_args__ = (Index("ix_survey_responses_donor_created", "donor_id", "created_at"),
                      Index("ix_survey_responses_survey_created", "survey_id", "created_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    # Unique: the database itself refuses a second answer to the same invitation.
    invitation_id: Mapped[int] = mapped_column(ForeignKey("survey_invitations.id", ondelete="CASCADE"), unique=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"))
    donor_id: Mapped[int] = mapped_column(ForeignKey("donors.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(10))  # the survey's kind when answered
    score: Mapped[int | None]  # the CSAT or NPS rating
    low: Mapped[bool] = mapped_column(default=False)  # at or below the threshold when answered
    answers: Mapped[list] = mapped_column(db.JSON)  # [{"question_id", "prompt", "kind", "value"}]
    # A free-text question was answered: reports count and page comments without reading every answers document.
    has_comment: Mapped[bool] = mapped_column(default=False)
    channel: Mapped[str] = mapped_column(String(10), default="link")  # link | portal
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    invitation = relationship(SurveyInvitation, back_populates="response")
    survey = relationship(Survey)
    donor = relationship("Donor")


class FeedbackSettings(db.Model):
    """What counts as a low score, how quickly someone follows up, and how often a donor may be asked."""

    __tablename__ = "feedback_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    csat_low_max: Mapped[int] = mapped_column(default=2)
    nps_low_max: Mapped[int] = mapped_column(default=6)
    follow_up_hours: Mapped[int] = mapped_column(default=48)
    follow_up_team: Mapped[str] = mapped_column(String(20), default="support")
    cap_surveys: Mapped[int] = mapped_column(default=1)
    cap_days: Mapped[int] = mapped_column(default=90)
