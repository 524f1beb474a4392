"""Surveys' public API, as other domains, the views and the jobs call it: building them, inviting donors by
signed link, taking one answer per invitation, the follow-up a low score deserves, and reading the results.

The work lives by concept in thresholds.py (settings and limits), surveys.py (building), invitations.py
(inviting and following up) and answers.py (answering); reading the results is here.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Select, and_, case, func, or_, select

from portal.donors.models import Donor
from portal.engagement.services import StepResult
from portal.extensions import db
from portal.feedback.answers import (Submission, check_open, field_name, invitation_from_token, parse_answers,
                                     submit_response)
from portal.feedback.invitations import (after_gift, after_plan_ended, after_ticket_closed, due_invitation_count,
                                         follow_up_low_score, format_answers, invite, invite_after_lapsed_plans,
                                         invite_periodically, run_due, send_due_invitations, survey_link, survey_token)
from portal.feedback.models import Survey, SurveyInvitation, SurveyResponse
from portal.feedback.surveys import (QuestionValues, SurveyValues, add_question, all_surveys, create_survey, get_survey,
                                     move_question, remove_question, update_question, update_survey)
from portal.feedback.thresholds import (FOLLOW_UP_TEAMS, LAPSED_LOOKBACK_DAYS, LATE_EVENT_DAYS, LINK_DAYS, MAX_TEXT,
                                        NPS_CATEGORIES, PERIODIC_BATCH, SCORE_QUESTIONS, FeedbackError, is_low,
                                        nps_category, settings, update_settings)
from portal.timeutil import utcnow

__all__ = [
    "Submission", "check_open", "field_name", "invitation_from_token", "parse_answers", "submit_response",
    "after_gift", "after_plan_ended", "after_ticket_closed", "due_invitation_count", "follow_up_low_score",
    "format_answers", "invite", "invite_after_lapsed_plans", "invite_periodically", "run_due", "send_due_invitations",
    "survey_link", "survey_token",
    "QuestionValues", "SurveyValues", "add_question", "all_surveys", "create_survey", "get_survey", "move_question",
    "remove_question", "update_question", "update_survey",
    "FOLLOW_UP_TEAMS", "LAPSED_LOOKBACK_DAYS", "LATE_EVENT_DAYS", "LINK_DAYS", "MAX_TEXT", "NPS_CATEGORIES",
    "PERIODIC_BATCH", "SCORE_QUESTIONS", "FeedbackError", "is_low", "nps_category", "settings", "update_settings",
    "open_invitations", "answered_invitations", "get_invitation", "get_response", "responses_for_donor", "Results",
    "results", "recent_responses", "low_feedback_donors", "last_score_expression", "send_survey_step",
]


def open_invitations(donor_id: int, now: datetime | None = None) -> list[SurveyInvitation]:
    now = now or utcnow()
    return list(db.session.scalars(
        select(SurveyInvitation).join(Survey, Survey.id == SurveyInvitation.survey_id)
        .where(SurveyInvitation.donor_id == donor_id, SurveyInvitation.status == "sent", Survey.active.is_(True),
               or_(SurveyInvitation.expires_at.is_(None), SurveyInvitation.expires_at >= now))
        .order_by(SurveyInvitation.sent_at.desc())))


def answered_invitations(donor_id: int, limit: int = 10) -> list[SurveyInvitation]:
    return list(db.session.scalars(
        select(SurveyInvitation).where(SurveyInvitation.donor_id == donor_id, SurveyInvitation.status == "answered")
        .order_by(SurveyInvitation.answered_at.desc()).limit(limit)))


def get_invitation(invitation_id: int) -> SurveyInvitation | None:
    return db.session.get(SurveyInvitation, invitation_id)


def get_response(response_id: int) -> SurveyResponse | None:
    return db.session.get(SurveyResponse, response_id)


def responses_for_donor(donor_id: int, limit: int = 5) -> list[SurveyResponse]:
    return list(db.session.scalars(select(SurveyResponse).where(SurveyResponse.donor_id == donor_id)
                                   .order_by(SurveyResponse.created_at.desc()).limit(limit)))


@dataclass
class Results:
    invited: int
    responses: int
    low: int
    average: float | None = None
    satisfied_pct: int | None = None  # CSAT: share answering 4 or 5
    nps: int | None = None
    categories: dict[str, int] = field(default_factory=dict)
    distribution: list[tuple[int, int]] = field(default_factory=list)  # (score, count)
    questions: list[dict] = field(default_factory=list)  # custom questions: per-question summaries

    @property
    def response_rate(self) -> int | None:
        return round(100 * self.responses / self.invited) if self.invited else None


def results(survey: Survey, *, sample: int = 2000) -> Results:
    invited = db.session.scalar(select(func.count()).select_from(SurveyInvitation).where(
        SurveyInvitation.survey_id == survey.id, SurveyInvitation.status.in_(("sent", "answered"))))
    counts = db.session.execute(
        select(func.count(), func.coalesce(func.sum(case((SurveyResponse.low.is_(True), 1), else_=0)), 0))
        .where(SurveyResponse.survey_id == survey.id)).one()
    summary = Results(invited=invited, responses=int(counts[0]), low=int(counts[1]))
    question = survey.score_question
    if question is not None:
        by_score = dict(db.session.execute(
            select(SurveyResponse.score, func.count()).where(SurveyResponse.survey_id == survey.id, SurveyResponse.score.is_not(None))
            .group_by(SurveyResponse.score)).all())
        rated = sum(by_score.values())
        summary.distribution = [(n, by_score.get(n, 0)) for n in range(question.scale_min, question.scale_max + 1)]
        if rated:
            summary.average = round(sum(score * count for score, count in by_score.items()) / rated, 1)
            if survey.kind == "csat":
                summary.satisfied_pct = round(100 * sum(c for s, c in by_score.items() if s >= 4) / rated)
            if survey.kind == "nps":
                for score, count in by_score.items():
                    category = nps_category(score)
                    summary.categories[category] = summary.categories.get(category, 0) + count
                summary.nps = round(100 * (summary.categories.get("promoter", 0) - summary.categories.get("detractor", 0)) / rated)
    others = [q for q in survey.questions if not q.is_score and q.kind in ("scale", "choice")]
    if others:
        rows = db.session.scalars(select(SurveyResponse.answers).where(SurveyResponse.survey_id == survey.id)
                                  .order_by(SurveyResponse.id.desc()).limit(sample)).all()
        for q in others:
            values = [a["value"] for answers in rows for a in answers if a["question_id"] == q.id and a["value"] not in (None, "")]
            entry = {"question": q, "answered": len(values)}
            if q.kind == "scale":
                entry["average"] = round(sum(values) / len(values), 1) if values else None
            else:
                entry["counts"] = [(option, values.count(option)) for option in (q.options or [])]
            summary.questions.append(entry)
    return summary


def recent_responses(survey_id: int, *, low_only: bool = False, limit: int = 50) -> list[SurveyResponse]:
    query = select(SurveyResponse).where(SurveyResponse.survey_id == survey_id)
    if low_only:
        query = query.where(SurveyResponse.low.is_(True))
    return list(db.session.scalars(query.order_by(SurveyResponse.created_at.desc(), SurveyResponse.id.desc()).limit(limit)))


def low_feedback_donors(since: datetime, *, donor_id: int | None = None) -> Select:
    """Donor ids whose latest CSAT or NPS rating since `since` was low (optionally for one donor)."""
    latest = (select(SurveyResponse.donor_id, func.max(SurveyResponse.id).label("last_id"))
              .where(SurveyResponse.score.is_not(None), SurveyResponse.created_at >= since,
                     *([SurveyResponse.donor_id == donor_id] if donor_id is not None else []))
              .group_by(SurveyResponse.donor_id).subquery())
    return (select(SurveyResponse.donor_id.label("donor_id"))
            .join(latest, and_(SurveyResponse.id == latest.c.last_id))
            .where(SurveyResponse.low.is_(True)))


def last_score_expression(kind: str | None = None):
    """The donor's most recent rating, as a scalar SQL expression correlated to Donor.id.

    For segment rules, e.g. `select(Donor.id).where(last_score_expression("nps") <= 6)`. Pass "csat" or
    "nps" to compare like with like (the scales differ); None takes the latest rating of either kind.
    NULL when the donor has never given a rating."""
    query = select(SurveyResponse.score).where(SurveyResponse.donor_id == Donor.id, SurveyResponse.score.is_not(None))
    if kind is not None:
        query = query.where(SurveyResponse.kind == kind)
    return (query.order_by(SurveyResponse.created_at.desc(), SurveyResponse.id.desc()).limit(1)
            .correlate(Donor).scalar_subquery())


def send_survey_step(ctx):
    """Workflow step: invite the donor to a survey, once per run and step."""
    survey = db.session.get(Survey, int(ctx.config.get("survey_id") or 0))
    if survey is None:
        return StepResult("skipped", "The survey no longer exists")
    invitation = invite(survey.id, ctx.donor.id, source_key=ctx.key)
    return StepResult("done" if invitation else "skipped", f"Invited to {survey.name}" if invitation else "Not invited")
