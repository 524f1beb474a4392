"""The risk score: one SQL statement over all donors (no query per donor), its reasons in words, and the
alert and task raised when a donor crosses the threshold.

Each signal contributes its admin-set weight in points, giving-down in proportion to the drop, and the total
is capped at 100. The same statement, narrowed to one donor, rescores a donor as soon as a relevant touchpoint
arrives.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import (BigInteger, Column, DateTime, Integer, MetaData, Table, and_, case, cast, delete, exists, func,
                        insert, literal, or_, select, text)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import lazyload

from portal.auth.models import User
from portal.donors.models import Donor
from portal.engagement.models import EmailMessage
from portal.extensions import db
from portal.feedback import services as feedback
from portal.giving.models import DonorStats, RecurringPlan
from portal.journey.models import Touchpoint
from portal.journey.services import KINDS
from portal.money import format_money
from portal.retention.models import Alert, RelationshipManager, RiskHistory, RiskScore, RiskSettings
from portal.retention.signals import BOUNCE_DAYS, NOT_CONTACT, RENEWING_PLAN_KINDS, SIGNALS, settings
from portal.settings.services import organisation
from portal.support import services as support
from portal.support.services import create_tasks
from portal.timeutil import utcnow


def _points_select(now: datetime, levels: RiskSettings, donor_id: int | None = None):
    """One row per donor: the points each signal contributes and the capped total."""
    def narrowed(query, column):
        return query.where(column == donor_id) if donor_id is not None else query

    today, year_ago = now.date(), now - timedelta(days=365)
    plan_end = func.coalesce(RecurringPlan.ended_at, RecurringPlan.renews_on, RecurringPlan.started_at)
    ended = and_(RecurringPlan.status.in_(("cancelled", "lapsed")), plan_end >= year_ago.date())
    plans = narrowed(
        select(
            RecurringPlan.donor_id.label("donor_id"),
            func.max(case((ended, 1), else_=0)).label("ended"),
            func.max(case((RecurringPlan.status == "paused", 1), else_=0)).label("paused"),
            func.max(case((and_(ended, RecurringPlan.status == "cancelled", RecurringPlan.end_reason != ""), 1), else_=0)).label("reason"),
            func.max(case((and_(RecurringPlan.status == "active", RecurringPlan.kind.in_(RENEWING_PLAN_KINDS),
                                RecurringPlan.renews_on >= today,
                                RecurringPlan.renews_on <= today + timedelta(days=levels.renewal_window_days)), 1), else_=0)).label("renewing"),
        ).where(or_(RecurringPlan.status != "active", RecurringPlan.kind.in_(RENEWING_PLAN_KINDS))),
        RecurringPlan.donor_id,
    ).group_by(RecurringPlan.donor_id).subquery("plans")
    low_feedback = feedback.low_feedback_donors(year_ago, donor_id=donor_id).subquery("low_feedback")
    tickets = support.troubled_ticket_donors(now, donor_id=donor_id).subquery("tickets")
    bounces = narrowed(
        select(EmailMessage.donor_id.label("donor_id"))
        .where(EmailMessage.status == "failed", EmailMessage.donor_id.is_not(None),
               EmailMessage.created_at >= now - timedelta(days=BOUNCE_DAYS)),
        EmailMessage.donor_id,
    ).group_by(EmailMessage.donor_id).subquery("bounces")

    def touched_since(days: int):
        return exists().where(Touchpoint.donor_id == Donor.id, Touchpoint.occurred_at >= now - timedelta(days=days),
                              Touchpoint.kind.not_in(NOT_CONTACT))

    def weighted(weight: int, condition):
        # A zero weight switches the signal off without evaluating it.
        return case((condition, weight), else_=0) if weight else literal(0, Integer)

    last = func.coalesce(DonorStats.last_12m_minor, 0)
    prev = func.coalesce(DonorStats.prev_12m_minor, 0)
    giving_down = (case((and_(prev > 0, last < prev),
                         cast(levels.w_giving_down * (prev - last), BigInteger) // cast(prev, BigInteger)), else_=0)
                   if levels.w_giving_down else literal(0, Integer))
    points = (
        select(
            Donor.id.label("donor_id"),
            giving_down.label("giving_down"),
            weighted(levels.w_plan_ended, plans.c.ended == 1).label("plan_ended"),
            weighted(levels.w_plan_paused, plans.c.paused == 1).label("plan_paused"),
            weighted(levels.w_renewal_no_contact,
                     and_(plans.c.renewing == 1, ~touched_since(levels.recent_contact_days))).label("renewal_no_contact"),
            weighted(levels.w_negative_feedback,
                     or_(low_feedback.c.donor_id.is_not(None), plans.c.reason == 1)).label("negative_feedback"),
            weighted(levels.w_ticket_trouble, tickets.c.donor_id.is_not(None)).label("ticket_trouble"),
            weighted(levels.w_no_contact, ~touched_since(levels.no_contact_days)).label("no_contact"),
            weighted(levels.w_email_bouncing, bounces.c.donor_id.is_not(None)).label("email_bouncing"),
            weighted(levels.w_unsubscribed, Donor.unsubscribed_at.is_not(None)).label("unsubscribed"),
        )
        .outerjoin(DonorStats, DonorStats.donor_id == Donor.id)
        .outerjoin(plans, plans.c.donor_id == Donor.id)
        .outerjoin(low_feedback, low_feedback.c.donor_id == Donor.id)
        .outerjoin(tickets, tickets.c.donor_id == Donor.id)
        .outerjoin(bounces, bounces.c.donor_id == Donor.id)
    )
    if donor_id is not None:
        points = points.where(Donor.id == donor_id)
    points = points.subquery("points")
    total = sum((points.c[key] for key in SIGNALS), literal(0, Integer))
    return select(points.c.donor_id, *(points.c[key] for key in SIGNALS),
                  case((total > 100, 100), else_=total).label("score"))


_stage_metadata = MetaData()
_STAGE = Table("risk_stage", _stage_metadata, Column("donor_id", Integer, primary_key=True),
               *(Column(key, Integer) for key in SIGNALS), Column("score", Integer), prefixes=["TEMPORARY"])


@dataclass
class Recompute:
    donors: int
    changed: int
    alerts: int


def recompute_all(now: datetime | None = None) -> Recompute:
    """Rescore every donor with a handful of set-based statements; alert those who crossed the threshold."""
    now = now or utcnow()
    levels = settings()
    connection = db.session.connection()
    connection.execute(text("DROP TABLE IF EXISTS risk_stage"))
    _STAGE.create(connection)
    connection.execute(insert(_STAGE).from_select(["donor_id", *SIGNALS, "score"], _points_select(now, levels)))
    stage = _STAGE.c
    changed = connection.execute(insert(RiskHistory).from_select(
        ["donor_id", "score", "computed_at"],
        select(stage.donor_id, stage.score, literal(now, DateTime))
        .outerjoin(RiskScore, RiskScore.donor_id == stage.donor_id)
        .where(or_(and_(RiskScore.donor_id.is_(None), stage.score > 0), RiskScore.score != stage.score)),
    ).execution_options(preserve_rowcount=True)).rowcount
    crossed = connection.execute(
        select(_STAGE).outerjoin(RiskScore, RiskScore.donor_id == stage.donor_id)
        .where(stage.score >= levels.threshold, or_(RiskScore.donor_id.is_(None), RiskScore.score < levels.threshold),
               stage.donor_id.not_in(select(Alert.donor_id).where(Alert.kind == "risk", Alert.status == "open")))
        .order_by(stage.donor_id)
    ).mappings().all()
    connection.execute(delete(RiskScore))
    connection.execute(insert(RiskScore).from_select(
        ["donor_id", *SIGNALS, "score", "computed_at"],
        select(stage.donor_id, *(stage[key] for key in SIGNALS), stage.score, literal(now, DateTime))))
    donors = connection.execute(select(func.count()).select_from(_STAGE)).scalar_one()
    connection.execute(text("DROP TABLE risk_stage"))
    db.session.expire_all()
    alerts = _raise_risk_alerts([(row["donor_id"], row["score"]) for row in crossed], now, levels)
    db.session.commit()
    return Recompute(donors=donors, changed=changed or 0, alerts=alerts)


def recompute_donor(donor_id: int, now: datetime | None = None) -> RiskScore | None:
    """Rescore one donor inside the current transaction (no commit), keeping history and alerting on a crossing."""
    now = now or utcnow()
    levels = settings()
    row = db.session.execute(_points_select(now, levels, donor_id)).mappings().first()
    if row is None:
        return None
    current = db.session.get(RiskScore, donor_id, with_for_update=True)
    previous = current.score if current is not None else None
    if current is None:
        current = RiskScore(donor_id=donor_id)
        db.session.add(current)
    for key in SIGNALS:
        setattr(current, key, row[key])
    current.score, current.computed_at = row["score"], now
    if (previous is None and current.score > 0) or (previous is not None and previous != current.score):
        db.session.add(RiskHistory(donor_id=donor_id, score=current.score, computed_at=now))
    db.session.flush()
    if current.score >= levels.threshold and (previous is None or previous < levels.threshold):
        _raise_risk_alerts([(donor_id, current.score)], now, levels)
    return current


def rescore_on_touchpoint(touchpoint) -> None:
    recompute_donor(touchpoint.donor_id)


def reactor_kinds() -> set[str]:
    """Touchpoints that can move a signal: gifts, regular giving, conversations (tickets and surveys are among
    them) and consent. Online activity only refreshes "no recent contact", which the nightly run picks up;
    leaving it out keeps a bulk send or import from queueing a rescore per donor."""
    return {kind for kind, about in KINDS.items() if about.group in ("giving", "plan", "contact")} | {"consent_changed"}


# ---------------------------------------------------------------- reasons in words

@dataclass(frozen=True)
class Reason:
    key: str
    text: str
    points: int


def reasons(score: RiskScore | None, levels: RiskSettings | None = None, stats=None, currency: str | None = None) -> list[Reason]:
    """Why a donor scores what they do, largest contribution first."""
    if score is None:
        return []
    levels = levels or settings()
    words = {
        "giving_down": "Gave less in the last 12 months than in the 12 before",
        "plan_ended": "A recurring gift, sponsorship or membership was cancelled or lapsed in the last 12 months",
        "plan_paused": "A recurring gift, sponsorship or membership is paused",
        "renewal_no_contact": (f"A sponsorship or membership renews within {levels.renewal_window_days} days "
                               f"and nobody has been in touch for {levels.recent_contact_days} days"),
        "negative_feedback": "Recent feedback was negative: a low satisfaction or NPS rating, or a reason given for cancelling",
        "ticket_trouble": "A support ticket is waiting too long for a reply, or was reopened",
        "no_contact": f"No contact for more than {levels.no_contact_days} days",
        "email_bouncing": f"Email to them has failed (bounced) in the last {BOUNCE_DAYS} days",
        "unsubscribed": "They unsubscribed from email",
    }
    if stats is not None and stats.prev_12m_minor:
        drop = round(100 * (stats.prev_12m_minor - stats.last_12m_minor) / stats.prev_12m_minor)
        words["giving_down"] = (f"Gave {format_money(stats.last_12m_minor, currency)} in the last 12 months, down {drop}% "
                                f"from {format_money(stats.prev_12m_minor, currency)} in the 12 before")
    found = [Reason(key, words[key], getattr(score, key)) for key in SIGNALS if getattr(score, key)]
    return sorted(found, key=lambda reason: -reason.points)


def _in_chunks(values: list, size: int = 500):
    for start in range(0, len(values), size):
        yield values[start:start + size]


def _raise_risk_alerts(crossed: list[tuple[int, int]], now: datetime, levels: RiskSettings) -> int:
    """An open alert and a task for the team for each (donor_id, score) that crossed the threshold, in a few
    statements however many there are. At most one open risk alert per donor (open_key is unique)."""
    already_open: set[int] = set()
    for chunk in _in_chunks([donor_id for donor_id, _ in crossed]):
        already_open |= set(db.session.scalars(select(Alert.donor_id).where(Alert.open_key.in_([f"risk:{d}" for d in chunk]))))
    crossed = [(donor_id, score) for donor_id, score in crossed if donor_id not in already_open]
    if not crossed:
        return 0
    ids = [donor_id for donor_id, _ in crossed]
    scores, stats, donors, managers = {}, {}, {}, {}
    for chunk in _in_chunks(ids):
        scores.update((row.donor_id, row) for row in db.session.scalars(select(RiskScore).where(RiskScore.donor_id.in_(chunk))))
        stats.update((row.donor_id, row) for row in db.session.scalars(select(DonorStats).where(DonorStats.donor_id.in_(chunk))))
        donors.update((row.id, row) for row in db.session.scalars(
            select(Donor).where(Donor.id.in_(chunk)).options(lazyload(Donor.tags), lazyload(Donor.interests))).unique())
        managers.update(db.session.execute(
            select(RelationshipManager.donor_id, RelationshipManager.user_id).join(User, User.id == RelationshipManager.user_id)
            .where(RelationshipManager.donor_id.in_(chunk), User.active.is_(True))).all())
    currency = organisation().currency
    explained = {donor_id: reasons(scores[donor_id], levels, stats.get(donor_id), currency) for donor_id in ids}
    alerts = [Alert(kind="risk", donor_id=donor_id, score=score, open_key=f"risk:{donor_id}", created_at=now,
                    summary="; ".join(SIGNALS[reason.key].label for reason in explained[donor_id]))
              for donor_id, score in crossed]
    try:
        with db.session.begin_nested():
            db.session.add_all(alerts)
            db.session.flush()
    except IntegrityError:  # a concurrent rescore raised one of these a moment ago: go one by one
        return sum(_raise_risk_alerts([item], now, levels) for item in crossed) if len(crossed) > 1 else 0
    tasks = create_tasks([
        dict(title=f"At risk: {donors[alert.donor_id].display_name} (score {alert.score})", donor_id=alert.donor_id,
             kind="risk", assignee_id=managers.get(alert.donor_id), assignee_role=levels.alert_team,
             details=f"Risk score {alert.score} of 100 (alert threshold {levels.threshold}).\n" + "\n".join(
                 f"• {reason.text} (+{reason.points})" for reason in explained[alert.donor_id]),
             due_at=now + timedelta(hours=levels.alert_task_hours), source=f"alert:{alert.id}", dedupe_key=f"alert:{alert.id}")
        for alert in alerts])
    for alert, task in zip(alerts, tasks):
        alert.task_id = task.id
    return len(alerts)
