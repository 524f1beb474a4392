"""Check-ins: renewals, giving anniversaries and major donors, each raised once as a task and/or an email."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from flask import render_template
from sqlalchemy import and_, extract, func, or_, select

from portal.donors.services import get_donor
from portal.engagement.services import queue_email
from portal.extensions import db
from portal.giving.models import PLAN_KINDS, DonorStats, RecurringPlan
from portal.money import format_money
from portal.retention.managers import manager_of
from portal.retention.models import CHECK_IN_REASONS, CheckIn, RiskSettings
from portal.retention.signals import RENEWING_PLAN_KINDS, settings
from portal.settings.services import organisation
from portal.support.services import create_task, renewal_task_due, renewal_task_key
from portal.timeutil import utcnow
from portal.tokens import unsubscribe_url


CHECK_INS_PER_DAY = 20  # a day's work for the team, not the whole window's backlog at once


@dataclass(frozen=True)
class Due:
    reason: str
    donor_id: int
    key: str
    due_on: date
    detail: str
    plan_id: int | None = None


def _due_check_ins(now: datetime, levels: RiskSettings) -> list[Due]:
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
