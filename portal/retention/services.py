"""Who might stop giving, and why: the risk score, alerts when it crosses the line, and check-ins.

The score is one SQL statement over all donors (no query per donor): each signal contributes its
admin-set weight in points, giving-down in proportion to the drop, and the total is capped at 100.
The same statement, narrowed to one donor, rescores a donor as soon as a relevant touchpoint arrives.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import (BigInteger, Column, DateTime, Integer, MetaData, Table, and_, case, cast, delete, exists, extract,
                        func, insert, literal, or_, select, text)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload, lazyload

from portal.audit import services as audit
from portal.extensions import db
from portal.retention.models import (ALERT_STATUSES, CHECK_IN_REASONS, Alert, CheckIn, RelationshipManager, RiskHistory,
                                     RiskScore, RiskSettings)
from portal.settings.services import settings_row
from portal.timeutil import utcnow

BOUNCE_DAYS = 180
RENEWING_PLAN_KINDS = ("sponsorship", "membership")  # a recurring gift's "renewal" is just its next payment
NOT_CONTACT = ("email_sent",)  # mail we send is not the donor being in touch with us
CHECK_INS_PER_DAY = 20  # a day's work for the team, not the whole window's backlog at once


class RetentionError(ValueError):
    def __init__(self, message: str, field_name: str | None = None):
        super().__init__(message)
        self.field_name = field_name


@dataclass(frozen=True)
class Signal:
    label: str
    weight_help: str


SIGNALS: dict[str, Signal] = {
    "giving_down": Signal("Giving down", "Full weight when nothing was given in the last 12 months after giving in the 12 before; "
                                         "in proportion to the drop otherwise"),
    "plan_ended": Signal("Regular giving ended", "A recurring gift, sponsorship or membership was cancelled or lapsed in the last 12 months"),
    "plan_paused": Signal("Regular giving paused", "A recurring gift, sponsorship or membership is paused"),
    "renewal_no_contact": Signal("Renewal with no contact", "A sponsorship or membership renews soon and nobody has been in touch recently"),
    "negative_feedback": Signal("Negative feedback", "The latest CSAT or NPS rating in 12 months was low, or they gave a reason when cancelling"),
    "ticket_trouble": Signal("Support ticket trouble", "An open ticket is unanswered past its first-response time, or was reopened"),
    "no_contact": Signal("No recent contact", "No touchpoint (other than email we sent) for the set number of days"),
    "email_bouncing": Signal("Email bouncing", f"An email to them failed in the last {BOUNCE_DAYS} days"),
    "unsubscribed": Signal("Unsubscribed", "They unsubscribed from email"),
}


# ---------------------------------------------------------------- settings

def settings() -> RiskSettings:
    return settings_row(RiskSettings)


SETTING_RANGES = {
    "threshold": (1, 100), "no_contact_days": (7, 1095), "renewal_window_days": (1, 180), "recent_contact_days": (7, 365),
    "alert_task_hours": (1, 720), "check_in_renewal_days": (0, 180), "check_in_anniversary_days": (0, 60),
    "major_donor_minor": (0, 10**12), "major_check_in_months": (0, 24),
    **{f"w_{key}": (0, 100) for key in SIGNALS},
}
TEAMS = {"fundraiser": "Fundraisers", "support": "Support specialists"}


def update_settings(values: dict, *, actor=None) -> RiskSettings:
    """Validate everything first, then save everything: nothing is half-saved."""
    for name, (low, high) in SETTING_RANGES.items():
        value = values.get(name)
        if not isinstance(value, int) or not low <= value <= high:
            raise RetentionError(f"Enter a whole number from {low:,} to {high:,}.", name)
    for name in ("alert_team", "check_in_team"):
        if values.get(name) not in TEAMS:
            raise RetentionError("Choose a team.", name)
    if values.get("check_in_action") not in ("task", "email", "both"):
        raise RetentionError("Choose what a check-in does.", "check_in_action")
    row = settings()
    names = (*SETTING_RANGES, "alert_team", "check_in_team", "check_in_action")
    before = audit.snapshot(row, names)
    for name in names:
        setattr(row, name, values[name])
    audit.record_settings_change("Risk scores and check-ins", before, row, actor=actor)
    db.session.commit()
    return row


# ---------------------------------------------------------------- scoring

def _points_select(now: datetime, levels: RiskSettings, donor_id: int | None = None):
    """One row per donor: the points each signal contributes and the capped total."""
    from portal.donors.models import Donor
    from portal.engagement.models import EmailMessage
    from portal.feedback import services as feedback
    from portal.giving.models import DonorStats, RecurringPlan
    from portal.journey.models import Touchpoint
    from portal.support import services as support

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
    from portal.journey.services import KINDS

    return {kind for kind, about in KINDS.items() if about.group in ("giving", "plan", "contact")} | {"consent_changed"}


# ---------------------------------------------------------------- reasons in words

@dataclass(frozen=True)
class Reason:
    key: str
    text: str
    points: int


def reasons(score: RiskScore | None, levels: RiskSettings | None = None, stats=None, currency: str | None = None) -> list[Reason]:
    """Why a donor scores what they do, largest contribution first."""
    from portal.money import format_money

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
    from portal.auth.models import User
    from portal.donors.models import Donor
    from portal.giving.models import DonorStats
    from portal.settings.services import organisation
    from portal.support.services import create_tasks

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


# ---------------------------------------------------------------- ticket service levels

def raise_ticket_alerts(now: datetime | None = None) -> int:
    """An alert for each ticket past a service level, once per breach; the donor is rescored right away."""
    from portal.support import services as support

    now = now or utcnow()
    levels = support.settings()
    breaches = support.sla_breaches(now)
    keys = {f"ticket_sla:{b.timer}:{b.ticket_id}:{b.since:%Y%m%d%H%M%S}": b for b in breaches}
    known = set(db.session.scalars(select(Alert.dedupe_key).where(Alert.dedupe_key.in_(list(keys))))) if keys else set()
    raised, rescore = 0, set()
    for key, breach in keys.items():
        if key in known:
            continue
        if breach.timer == "first_response":
            summary = f"Ticket #{breach.ticket_id} “{breach.subject}” has waited more than {levels.first_response_hours} hours for a reply"
        else:
            summary = f"Ticket #{breach.ticket_id} “{breach.subject}” is not resolved after {levels.resolution_hours} hours"
        db.session.add(Alert(kind="ticket_sla", donor_id=breach.donor_id, ticket_id=breach.ticket_id, summary=summary,
                             dedupe_key=key, created_at=now))
        raised += 1
        rescore.add(breach.donor_id)
    db.session.flush()
    for donor_id in sorted(rescore):
        recompute_donor(donor_id, now)
    db.session.commit()
    return raised


# ---------------------------------------------------------------- alerts

def get_alert(alert_id: int) -> Alert | None:
    return db.session.get(Alert, alert_id)


def _close_alert(alert: Alert, status: str, reason: str, actor) -> None:
    from portal.support.services import close_task

    if alert.status != "open":
        raise RetentionError("This alert is already closed.", "reason")
    alert.status, alert.close_reason, alert.closed_at, alert.closed_by_id = status, reason, utcnow(), actor.id
    alert.open_key = None
    if alert.task is not None:
        close_task(alert.task, outcome=f"Alert {ALERT_STATUSES[status].lower()}" + (f": {reason}" if reason else ""),
                   status="done" if status == "resolved" else "cancelled")


def dismiss_alert(alert: Alert, reason: str, *, actor) -> Alert:
    reason = reason.strip()
    if not reason:
        raise RetentionError("Say why you're dismissing this alert.", "reason")
    _close_alert(alert, "dismissed", reason[:1000], actor)
    db.session.commit()
    return alert


def resolve_alert(alert: Alert, note: str = "", *, actor) -> Alert:
    _close_alert(alert, "resolved", note.strip()[:1000], actor)
    db.session.commit()
    return alert


ALERT_SORTS = {"score": "Highest risk", "lifetime": "Most valuable", "newest": "Newest"}


@dataclass
class AlertRow:
    alert: Alert
    risk: RiskScore | None
    lifetime_minor: int
    top_reasons: list[str]


@dataclass
class AlertPage:
    rows: list[AlertRow]
    total: int
    page: int
    pages: int


def alert_list(*, status: str = "open", kind: str = "", sort: str = "score", page: int = 1, per_page: int = 25) -> AlertPage:
    """The at-risk list: alerts with the donor's current score and lifetime giving."""
    from portal.donors.models import Donor
    from portal.giving.models import DonorStats

    status = status if status in ALERT_STATUSES else "open"
    conditions = [Alert.status == status, *([Alert.kind == kind] if kind else [])]
    total = db.session.scalar(select(func.count()).select_from(Alert).where(*conditions))
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    order = {
        "score": (func.coalesce(RiskScore.score, Alert.score, 0).desc(), Alert.id.desc()),
        "lifetime": (func.coalesce(DonorStats.lifetime_minor, 0).desc(), Alert.id.desc()),
        "newest": (Alert.created_at.desc(), Alert.id.desc()),
    }[sort if sort in ALERT_SORTS else "score"]
    # Sort narrow rows (ids and the two sort keys), then load the page's 25 full rows.
    ids = db.session.scalars(
        select(Alert.id).outerjoin(RiskScore, RiskScore.donor_id == Alert.donor_id)
        .outerjoin(DonorStats, DonorStats.donor_id == Alert.donor_id).where(*conditions)
        .order_by(*order).limit(per_page).offset((page - 1) * per_page)).all()
    rows = db.session.execute(
        select(Alert, RiskScore, func.coalesce(DonorStats.lifetime_minor, 0))
        .outerjoin(RiskScore, RiskScore.donor_id == Alert.donor_id)
        .outerjoin(DonorStats, DonorStats.donor_id == Alert.donor_id)
        .where(Alert.id.in_(ids))
        .options(joinedload(Alert.donor).options(lazyload(Donor.tags), lazyload(Donor.interests)), joinedload(Alert.closed_by))
    ).unique().all()
    by_id = {alert.id: (alert, risk, lifetime) for alert, risk, lifetime in rows}
    return AlertPage([AlertRow(alert, risk, int(lifetime),
                               [SIGNALS[key].label for key in SIGNALS if risk is not None and getattr(risk, key)])
                      for alert, risk, lifetime in (by_id[i] for i in ids)], total, page, pages)


def alert_counts() -> dict[str, int]:
    return dict(db.session.execute(select(Alert.kind, func.count()).where(Alert.status == "open").group_by(Alert.kind)).all())


def alerts_for_donor(donor_id: int) -> list[Alert]:
    return list(db.session.scalars(select(Alert).where(Alert.donor_id == donor_id, Alert.status == "open")
                                   .order_by(Alert.created_at.desc())))


@dataclass
class DonorRisk:
    score: RiskScore | None
    reasons: list[Reason]
    history: list[RiskHistory]
    alerts: list[Alert]
    threshold: int


def donor_risk(donor_id: int) -> DonorRisk:
    from portal.giving.models import DonorStats
    from portal.settings.services import organisation

    levels = settings()
    score = db.session.get(RiskScore, donor_id)
    history = list(reversed(db.session.scalars(
        select(RiskHistory).where(RiskHistory.donor_id == donor_id)
        .order_by(RiskHistory.computed_at.desc(), RiskHistory.id.desc()).limit(24)).all()))
    return DonorRisk(score, reasons(score, levels, db.session.get(DonorStats, donor_id), organisation().currency),
                     history, alerts_for_donor(donor_id), levels.threshold)


# ---------------------------------------------------------------- relationship managers

def manager_of(donor_id: int):
    row = db.session.get(RelationshipManager, donor_id)
    return row.user if row is not None and row.user.active else None


def set_manager(donor_id: int, user_id: int | None) -> None:
    from portal.auth.models import User

    row = db.session.get(RelationshipManager, donor_id)
    if user_id is None:
        if row is not None:
            db.session.delete(row)
        db.session.commit()
        return
    user = db.session.get(User, user_id)
    if user is None or not user.is_staff or not user.active:
        raise RetentionError("Choose an active staff member.", "user_id")
    if row is None:
        db.session.add(RelationshipManager(donor_id=donor_id, user_id=user.id))
    else:
        row.user_id, row.assigned_at = user.id, utcnow()
    db.session.commit()


# ---------------------------------------------------------------- check-ins

@dataclass(frozen=True)
class Due:
    reason: str
    donor_id: int
    key: str
    due_on: date
    detail: str
    plan_id: int | None = None


def _due_check_ins(now: datetime, levels: RiskSettings) -> list[Due]:
    from portal.giving.models import PLAN_KINDS, DonorStats, RecurringPlan
    from portal.money import format_money
    from portal.settings.services import organisation

    today = now.date()
    due: list[Due] = []
    if levels.check_in_renewal_days:
        for plan_id, donor_id, kind, renews_on in db.session.execute(
                select(RecurringPlan.id, RecurringPlan.donor_id, RecurringPlan.kind, RecurringPlan.renews_on)
                .where(RecurringPlan.status == "active", RecurringPlan.kind.in_(RENEWING_PLAN_KINDS),
                       RecurringPlan.renews_on >= today,
                       RecurringPlan.renews_on <= today + timedelta(days=levels.check_in_renewal_days))).all():
            due.append(Due("renewal", donor_id, f"renewal:{plan_id}:{renews_on.isoformat()}", renews_on,
                           f"{PLAN_KINDS.get(kind, kind)} renews on {renews_on:%-d %B %Y}", plan_id))
    if levels.check_in_anniversary_days:
        window = [today + timedelta(days=n) for n in range(levels.check_in_anniversary_days + 1)]
        same_day = or_(*(and_(extract("month", DonorStats.first_gift_at) == day.month,
                              extract("day", DonorStats.first_gift_at) == day.day) for day in window))
        for donor_id, first_gift_at in db.session.execute(
                select(DonorStats.donor_id, DonorStats.first_gift_at)
                .where(same_day, DonorStats.first_gift_at <= now - timedelta(days=365),
                       or_(DonorStats.last_12m_minor > 0, DonorStats.has_active_plan.is_(True)))).all():
            day = next(d for d in window if (d.month, d.day) == (first_gift_at.month, first_gift_at.day))
            years = day.year - first_gift_at.year
            due.append(Due("anniversary", donor_id, f"anniversary:{donor_id}:{day.year}", day,
                           f"{years} year{'s' if years != 1 else ''} since their first gift on {first_gift_at:%-d %B %Y}"))
    if levels.major_check_in_months:
        recent = select(CheckIn.donor_id).where(CheckIn.reason == "major",
                                                CheckIn.created_at >= now - timedelta(days=30 * levels.major_check_in_months))
        currency = organisation().currency
        for donor_id, lifetime in db.session.execute(
                select(DonorStats.donor_id, DonorStats.lifetime_minor)
                .where(DonorStats.lifetime_minor >= max(levels.major_donor_minor, 1), DonorStats.donor_id.not_in(recent))).all():
            due.append(Due("major", donor_id, f"major:{donor_id}:{today.isoformat()}", today,
                           f"Major donor: {format_money(lifetime, currency)} given in total"))
    return due


def run_check_ins(now: datetime | None = None) -> dict[str, int]:
    """Create the check-ins that have come due (task and/or email), each exactly once, soonest first.

    At most CHECK_INS_PER_DAY are created a day, however often it runs: the first run, or a wider window, finds
    weeks of occasions at once (first gifts on record cluster where the records begin), and the rest wait for
    the next day's run, still ahead of their day. A renewal or anniversary whose day is today can't wait, so it
    is never held back."""
    now = now or utcnow()
    levels = settings()
    due = sorted(_due_check_ins(now, levels), key=lambda item: (item.due_on, item.key))
    known: set[str] = set()
    keys = [item.key for item in due]
    for start in range(0, len(keys), 500):
        known |= set(db.session.scalars(select(CheckIn.key).where(CheckIn.key.in_(keys[start:start + 500]))))
    counts = {reason: 0 for reason in CHECK_IN_REASONS}
    created = db.session.scalar(select(func.count()).select_from(CheckIn)
                                .where(CheckIn.created_at >= datetime.combine(now.date(), time())))
    for item in due:
        if item.key in known:
            continue
        if created >= CHECK_INS_PER_DAY and (item.reason == "major" or item.due_on > now.date()):
            continue
        _check_in(item, now, levels)
        counts[item.reason] += 1
        created += 1
    db.session.commit()
    return counts


def _check_in(item: Due, now: datetime, levels: RiskSettings) -> CheckIn:
    from flask import render_template

    from portal.donors.services import get_donor
    from portal.engagement.services import queue_email
    from portal.settings.services import organisation
    from portal.support.services import create_task, renewal_task_due, renewal_task_key
    from portal.tokens import unsubscribe_url

    donor = get_donor(item.donor_id)
    check_in = CheckIn(donor_id=item.donor_id, reason=item.reason, key=item.key, due_on=item.due_on, detail=item.detail,
                       created_at=now)
    db.session.add(check_in)
    db.session.flush()
    if levels.check_in_action in ("task", "both"):
        manager = manager_of(item.donor_id)
        due_at, dedupe_key = datetime.combine(item.due_on, time(12)), f"check_in:{check_in.id}"
        if item.reason == "renewal":
            # A renewal workflow may already have raised this renewal's task: that one is kept.
            dedupe_key = renewal_task_key(item.plan_id, item.due_on)
            due_at = renewal_task_due(item.due_on, now)
        task = create_task(f"{CHECK_IN_REASONS[item.reason]}: {donor.display_name}", donor_id=donor.id,
                           kind="renewal" if item.reason == "renewal" else "check_in", details=item.detail,
                           assignee_id=manager.id if manager else None, assignee_role=levels.check_in_team,
                           due_at=due_at, source=f"check_in:{check_in.id}", dedupe_key=dedupe_key)
        check_in.task_id = task.id
    if levels.check_in_action in ("email", "both") and donor.can_receive_marketing:
        org = organisation()
        unsubscribe = unsubscribe_url(donor.id)
        body = render_template("retention/email_check_in.txt", donor=donor, organisation=org, item=item,
                               unsubscribe=unsubscribe)
        subjects = {"renewal": f"Your support of {org.name} renews soon", "anniversary": f"Thank you from {org.name}",
                    "major": f"A note from {org.name}"}
        queue_email(donor.email, subjects[item.reason], body, donor_id=donor.id, category="marketing",
                    purpose=f"check_in:{item.reason}", idempotency_key=f"check_in:{check_in.id}",
                    headers={"List-Unsubscribe": f"<{unsubscribe}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"})
        check_in.emailed = True
    return check_in


def get_check_in(check_in_id: int) -> CheckIn | None:
    return db.session.get(CheckIn, check_in_id)


def recent_check_ins(donor_id: int, limit: int = 5) -> list[CheckIn]:
    return list(db.session.scalars(select(CheckIn).where(CheckIn.donor_id == donor_id)
                                   .order_by(CheckIn.created_at.desc()).limit(limit)))


def set_manager_many(donor_ids: list[int], user_id: int) -> int:
    """Give many donors the same relationship manager (no commit): two statements per chunk."""
    from portal import bulk_insert as bulk
    from portal.auth.models import User

    user = db.session.get(User, user_id)
    if user is None or not user.is_staff or not user.active:
        raise RetentionError("Choose an active staff member.", "user_id")
    now = utcnow()
    for start in range(0, len(donor_ids), 5000):
        chunk = donor_ids[start:start + 5000]
        db.session.execute(delete(RelationshipManager).where(RelationshipManager.donor_id.in_(chunk)))
        bulk.insert_rows(RelationshipManager, [{"donor_id": donor_id, "user_id": user.id, "assigned_at": now} for donor_id in chunk])
    return len(donor_ids)
