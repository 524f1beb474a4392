"""The periodic work: birthday and anniversary bonuses, expiry after inactivity, and points for past gifts."""
from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import DateTime, String, and_, case, cast, extract, func, insert, literal, or_, select

from portal.audit import services as audit
from portal.donors.models import Donor
from portal.extensions import db
from portal.giving.models import DonorStats, Gift
from portal.giving.services import add_months
from portal.loyalty.ledger import award_points, balance, lock_account, recompute_all_tiers
from portal.loyalty.models import LoyaltyAccount, LoyaltyRules, PointsEntry
from portal.loyalty.programme import ACTIVITY_KINDS, TIER_KINDS, rules, start_programme, tier_for, tiers, window_start
from portal.timeutil import utcnow


def _same_day(column, today: date):
    """A date column's month and day match today (29 February counts on 28 February in other years)."""
    matches = and_(extract("month", column) == today.month, extract("day", column) == today.day)
    if today.month == 2 and today.day == 28 and not calendar.isleap(today.year):
        return or_(matches, and_(extract("month", column) == 2, extract("day", column) == 29))
    return matches


def award_birthday_bonuses(*, today: date | None = None) -> int:
    """Members with a birthday today get the birthday bonus, once a year."""
    today = today or utcnow().date()
    bonus = rules().birthday_bonus
    if not bonus:
        return 0
    donor_ids = db.session.scalars(
        select(Donor.id).join(LoyaltyAccount, LoyaltyAccount.donor_id == Donor.id)
        .where(Donor.birthday.is_not(None), _same_day(Donor.birthday, today))
    ).all()
    awarded = sum(award_points(donor_id, bonus, reason="Happy birthday from all of us",
                               source_key=f"birthday:{donor_id}:{today.year}") is not None for donor_id in donor_ids)
    db.session.commit()
    return awarded


def award_anniversary_bonuses(*, today: date | None = None) -> int:
    """Members still giving (a gift in the last 12 months or an active plan) get a bonus on the anniversary of their first gift."""
    today = today or utcnow().date()
    bonus = rules().anniversary_bonus
    if not bonus:
        return 0
    rows = db.session.execute(
        select(DonorStats.donor_id, DonorStats.first_gift_at).join(LoyaltyAccount, LoyaltyAccount.donor_id == DonorStats.donor_id)
        .where(DonorStats.first_gift_at.is_not(None), _same_day(DonorStats.first_gift_at, today),
               or_(DonorStats.last_12m_minor > 0, DonorStats.has_active_plan.is_(True)))
    ).all()
    awarded = 0
    for donor_id, first_gift_at in rows:
        years = today.year - first_gift_at.year
        if years < 1:
            continue
        awarded += award_points(donor_id, bonus, reason=f"{years} year{'s' if years > 1 else ''} of giving: thank you",
                                source_key=f"anniversary:{donor_id}:{today.year}") is not None
    db.session.commit()
    return awarded


def expire_inactive_points(*, today: date | None = None) -> int:
    """When expiry is on, a donor who has neither earned nor redeemed for N months loses the remaining balance."""
    today = today or utcnow().date()
    months = rules().expiry_months
    if not months:
        return 0
    cutoff = datetime.combine(add_months(today, -months), datetime.min.time())
    last_activity = func.max(case((PointsEntry.kind.in_(ACTIVITY_KINDS), PointsEntry.occurred_at)))
    candidates = db.session.execute(
        select(PointsEntry.donor_id, last_activity).group_by(PointsEntry.donor_id)
        .having(func.sum(PointsEntry.points) > 0, last_activity < cutoff)
    ).all()
    expired = 0
    for donor_id, last in candidates:
        lock_account(donor_id)
        remaining = balance(donor_id)
        if remaining > 0 and award_points(donor_id, -remaining, kind="expire",
                                          reason=f"Expired: no gifts or redemptions since {last:%-d %B %Y}",
                                          source_key=f"expire:{donor_id}:{last.date().isoformat()}") is not None:
            expired += 1
        db.session.commit()
    return expired


def _unearned_gifts(since: datetime | None):
    """Received gifts (since a date) that have not earned points yet."""
    unearned = and_(Gift.status == "received",
                    ~select(PointsEntry.id).where(PointsEntry.source_key == literal("gift:") + cast(Gift.id, String) + literal(":earn")).exists())
    return and_(unearned, Gift.received_at >= since) if since is not None else unearned


def _gift_points(row: LoyaltyRules):
    base = Gift.amount_minor // 100 * row.points_per_unit
    return case((Gift.plan_id.is_not(None), base * row.recurring_multiplier_percent // 100), else_=base)


@dataclass
class BackfillPreview:
    since: datetime | None
    gifts: int
    points: int
    donors: int
    tiers: list[tuple[str, int, int]]  # tier name, members now, members after the award ("" is no tier)


def backfill_preview(*, since: datetime | None = None, now: datetime | None = None) -> BackfillPreview:
    """What backfill_gift_points(since) would award, and how many members each tier would have afterwards
    (over the rolling tier window, as the nightly recompute counts them). Writes nothing."""
    now = now or utcnow()
    row, ordered, start = rules(), tiers(), window_start(now)
    points = _gift_points(row)
    gifts, total = db.session.execute(select(func.count(), func.coalesce(func.sum(points), 0)).where(
        _unearned_gifts(since))).one()
    new_window = dict(db.session.execute(
        select(Gift.donor_id, func.sum(case((Gift.received_at >= start, points), else_=0)))
        .where(_unearned_gifts(since)).group_by(Gift.donor_id)).all())
    current = dict(db.session.execute(
        select(PointsEntry.donor_id, func.sum(PointsEntry.points))
        .where(PointsEntry.kind.in_(TIER_KINDS), PointsEntry.occurred_at >= start).group_by(PointsEntry.donor_id)).all())
    members = set(current) | set(db.session.scalars(select(LoyaltyAccount.donor_id)))
    before: dict[str, int] = {}
    after: dict[str, int] = {}
    for donor_id in members | set(new_window):
        if donor_id in members:
            tier = tier_for(int(current.get(donor_id) or 0), ordered)
            before[tier.name if tier else ""] = before.get(tier.name if tier else "", 0) + 1
        tier = tier_for(int(current.get(donor_id) or 0) + int(new_window.get(donor_id) or 0), ordered)
        after[tier.name if tier else ""] = after.get(tier.name if tier else "", 0) + 1
    names = [""] + [tier.name for tier in ordered]
    return BackfillPreview(since, int(gifts), int(total), len(new_window),
                           [(name, before.get(name, 0), after.get(name, 0)) for name in names
                            if before.get(name) or after.get(name)])


def backfill_gift_points(*, since: datetime | None = None, actor=None) -> int:
    """When the programme launches: points for past received gifts, in two set-based statements; returns
    how many gifts earned. Gifts that already earned are skipped, so running it again awards nothing twice."""
    row = start_programme()
    unearned = _unearned_gifts(since)
    # Counted, not read from the INSERT's rowcount: for INSERT ... SELECT some drivers report -1.
    earned_before = _earn_entries()
    db.session.execute(insert(LoyaltyAccount).from_select(
        ["donor_id", "lock_version", "created_at"],
        select(Gift.donor_id, literal(0), literal(utcnow(), DateTime)).where(
            unearned, ~select(LoyaltyAccount.donor_id).where(LoyaltyAccount.donor_id == Gift.donor_id).exists())
        .group_by(Gift.donor_id)))
    points = _gift_points(row)
    reason = case((Gift.fund != "", literal("Your gift to ") + Gift.fund), else_=literal("Your gift"))
    awarded = db.session.execute(insert(PointsEntry).from_select(
        ["donor_id", "kind", "points", "reason", "source_key", "gift_id", "occurred_at", "created_at"],
        select(Gift.donor_id, literal("earn"), points, reason, literal("gift:") + cast(Gift.id, String) + literal(":earn"),
               Gift.id, Gift.received_at, literal(utcnow(), DateTime)).where(unearned)))
    awarded = _earn_entries() - earned_before
    audit.record("loyalty.backfill", actor=actor, summary=f"Awarded points for {awarded:,} past gifts"
                 + (f" since {since:%-d %b %Y}" if since else ""),
                 detail={"since": since.date().isoformat() if since else None, "gifts": awarded})
    db.session.commit()
    recompute_all_tiers()
    return awarded


def _earn_entries() -> int:
    return db.session.scalar(select(func.count()).select_from(PointsEntry).where(PointsEntry.kind == "earn"))
