"""Building surveys: their settings and their questions, in order."""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import select

from portal.extensions import db
from portal.feedback.models import QUESTION_KINDS, SURVEY_KINDS, Survey, SurveyQuestion
from portal.feedback.thresholds import SCORE_QUESTIONS, FeedbackError


def get_survey(survey_id: int) -> Survey | None:
    return db.session.get(Survey, survey_id)


def all_surveys() -> list[Survey]:
    return list(db.session.scalars(select(Survey).order_by(Survey.active.desc(), Survey.name)))


@dataclass
class SurveyValues:
    name: str
    title: str
    intro: str = ""
    active: bool = False
    on_gift: bool = False
    on_ticket_closed: bool = False
    on_plan_end: bool = False
    delay_days: int = 0
    periodic_months: int = 0


@contextmanager
def _undone_if_refused():
    """A rule broken half-way through leaves the survey or question half-changed: undo that before the form
    is shown again, so nothing refused is saved by a later commit."""
    try:
        yield
    except FeedbackError:
        db.session.rollback()
        raise


def _apply(survey: Survey, values: SurveyValues) -> None:
    if not values.name.strip():
        raise FeedbackError("Give the survey a name.", "name")
    if not values.title.strip():
        raise FeedbackError("Write the heading donors will see.", "title")
    if not 0 <= values.delay_days <= 365:
        raise FeedbackError("Enter between 0 and 365 days.", "delay_days")
    if not 0 <= values.periodic_months <= 36:
        raise FeedbackError("Enter between 0 (never) and 36 months.", "periodic_months")
    survey.name, survey.title, survey.intro = values.name.strip()[:120], values.title.strip()[:200], values.intro.strip()
    survey.active, survey.on_gift, survey.on_ticket_closed = values.active, values.on_gift, values.on_ticket_closed
    survey.on_plan_end, survey.delay_days, survey.periodic_months = values.on_plan_end, values.delay_days, values.periodic_months


def create_survey(kind: str, values: SurveyValues) -> Survey:
    """CSAT and NPS surveys start with their rating question and an optional comment box."""
    if kind not in SURVEY_KINDS:
        raise FeedbackError("Choose the kind of survey.", "kind")
    survey = Survey(kind=kind)
    _apply(survey, values)
    if kind in SCORE_QUESTIONS:
        survey.questions.append(SurveyQuestion(position=1, kind="scale", required=True, is_score=True, **SCORE_QUESTIONS[kind]))
        survey.questions.append(SurveyQuestion(position=2, kind="text", prompt="What is the main reason for your score?"))
    db.session.add(survey)
    db.session.commit()
    return survey


def update_survey(survey: Survey, values: SurveyValues) -> Survey:
    with _undone_if_refused():
        if values.active and not survey.questions:
            raise FeedbackError("Add at least one question before switching the survey on.", "active")
        _apply(survey, values)
    db.session.commit()
    return survey


@dataclass
class QuestionValues:
    kind: str
    prompt: str
    required: bool = False
    options_text: str = ""
    scale_min: int = 1
    scale_max: int = 5
    low_label: str = ""
    high_label: str = ""


def _apply_question(question: SurveyQuestion, values: QuestionValues) -> None:
    if not values.prompt.strip():
        raise FeedbackError("Write the question.", "prompt")
    question.prompt = values.prompt.strip()[:300]
    if question.is_score:  # the rating's scale is what makes it CSAT or NPS; only the wording changes
        question.low_label, question.high_label = values.low_label.strip()[:60], values.high_label.strip()[:60]
        return
    if values.kind not in QUESTION_KINDS:
        raise FeedbackError("Choose the kind of question.", "kind")
    question.kind, question.required = values.kind, values.required
    question.options = None
    if values.kind == "choice":
        options = list(dict.fromkeys(line.strip()[:120] for line in values.options_text.splitlines() if line.strip()))
        if len(options) < 2:
            raise FeedbackError("Give at least two choices, one per line.", "options_text")
        if len(options) > 12:
            raise FeedbackError("Keep it to twelve choices or fewer.", "options_text")
        question.options = options
    if values.kind == "scale":
        if not (0 <= values.scale_min <= 1 and values.scale_min + 2 <= values.scale_max <= 10):
            raise FeedbackError("A scale runs from 0 or 1 up to between 3 and 10.", "scale_max")
        question.scale_min, question.scale_max = values.scale_min, values.scale_max
        question.low_label, question.high_label = values.low_label.strip()[:60], values.high_label.strip()[:60]


def add_question(survey: Survey, values: QuestionValues) -> SurveyQuestion:
    question = SurveyQuestion(position=max((q.position for q in survey.questions), default=0) + 1)
    with _undone_if_refused():
        _apply_question(question, values)
    survey.questions.append(question)
    db.session.commit()
    return question


def update_question(question: SurveyQuestion, values: QuestionValues) -> SurveyQuestion:
    with _undone_if_refused():
        _apply_question(question, values)
    db.session.commit()
    return question


def remove_question(question: SurveyQuestion) -> None:
    """Answers already given keep the question's wording, so removing it loses nothing."""
    if question.is_score:
        raise FeedbackError("The rating question is what the survey measures; it can't be removed.")
    survey = question.survey
    survey.questions.remove(question)
    if survey.active and not survey.questions:
        survey.active = False
    db.session.commit()


def move_question(question: SurveyQuestion, direction: int) -> None:
    ordered = list(question.survey.questions)
    index = ordered.index(question)
    other = index + (1 if direction > 0 else -1)
    if 0 <= other < len(ordered):
        ordered[index], ordered[other] = ordered[other], ordered[index]
        for position, item in enumerate(ordered, start=1):
            item.position = position
        db.session.commit()
