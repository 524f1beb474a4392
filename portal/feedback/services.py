"""Surveys: building them, inviting donors by signed link, taking one answer per invitation, and the
follow-up a low score deserves."""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Mapping

from flask import render_template
from sqlalchemy import Select, and_, case, func, or_, select
from sqlalchemy.exc import IntegrityError

from portal import tokens
from portal.audit import services as audit
from portal.extensions import db
from portal.feedback.models import QUESTION_KINDS, SURVEY_KINDS, FeedbackSettings, Survey, SurveyInvitation, SurveyQuestion, SurveyResponse
from portal.journey import services as journey
from portal.settings.services import settings_row
from portal.timeutil import utcnow

LINK_DAYS = tokens.MAX_AGE["survey"] // 86400
MAX_TEXT = 2000
PERIODIC_BATCH = 500  # invitations per survey per run, so a yearly survey goes out over a few days, not in one burst
LATE_EVENT_DAYS = 30  # an event recorded this long after it happened (an import, a backdated gift) sends no survey
# A plan is marked lapsed some weeks after the renewal it missed (giving's grace period); look back far enough
# to catch that, but not so far that a first run surveys donors about plans that ended long ago.
LAPSED_LOOKBACK_DAYS = 120

SCORE_QUESTIONS = {
    "csat": dict(prompt="How satisfied are you with your experience with us?", scale_min=1, scale_max=5,
                 low_label="Very dissatisfied", high_label="Very satisfied"),
    "nps": dict(prompt="How likely are you to recommend us to a friend or colleague?", scale_min=0, scale_max=10,
                low_label="Not at all likely", high_label="Extremely likely"),
}
NPS_CATEGORIES = {"promoter": "Promoter", "passive": "Passive", "detractor": "Detractor"}


class FeedbackError(ValueError):
    def __init__(self, message: str, field_name: str | None = None, *, expired: bool = False):
        super().__init__(message)
        self.field_name = field_name
        self.expired = expired


# ---------------------------------------------------------------- settings

def settings() -> FeedbackSettings:
    return settings_row(FeedbackSettings)


FOLLOW_UP_TEAMS = {"support": "Support specialists", "fundraiser": "Fundraisers"}


def update_settings(*, csat_low_max: int, nps_low_max: int, follow_up_hours: int, follow_up_team: str,
                    cap_surveys: int, cap_days: int, actor=None) -> FeedbackSettings:
    if not 1 <= csat_low_max <= 4:
        raise FeedbackError("A low CSAT score is between 1 and 4.", "csat_low_max")
    if not 0 <= nps_low_max <= 9:
        raise FeedbackError("A low NPS score is between 0 and 9.", "nps_low_max")
    if not 1 <= follow_up_hours <= 24 * 30:
        raise FeedbackError("Enter between 1 and 720 hours.", "follow_up_hours")
    if follow_up_team not in FOLLOW_UP_TEAMS:
        raise FeedbackError("Choose a team.", "follow_up_team")
    if not 1 <= cap_surveys <= 20:
        raise FeedbackError("Enter between 1 and 20 surveys.", "cap_surveys")
    if not 1 <= cap_days <= 730:
        raise FeedbackError("Enter between 1 and 730 days.", "cap_days")
    row = settings()
    before = audit.snapshot(row, ("csat_low_max", "nps_low_max", "follow_up_hours", "follow_up_team", "cap_surveys", "cap_days"))
    row.csat_low_max, row.nps_low_max, row.follow_up_hours = csat_low_max, nps_low_max, follow_up_hours
    row.follow_up_team, row.cap_surveys, row.cap_days = follow_up_team, cap_surveys, cap_days
    audit.record_settings_change("Survey settings", before, row, actor=actor)
    db.session.commit()
    return row


def nps_category(score: int) -> str:
    return "promoter" if score >= 9 else "passive" if score >= 7 else "detractor"


def is_low(kind: str, score: int | None, levels: FeedbackSettings | None = None) -> bool:
    if score is None or kind not in SCORE_QUESTIONS:
        return False
    levels = levels or settings()
    return score <= (levels.csat_low_max if kind == "csat" else levels.nps_low_max)


# ---------------------------------------------------------------- building surveys

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


# ---------------------------------------------------------------- invitations

def _over_cap(donor_id: int, now: datetime, levels: FeedbackSettings) -> bool:
    recent = db.session.scalar(
        select(func.count()).select_from(SurveyInvitation)
        .where(SurveyInvitation.donor_id == donor_id, SurveyInvitation.status != "cancelled",
               SurveyInvitation.created_at >= now - timedelta(days=levels.cap_days)))
    return recent >= levels.cap_surveys


def invite(survey_id: int, donor_id: int, *, source_key: str, send_after: datetime | None = None,
           now: datetime | None = None) -> SurveyInvitation | None:
    """Invite a donor to a survey for a reason (source_key); no commit.

    The same survey, donor and reason give the same invitation back, so callers may repeat themselves.
    Returns None when nothing is sent: the survey is off, the donor has no email address or has
    unsubscribed, or they have already been asked as often as the per-donor cap allows."""
    from portal.donors.services import get_donor

    now = now or utcnow()
    existing = db.session.scalar(select(SurveyInvitation).where(
        SurveyInvitation.survey_id == survey_id, SurveyInvitation.donor_id == donor_id,
        SurveyInvitation.source_key == source_key[:80]))
    if existing is not None:
        return existing
    survey = get_survey(survey_id)
    donor = get_donor(donor_id)
    if survey is None or not survey.active or donor is None or not donor.email or donor.unsubscribed_at is not None:
        return None
    if _over_cap(donor_id, now, settings()):
        return None
    invitation = SurveyInvitation(survey_id=survey_id, donor_id=donor_id, source_key=source_key[:80], created_at=now,
                                  send_after=max(send_after or now, now), status="scheduled")
    db.session.add(invitation)
    db.session.flush()
    if invitation.send_after <= now:
        _send(invitation, now)
    return invitation


def survey_token(invitation: SurveyInvitation) -> str:
    return tokens.make_token("survey", {"i": invitation.id})


def survey_link(invitation: SurveyInvitation, score: int | None = None) -> str:
    path = f"/survey/{survey_token(invitation)}"
    return tokens.external_url(path + (f"?score={score}" if score is not None else ""))


def _send(invitation: SurveyInvitation, now: datetime) -> None:
    """Queue the invitation email in the current transaction (delivered after commit)."""
    from portal.engagement.services import queue_email
    from portal.settings.services import organisation

    survey, donor = invitation.survey, invitation.donor
    if not survey.active or not donor.email or donor.unsubscribed_at is not None:
        invitation.status = "cancelled"
        return
    invitation.status, invitation.sent_at = "sent", now
    invitation.expires_at = now + timedelta(days=LINK_DAYS)
    context = dict(survey=survey, donor=donor, organisation=organisation(), link=survey_link(invitation),
                   score_question=survey.score_question, expires_at=invitation.expires_at,
                   score_links=[(n, survey_link(invitation, n)) for n in _score_range(survey)])
    queue_email(donor.email, survey.title, render_template("feedback/email_invitation.txt", **context),
                html_body=render_template("feedback/email_invitation.html", **context), donor_id=donor.id,
                category="transactional", purpose=f"survey:{survey.id}", idempotency_key=f"survey_invitation:{invitation.id}")


def _score_range(survey: Survey) -> range:
    question = survey.score_question
    return range(question.scale_min, question.scale_max + 1) if question else range(0)


def send_due_invitations(now: datetime | None = None, *, limit: int = 1000) -> int:
    """Send the invitations whose delay has passed (e.g. N days after a gift)."""
    now = now or utcnow()
    due = db.session.scalars(
        select(SurveyInvitation).where(SurveyInvitation.status == "scheduled", SurveyInvitation.send_after <= now)
        .order_by(SurveyInvitation.send_after, SurveyInvitation.id).limit(limit)).all()
    for invitation in due:
        _send(invitation, now)
    db.session.commit()
    return sum(1 for invitation in due if invitation.status == "sent")


def invite_periodically(now: datetime | None = None) -> int:
    """Active donors (gave in the last 12 months or give regularly) not asked this survey within its period."""
    from portal.donors.models import Donor
    from portal.giving.models import DonorStats

    now = now or utcnow()
    levels = settings()
    created = 0
    for survey in db.session.scalars(select(Survey).where(Survey.active.is_(True), Survey.periodic_months > 0)).all():
        asked_recently = select(SurveyInvitation.donor_id).where(
            SurveyInvitation.survey_id == survey.id,
            SurveyInvitation.created_at >= now - timedelta(days=30 * survey.periodic_months))
        capped = (select(SurveyInvitation.donor_id)
                  .where(SurveyInvitation.status != "cancelled", SurveyInvitation.created_at >= now - timedelta(days=levels.cap_days))
                  .group_by(SurveyInvitation.donor_id).having(func.count() >= levels.cap_surveys))
        donor_ids = db.session.scalars(
            select(Donor.id).join(DonorStats, DonorStats.donor_id == Donor.id)
            .where(or_(DonorStats.last_12m_minor > 0, DonorStats.has_active_plan.is_(True)),
                   Donor.email.is_not(None), Donor.unsubscribed_at.is_(None),
                   Donor.id.not_in(asked_recently), Donor.id.not_in(capped))
            .order_by(Donor.id).limit(PERIODIC_BATCH)).all()
        for donor_id in donor_ids:
            created += invite(survey.id, donor_id, source_key=f"periodic:{now:%Y-%m}", now=now) is not None
        db.session.commit()
    return created


def invite_after_lapsed_plans(now: datetime | None = None) -> int:
    """Plans that lapsed (no renewal) end without a touchpoint, so the periodic run finds them."""
    from portal.giving.models import RecurringPlan

    now = now or utcnow()
    created = 0
    for survey in db.session.scalars(select(Survey).where(Survey.active.is_(True), Survey.on_plan_end.is_(True))).all():
        recent = now.date() - timedelta(days=LAPSED_LOOKBACK_DAYS)
        plans = db.session.execute(
            select(RecurringPlan.id, RecurringPlan.donor_id)
            .where(RecurringPlan.status == "lapsed", func.coalesce(RecurringPlan.ended_at, RecurringPlan.renews_on) >= recent)
        ).all()
        asked = set(db.session.scalars(select(SurveyInvitation.source_key).where(
            SurveyInvitation.survey_id == survey.id, SurveyInvitation.source_key.like("plan_end:%"))))
        for plan_id, donor_id in plans:
            if f"plan_end:{plan_id}" not in asked:
                created += invite(survey.id, donor_id, source_key=f"plan_end:{plan_id}",
                                  send_after=now + timedelta(days=survey.delay_days), now=now) is not None
        db.session.commit()
    return created


def run_due(now: datetime | None = None) -> dict[str, int]:
    """The periodic survey run: delayed invitations, lapsed plans, periodic surveys."""
    now = now or utcnow()
    lapsed = invite_after_lapsed_plans(now)
    periodic = invite_periodically(now)
    return {"sent": send_due_invitations(now), "lapsed_plans": lapsed, "periodic": periodic}


def due_invitation_count(now: datetime | None = None) -> int:
    now = now or utcnow()
    return db.session.scalar(select(func.count()).select_from(SurveyInvitation).where(
        SurveyInvitation.status == "scheduled", SurveyInvitation.send_after <= now))


# ---------------------------------------------------------------- reacting to events

def _event_surveys(flag) -> list[Survey]:
    return list(db.session.scalars(select(Survey).where(Survey.active.is_(True), flag.is_(True)).order_by(Survey.id)))


def _invite_for_event(touchpoint, flag, source_key: str) -> None:
    now = utcnow()
    if touchpoint.occurred_at < now - timedelta(days=LATE_EVENT_DAYS):
        return
    for survey in _event_surveys(flag):
        invite(survey.id, touchpoint.donor_id, source_key=source_key,
               send_after=touchpoint.occurred_at + timedelta(days=survey.delay_days), now=now)


def after_gift(touchpoint) -> None:
    gift_id = (touchpoint.data or {}).get("gift_id")
    if gift_id:
        _invite_for_event(touchpoint, Survey.on_gift, f"gift:{gift_id}")


def after_ticket_closed(touchpoint) -> None:
    ticket_id = (touchpoint.data or {}).get("ticket_id")
    if ticket_id:
        _invite_for_event(touchpoint, Survey.on_ticket_closed, f"ticket:{ticket_id}")


def after_plan_ended(touchpoint) -> None:
    plan_id = (touchpoint.data or {}).get("plan_id")
    if plan_id:
        _invite_for_event(touchpoint, Survey.on_plan_end, f"plan_end:{plan_id}")


def follow_up_low_score(touchpoint) -> None:
    """A low rating becomes a task for the follow-up team, due within the follow-up time, once per response."""
    from portal.support.services import create_task

    response = db.session.get(SurveyResponse, (touchpoint.data or {}).get("response_id") or 0)
    if response is None or not response.low:
        return
    levels = settings()
    label = "NPS" if response.kind == "nps" else "CSAT"
    create_task(f"Low {label} score ({response.score}) from {response.donor.display_name}",
                donor_id=response.donor_id, kind="low_score", details=format_answers(response),
                assignee_role=levels.follow_up_team, due_at=response.created_at + timedelta(hours=levels.follow_up_hours),
                source=f"survey_response:{response.id}", dedupe_key=f"survey_response:{response.id}")


def format_answers(response: SurveyResponse) -> str:
    lines = [f"{response.survey.name} — answered {response.created_at:%Y-%m-%d %H:%M} UTC"]
    for answer in response.answers:
        value = answer["value"]
        lines.append(f"{answer['prompt']}\n  {value if value not in (None, '') else '(no answer)'}")
    return "\n".join(lines)


# ---------------------------------------------------------------- answering

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


# ---------------------------------------------------------------- reading

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
    from portal.donors.models import Donor

    query = select(SurveyResponse.score).where(SurveyResponse.donor_id == Donor.id, SurveyResponse.score.is_not(None))
    if kind is not None:
        query = query.where(SurveyResponse.kind == kind)
    return (query.order_by(SurveyResponse.created_at.desc(), SurveyResponse.id.desc()).limit(1)
            .correlate(Donor).scalar_subquery())


def send_survey_step(ctx):
    """Workflow step: invite the donor to a survey, once per run and step."""
    from portal.engagement.services import StepResult

    survey = db.session.get(Survey, int(ctx.config.get("survey_id") or 0))
    if survey is None:
        return StepResult("skipped", "The survey no longer exists")
    invitation = invite(survey.id, ctx.donor.id, source_key=ctx.key)
    return StepResult("done" if invitation else "skipped", f"Invited to {survey.name}" if invitation else "Not invited")
