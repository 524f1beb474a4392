"""Inviting donors by signed link: after a gift, a closed ticket or a lapsed plan, periodically, or by
a workflow, within the per-donor cap; and the follow-up task a low score deserves.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from flask import render_template
from sqlalchemy import func, or_, select

from portal import tokens
from portal.donors.models import Donor
from portal.donors.services import get_donor
from portal.engagement.services import queue_email
from portal.extensions import db
from portal.feedback.models import FeedbackSettings, Survey, SurveyInvitation, SurveyResponse
from portal.feedback.surveys import get_survey
from portal.feedback.thresholds import LAPSED_LOOKBACK_DAYS, LATE_EVENT_DAYS, LINK_DAYS, PERIODIC_BATCH, settings
from portal.giving.models import DonorStats, RecurringPlan
from portal.settings.services import organisation
from portal.support.services import create_task
from portal.timeutil import utcnow


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
