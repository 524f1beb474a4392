"""Alerts: ticket service-level breaches, closing alerts, the at-risk list and a donor's risk panel."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import joinedload, lazyload

from portal.donors.models import Donor
from portal.extensions import db
from portal.giving.models import DonorStats
from portal.retention.models import ALERT_STATUSES, Alert, RiskHistory, RiskScore
from portal.retention.scoring import Reason, reasons, recompute_donor
from portal.retention.signals import SIGNALS, RetentionError, settings
from portal.settings.services import organisation
from portal.support import services as support
from portal.support.services import close_task
from portal.timeutil import utcnow


def raise_ticket_alerts(now: datetime | None = None) -> int:
    """An alert for each ticket past a service level, once per breach; the donor is rescored right away."""
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
    levels = settings()
    score = db.session.get(RiskScore, donor_id)
    history = list(reversed(db.session.scalars(
        select(RiskHistory).where(RiskHistory.donor_id == donor_id)
        .order_by(RiskHistory.computed_at.desc(), RiskHistory.id.desc()).limit(24)).all()))
    return DonorRisk(score, reasons(score, levels, db.session.get(DonorStats, donor_id), organisation().currency),
                     history, alerts_for_donor(donor_id), levels.threshold)
