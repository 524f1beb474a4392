"""Taking one answer per invitation: checking it is still open, parsing the answers, and recording them
with their touchpoint.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Mapping

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from portal import tokens
from portal.extensions import db
from portal.feedback.models import Survey, SurveyInvitation, SurveyQuestion, SurveyResponse
from portal.feedback.thresholds import MAX_TEXT, NPS_CATEGORIES, FeedbackError, is_low, nps_category
from portal.journey import services as journey
from portal.timeutil import utcnow


def invitation_from_token(token: str) -> SurveyInvitation:
    try:
        payload = tokens.read_token("survey", token)
    except tokens.TokenError as exc:
        if exc.expired:
            raise FeedbackError("This survey link has expired. Thank you for wanting to help — we'll ask again another time.",
                                expired=True) from exc
        raise FeedbackError("This survey link isn't valid. It may have been copied incompletely from the email.") from exc
    invitation = db.session.get(SurveyInvitation, payload.get("i") if isinstance(payload, dict) else None)
    if invitation is None:
        raise FeedbackError("This survey link isn't valid any more.")
    return invitation


def check_open(invitation: SurveyInvitation, now: datetime | None = None) -> None:
    """Raise FeedbackError with the reason a donor can't answer (already did, expired, survey closed)."""
    now = now or utcnow()
    if invitation.status == "answered":
        raise FeedbackError("You've already answered this survey. Thank you!")
    if invitation.status != "sent" or not invitation.survey.active:
        raise FeedbackError("This survey has closed. Thank you for wanting to help.")
    if invitation.expires_at is not None and invitation.expires_at < now:
        raise FeedbackError("This survey link has expired. Thank you for wanting to help — we'll ask again another time.",
                            expired=True)


@dataclass
class Submission:
    answers: list[dict] = field(default_factory=list)
    score: int | None = None
    errors: dict[int, str] = field(default_factory=dict)


def field_name(question: SurveyQuestion) -> str:
    return f"q{question.id}"


def parse_answers(survey: Survey, data: Mapping[str, str]) -> Submission:
    result = Submission()
    for question in survey.questions:
        raw = (data.get(field_name(question)) or "").strip()
        value: int | str | None = None
        if question.kind == "scale":
            if raw:
                if raw.lstrip("-").isdigit() and question.scale_min <= int(raw) <= question.scale_max:
                    value = int(raw)
                else:
                    result.errors[question.id] = f"Choose a number from {question.scale_min} to {question.scale_max}."
        elif question.kind == "choice":
            if raw:
                if raw in (question.options or []):
                    value = raw
                else:
                    result.errors[question.id] = "Choose one of the options."
        else:
            if len(raw) > MAX_TEXT:
                result.errors[question.id] = f"Please keep it under {MAX_TEXT:,} characters."
            value = raw[:MAX_TEXT] or None
        if value is None and question.required and question.id not in result.errors:
            result.errors[question.id] = ("Choose a number from {0} to {1}.".format(question.scale_min, question.scale_max)
                                          if question.kind == "scale" else "Please answer this question.")
        if question.is_score:
            result.score = value if isinstance(value, int) else None
        result.answers.append({"question_id": question.id, "prompt": question.prompt, "kind": question.kind, "value": value})
    return result


def submit_response(invitation: SurveyInvitation, data: Mapping[str, str], *, channel: str = "link",
                    now: datetime | None = None) -> SurveyResponse:
    """Record the answers and the survey_answered touchpoint together, once per invitation.

    Raises FeedbackError for a closed, expired or already-answered invitation; returns errors per
    question (nothing saved) through FeedbackError.field_name == "answers" and `.submission`."""
    now = now or utcnow()
    locked = db.session.scalar(select(SurveyInvitation).where(SurveyInvitation.id == invitation.id)
                               .with_for_update().execution_options(populate_existing=True))
    try:
        check_open(locked, now)
    except FeedbackError:
        db.session.rollback()  # let go of the invitation's row lock
        raise
    survey = locked.survey
    submission = parse_answers(survey, data)
    if submission.errors:
        error = FeedbackError("Please check the answers marked below.", "answers")
        error.submission = submission
        raise error
    low = is_low(survey.kind, submission.score)
    has_comment = any(answer["kind"] == "text" and answer["value"] for answer in submission.answers)
    response = SurveyResponse(invitation_id=locked.id, survey_id=survey.id, donor_id=locked.donor_id, kind=survey.kind,
                              score=submission.score, low=low, answers=submission.answers, has_comment=has_comment,
                              channel=channel, created_at=now)
    locked.status, locked.answered_at = "answered", now
    db.session.add(response)
    try:
        db.session.flush()
    except IntegrityError as exc:  # a second submission racing the first
        db.session.rollback()
        raise FeedbackError("You've already answered this survey. Thank you!") from exc
    category = nps_category(submission.score) if survey.kind == "nps" and submission.score is not None else None
    journey.record(locked.donor_id, "survey_answered", _summary(survey, submission.score, category), occurred_at=now,
                   channel="portal" if channel == "portal" else "web",
                   data={"response_id": response.id, "survey_id": survey.id, "kind": survey.kind,
                         "score": submission.score, "category": category, "low": low})
    db.session.commit()
    return response


def _summary(survey: Survey, score: int | None, category: str | None) -> str:
    if survey.kind == "nps" and score is not None:
        return f"NPS {score} ({NPS_CATEGORIES[category].lower()}) — {survey.name}"
    if survey.kind == "csat" and score is not None:
        return f"CSAT {score} of 5 — {survey.name}"
    return survey.name
