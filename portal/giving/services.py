"""Gifts, recurring gifts and sponsorships, and the per-donor giving rollup.

Every write here adds its touchpoint to the same transaction and refreshes the donor's rollup
before committing, so the timeline and the numbers can never disagree with the gifts.
"""
from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Callable, Iterable

from sqlalchemy import BigInteger, Date, DateTime, case, cast, delete, exists, func, insert, literal, select, update

from portal import bulk_insert
from portal.donors.models import Donor
from portal.extensions import db
from portal.giving.models import INTERVAL_MONTHS, PLAN_KINDS, DonorStats, Gift, RecurringPlan
from portal.journey import services as journey
from portal.money import format_money
from portal.params import MAX_YEAR, MIN_YEAR
from portal.timeutil import utcnow


class GivingError(ValueError):
    pass


# ---------------------------------------------------------------- rollups

def _stats_select(as_of: datetime):
    """One aggregate row per donor over received gifts. The same SQL serves one donor and a full rebuild."""
    year_ago = as_of - timedelta(days=365)
    two_years_ago = as_of - timedelta(days=730)
    received = Gift.status == "received"
    amount = case((received, Gift.amount_minor), else_=0)
    return (
        select(
            Gift.donor_id,
            func.min(case((received, Gift.received_at))).label("first_gift_at"),
            func.max(case((received, Gift.received_at))).label("last_gift_at"),
            func.coalesce(func.sum(amount), 0).label("lifetime_minor"),
            func.coalesce(func.sum(case((received, 1), else_=0)), 0).label("gift_count"),
            func.coalesce(func.sum(case((received & (Gift.received_at >= year_ago), Gift.amount_minor), else_=0)), 0).label("last_12m_minor"),
            func.coalesce(func.sum(case((received & (Gift.received_at >= two_years_ago) & (Gift.received_at < year_ago), Gift.amount_minor), else_=0)), 0).label("prev_12m_minor"),
            func.coalesce(func.max(amount), 0).label("largest_minor"),
        )
        .group_by(Gift.donor_id)
    )


def _has_active_plan(donor_id: int) -> bool:
    return db.session.scalar(
        select(func.count()).select_from(RecurringPlan).where(RecurringPlan.donor_id == donor_id, RecurringPlan.status == "active")
    ) > 0


def refresh_stats(donor_id: int, *, now: datetime | None = None) -> DonorStats:
    """Recompute one donor's rollup inside the current transaction (row locked on PostgreSQL)."""
    now = now or utcnow()
    stats = db.session.scalar(select(DonorStats).where(DonorStats.donor_id == donor_id).with_for_update())
    # Both queries run before the row changes, so autoflush writes it once, at commit, not twice.
    row = db.session.execute(_stats_select(now).where(Gift.donor_id == donor_id)).mappings().first()
    has_active_plan = _has_active_plan(donor_id)
    if stats is None:
        stats = DonorStats(donor_id=donor_id)
        db.session.add(stats)
    for name, value in _rollup_values(row or {}, has_active_plan, now).items():
        setattr(stats, name, value)
    return stats


def _rollup_values(row, has_active_plan: bool, now: datetime) -> dict:
    """DonorStats columns from one row of _stats_select (or {} for a donor without gifts)."""
    lifetime, count = int(row.get("lifetime_minor") or 0), int(row.get("gift_count") or 0)
    return {
        "first_gift_at": row.get("first_gift_at"),
        "last_gift_at": row.get("last_gift_at"),
        "lifetime_minor": lifetime,
        "gift_count": count,
        "last_12m_minor": int(row.get("last_12m_minor") or 0),
        "prev_12m_minor": int(row.get("prev_12m_minor") or 0),
        "largest_minor": int(row.get("largest_minor") or 0),
        "average_minor": lifetime // count if count else 0,
        "has_active_plan": has_active_plan,
        "as_of": now.date(),
    }


def refresh_stats_many(donor_ids: Iterable[int], *, now: datetime | None = None, chunk: int = 1000) -> None:
    """refresh_stats for many donors with a few set-based queries per chunk (imports); no commit."""
    now = now or utcnow()
    ids = sorted(set(donor_ids))
    for start in range(0, len(ids), chunk):
        part = ids[start:start + chunk]
        existing = set(db.session.scalars(
            select(DonorStats.donor_id).where(DonorStats.donor_id.in_(part)).with_for_update()))
        rows = {row["donor_id"]: row for row in
                db.session.execute(_stats_select(now).where(Gift.donor_id.in_(part))).mappings()}
        active = set(db.session.scalars(select(RecurringPlan.donor_id).where(
            RecurringPlan.donor_id.in_(part), RecurringPlan.status == "active")))
        values = [{"donor_id": donor_id, "updated_at": now,
                   **_rollup_values(rows.get(donor_id, {}), donor_id in active, now)} for donor_id in part]
        updates = [item for item in values if item["donor_id"] in existing]
        inserts = [item for item in values if item["donor_id"] not in existing]
        if updates:
            db.session.execute(update(DonorStats), updates)
        if inserts:
            db.session.execute(insert(DonorStats), inserts)


def rebuild_all_stats(*, now: datetime | None = None) -> int:
    """Rebuild every rollup with set-based SQL (nightly, so the 12-month windows move with the calendar)."""
    now = now or utcnow()
    gifts = _stats_select(now).subquery()
    active_plan = (
        select(RecurringPlan.donor_id).where(RecurringPlan.status == "active").group_by(RecurringPlan.donor_id).subquery()
    )
    source = (
        select(
            Donor.id,
            gifts.c.first_gift_at,
            gifts.c.last_gift_at,
            func.coalesce(gifts.c.lifetime_minor, 0),
            func.coalesce(gifts.c.gift_count, 0),
            func.coalesce(gifts.c.last_12m_minor, 0),
            func.coalesce(gifts.c.prev_12m_minor, 0),
            func.coalesce(gifts.c.largest_minor, 0),
            case((func.coalesce(gifts.c.gift_count, 0) > 0,
                  # Integer division on both databases (PostgreSQL's SUM is numeric and would round).
                  cast(gifts.c.lifetime_minor, BigInteger) // cast(gifts.c.gift_count, BigInteger)), else_=0),
            active_plan.c.donor_id.is_not(None),
            literal(now.date(), Date),
            literal(now, DateTime),
        )
        .outerjoin(gifts, gifts.c.donor_id == Donor.id)
        .outerjoin(active_plan, active_plan.c.donor_id == Donor.id)
    )
    db.session.execute(delete(DonorStats))
    db.session.execute(
        insert(DonorStats).from_select(
            ["donor_id", "first_gift_at", "last_gift_at", "lifetime_minor", "gift_count", "last_12m_minor",
             "prev_12m_minor", "largest_minor", "average_minor", "has_active_plan", "as_of", "updated_at"],
            source,
        )
    )
    db.session.commit()
    return db.session.scalar(select(func.count()).select_from(DonorStats))


def _sync_active_plan_flags() -> None:
    has_active = exists().where(RecurringPlan.donor_id == DonorStats.donor_id, RecurringPlan.status == "active")
    db.session.execute(update(DonorStats).where(DonorStats.has_active_plan != has_active).values(has_active_plan=has_active))


# ---------------------------------------------------------------- gifts

@dataclass
class GiftInput:
    amount_minor: int
    received_at: datetime
    currency: str
    fund: str = ""
    campaign: str = ""
    method: str = "other"
    reference: str = ""
    plan_id: int | None = None
    status: str = "received"
    source_system: str | None = None  # an imported gift's old system, and its id there
    source_gift_id: str | None = None


def _check_gift(gift: GiftInput) -> None:
    if gift.amount_minor <= 0:
        raise GivingError("A gift must be more than zero.")
    if gift.received_at > utcnow() + timedelta(days=1) and gift.status == "received":
        raise GivingError("A received gift cannot be dated in the future.")


def _gift_values(donor_id: int, gift: GiftInput) -> dict:
    return {"donor_id": donor_id, "amount_minor": gift.amount_minor, "currency": gift.currency,
            "received_at": gift.received_at, "fund": gift.fund.strip(), "campaign": gift.campaign.strip(),
            "method": gift.method, "reference": gift.reference.strip(), "plan_id": gift.plan_id, "status": gift.status,
            "source_system": gift.source_system, "source_gift_id": gift.source_gift_id, "created_at": utcnow()}


def _gift_touchpoint(donor_id: int, gift_id: int, gift: GiftInput, was_first: bool) -> dict:
    """The touchpoint a gift writes (the arguments of journey.record, or one entry of record_many)."""
    what = format_money(gift.amount_minor, gift.currency)
    return {"donor_id": donor_id, "kind": "gift_received" if gift.status == "received" else "gift_pledged",
            "summary": f"{what} to {gift.fund}" if gift.fund else what, "occurred_at": gift.received_at,
            "data": {"gift_id": gift_id, "amount_minor": gift.amount_minor, "currency": gift.currency,
                     "fund": gift.fund, "first_gift": was_first, "plan_id": gift.plan_id}}


def add_gift(donor_id: int, gift: GiftInput, *, actor=None, channel: str = "") -> Gift:
    """Add a gift, its touchpoint and the refreshed rollup to the current transaction (no commit)."""
    _check_gift(gift)
    was_first = gift.status == "received" and not db.session.scalar(
        select(func.count()).select_from(Gift).where(Gift.donor_id == donor_id, Gift.status == "received")
    )
    row = Gift(**_gift_values(donor_id, gift))
    db.session.add(row)
    db.session.flush()
    journey.record(actor=actor, channel=channel, **_gift_touchpoint(donor_id, row.id, gift, was_first))
    refresh_stats(donor_id)
    return row


def add_gifts(items: list[tuple[int, GiftInput]], *, actor=None, channel: str = "", data: dict | None = None,
              progress: Callable[[int, int], None] | None = None, chunk: int = 1000) -> list[int]:
    """add_gift for many gifts at once (imports), in the current transaction (no commit); returns the new
    gifts' ids in the order of `items`.

    The same checks and one touchpoint per gift, written as multi-row INSERTs a chunk at a time; each
    affected donor's rollup is refreshed once at the end. Gifts go in date order, so a donor's earliest
    new gift is the one marked as their first.
    """
    for _, gift in items:
        _check_gift(gift)
    order = sorted(range(len(items)), key=lambda index: items[index][1].received_at)
    ordered = [items[index] for index in order]
    gift_ids: list[int] = [0] * len(items)
    for start in range(0, len(ordered), chunk):
        part = ordered[start:start + chunk]
        has_gifts = set(db.session.scalars(select(Gift.donor_id).distinct().where(
            Gift.donor_id.in_({donor_id for donor_id, _ in part}), Gift.status == "received")))
        firsts = []
        for donor_id, gift in part:
            firsts.append(gift.status == "received" and donor_id not in has_gifts)
            if gift.status == "received":
                has_gifts.add(donor_id)
        ids = bulk_insert.insert_returning_ids(Gift, [_gift_values(donor_id, gift) for donor_id, gift in part])
        for index, gift_id in zip(order[start:start + chunk], ids):
            gift_ids[index] = gift_id
        entries = [_gift_touchpoint(donor_id, gift_id, gift, first)
                   for (donor_id, gift), gift_id, first in zip(part, ids, firsts)]
        for entry in entries:
            entry["data"].update(data or {})
        journey.record_many(entries, actor=actor, channel=channel)
        if progress:
            progress(start + len(part), len(ordered))
    refresh_stats_many(donor_id for donor_id, _ in items)
    return gift_ids


def gift_position(donor_id: int, gift_id: int) -> int:
    """Which of the donor's received gifts this is, counting by date received (1 for the first); 0 if it is
    not a received gift of theirs."""
    gift = db.session.get(Gift, gift_id)
    if gift is None or gift.donor_id != donor_id or gift.status != "received":
        return 0
    return db.session.scalar(select(func.count()).select_from(Gift).where(
        Gift.donor_id == donor_id, Gift.status == "received",
        (Gift.received_at < gift.received_at) | ((Gift.received_at == gift.received_at) & (Gift.id <= gift.id))))


def source_ids_on_file(source_system: str, gift_ids: Iterable[str]) -> set[str]:
    """Which of these gift ids from an old system are already on file (imported before)."""
    wanted = list(set(gift_ids))
    found: set[str] = set()
    for start in range(0, len(wanted), 1000):
        found.update(db.session.scalars(select(Gift.source_gift_id).where(
            Gift.source_system == source_system, Gift.source_gift_id.in_(wanted[start:start + 1000]))))
    return found


def gift_facts(donor_ids: Iterable[int]) -> list[tuple[int, datetime, int, str]]:
    """(donor, received at, amount, fund) of every gift these donors have, to recognise a gift already on file."""
    wanted = list(set(donor_ids))
    rows: list[tuple[int, datetime, int, str]] = []
    for start in range(0, len(wanted), 1000):
        rows.extend(db.session.execute(select(Gift.donor_id, Gift.received_at, Gift.amount_minor, Gift.fund).where(
            Gift.donor_id.in_(wanted[start:start + 1000]))).all())
    return rows


def record_gift(donor_id: int, gift: GiftInput, *, actor=None, channel: str = "") -> Gift:
    row = add_gift(donor_id, gift, actor=actor, channel=channel)
    db.session.commit()
    return row


def refund_gift(gift: Gift, *, reason: str = "", actor=None) -> Gift:
    if gift.status != "received":
        raise GivingError("Only a received gift can be refunded.")
    gift.status = "refunded"
    journey.record(gift.donor_id, "gift_refunded", f"{format_money(gift.amount_minor, gift.currency)} refunded"
                   + (f": {reason}" if reason else ""), actor=actor,
                   data={"gift_id": gift.id, "amount_minor": gift.amount_minor, "reason": reason})
    refresh_stats(gift.donor_id)
    db.session.commit()
    return gift


def gifts_for(donor_id: int, *, limit: int | None = None, year: int | None = None) -> list[Gift]:
    query = select(Gift).where(Gift.donor_id == donor_id)
    if year:
        query = query.where(Gift.received_at >= datetime(year, 1, 1), Gift.received_at < datetime(year + 1, 1, 1))
    query = query.order_by(Gift.received_at.desc(), Gift.id.desc())
    if limit:
        query = query.limit(limit)
    return list(db.session.scalars(query))


GENERAL_FUND = "General fund"


@dataclass
class GivingHistory:
    """A donor's gifts for their giving history page: all of them, or one year's."""

    gifts: list[Gift]  # newest first
    years: list[int]  # every year with a gift, newest first
    year: int | None  # the year shown; None for all
    received_by_year: dict[int, int]  # minor units received in each year
    received_shown: int


def giving_history(donor_id: int, year: int | None = None) -> GivingHistory:
    gifts = gifts_for(donor_id)
    years = sorted({g.received_at.year for g in gifts}, reverse=True)
    year = year if year in years else None
    shown = [g for g in gifts if year is None or g.received_at.year == year]
    received_by_year = {y: sum(g.amount_minor for g in gifts if g.received_at.year == y and g.status == "received") for y in years}
    return GivingHistory(shown, years, year, received_by_year, sum(g.amount_minor for g in shown if g.status == "received"))


@dataclass
class AnnualStatement:
    year: int
    gifts: list[Gift]  # received gifts, oldest first
    by_fund: dict[str, int]  # minor units per fund, "General fund" for gifts without one
    total: int


def annual_statement(donor_id: int, year: int) -> AnnualStatement | None:
    """The year's received gifts for a statement; None when nothing was received that year."""
    if not MIN_YEAR <= year <= MAX_YEAR:
        return None
    gifts = [g for g in reversed(gifts_for(donor_id, year=year)) if g.status == "received"]
    if not gifts:
        return None
    by_fund: dict[str, int] = {}
    for gift in gifts:
        by_fund[gift.fund or GENERAL_FUND] = by_fund.get(gift.fund or GENERAL_FUND, 0) + gift.amount_minor
    return AnnualStatement(year, gifts, by_fund, sum(g.amount_minor for g in gifts))


# ---------------------------------------------------------------- recurring gifts and sponsorships

def add_months(day: date, months: int) -> date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@dataclass
class PlanInput:
    kind: str
    amount_minor: int
    currency: str
    interval: str
    started_at: date
    fund: str = ""
    description: str = ""
    renews_on: date | None = None


def start_plan(donor_id: int, plan: PlanInput, *, actor=None, commit: bool = True) -> RecurringPlan:
    if plan.kind not in PLAN_KINDS:
        raise GivingError("Choose a kind of regular gift.")
    if plan.interval not in INTERVAL_MONTHS:
        raise GivingError("Choose how often the gift is made.")
    if plan.amount_minor <= 0:
        raise GivingError("The amount must be more than zero.")
    renews_on = plan.renews_on
    if renews_on is None:
        # Sponsorships and memberships renew yearly; a recurring gift's next date is its next payment.
        months = 12 if plan.kind != "recurring_gift" else INTERVAL_MONTHS[plan.interval]
        renews_on = add_months(plan.started_at, months)
    row = RecurringPlan(donor_id=donor_id, kind=plan.kind, amount_minor=plan.amount_minor, currency=plan.currency,
                        interval=plan.interval, started_at=plan.started_at, renews_on=renews_on,
                        fund=plan.fund.strip(), description=plan.description.strip(), status="active")
    db.session.add(row)
    db.session.flush()
    started = datetime.combine(plan.started_at, time(12))
    journey.record(donor_id, "plan_started",
                   f"{PLAN_KINDS[plan.kind]} of {format_money(plan.amount_minor, plan.currency)} {plan.interval}",
                   actor=actor, occurred_at=min(started, utcnow()),
                   data={"plan_id": row.id, "kind": plan.kind, "amount_minor": plan.amount_minor})
    refresh_stats(donor_id)
    if commit:
        db.session.commit()
    return row


_TRANSITIONS = {
    "pause": ({"active"}, "paused", "plan_paused"),
    "resume": ({"paused", "lapsed"}, "active", "plan_resumed"),
    "cancel": ({"active", "paused", "lapsed"}, "cancelled", "plan_cancelled"),
}


def change_plan_status(plan: RecurringPlan, action: str, *, reason: str = "", actor=None, channel: str = "") -> RecurringPlan:
    """Pause, resume or cancel. The one entry point a payment integration would call too."""
    if action not in _TRANSITIONS:
        raise GivingError("Unknown change.")
    allowed_from, new_status, kind = _TRANSITIONS[action]
    if plan.status not in allowed_from:
        raise GivingError(f"A {plan.status} {plan.kind_label.lower()} cannot be {new_status}.")
    plan.status = new_status
    plan.end_reason = reason.strip() if action == "cancel" else plan.end_reason
    plan.ended_at = utcnow().date() if action == "cancel" else None
    journey.record(plan.donor_id, kind, f"{plan.kind_label} {new_status}" + (f": {reason.strip()}" if reason.strip() else ""),
                   actor=actor, channel=channel, data={"plan_id": plan.id, "reason": reason.strip(), "kind": plan.kind})
    refresh_stats(plan.donor_id)
    db.session.commit()
    return plan


def change_plan_amount(plan: RecurringPlan, amount_minor: int, *, actor=None, channel: str = "") -> RecurringPlan:
    if plan.status in ("cancelled",):
        raise GivingError("A cancelled plan cannot be changed.")
    if amount_minor <= 0:
        raise GivingError("The amount must be more than zero.")
    old = plan.amount_minor
    if old == amount_minor:
        return plan
    plan.amount_minor = amount_minor
    journey.record(plan.donor_id, "plan_amount_changed",
                   f"{plan.kind_label} changed from {format_money(old, plan.currency)} to {format_money(amount_minor, plan.currency)}",
                   actor=actor, channel=channel, data={"plan_id": plan.id, "old_minor": old, "new_minor": amount_minor})
    db.session.commit()
    return plan


def plans_for(donor_id: int) -> list[RecurringPlan]:
    order = case((RecurringPlan.status == "active", 0), (RecurringPlan.status == "paused", 1), else_=2)
    return list(db.session.scalars(
        select(RecurringPlan).where(RecurringPlan.donor_id == donor_id).order_by(order, RecurringPlan.renews_on)
    ))


def mark_lapsed_plans(*, today: date | None = None, grace_days: int = 60) -> int:
    """A plan whose renewal date passed more than grace_days ago without renewal has lapsed."""
    today = today or utcnow().date()
    result = db.session.execute(
        update(RecurringPlan)
        .where(RecurringPlan.status == "active", RecurringPlan.renews_on < today - timedelta(days=grace_days))
        .values(status="lapsed")
    )
    _sync_active_plan_flags()
    db.session.commit()
    return result.rowcount or 0
