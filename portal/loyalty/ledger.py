"""The append-only points ledger and the tier it earns.

A balance is the sum of a donor's ledger entries. Every entry has a unique source key naming its cause
("gift:12:earn", "redemption:7"), so processing the same cause twice never awards twice. Redemptions,
expiry and downward adjustments first take the write lock on the donor's account row, then read the
balance, so two at once cannot both spend the same points.
"""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import func, select, update

from portal.donors.models import Donor
from portal.extensions import db
from portal.giving import services as giving
from portal.journey import services as journey
from portal.loyalty.models import LoyaltyAccount, PointsEntry, Tier
from portal.loyalty.programme import TIER_KINDS, LoyaltyError, rules, start_programme, tier_for, tiers, window_start
from portal.timeutil import utcnow


def balance(donor_id: int) -> int:
    return int(db.session.scalar(select(func.coalesce(func.sum(PointsEntry.points), 0)).where(PointsEntry.donor_id == donor_id)))


def balance_expression():
    """The points balance as a correlated scalar over Donor.id, for segment rules (e.g. balance >= 500)."""
    return (select(func.coalesce(func.sum(PointsEntry.points), 0)).where(PointsEntry.donor_id == Donor.id)
            .correlate(Donor).scalar_subquery())


def tier_expression():
    """The donor's tier name (NULL outside the programme) as a correlated scalar over Donor.id."""
    return (select(Tier.name).join(LoyaltyAccount, LoyaltyAccount.tier_id == Tier.id)
            .where(LoyaltyAccount.donor_id == Donor.id).correlate(Donor).scalar_subquery())


def _account(donor_id: int) -> LoyaltyAccount:
    start_programme()
    account = db.session.get(LoyaltyAccount, donor_id)
    if account is None:
        account = LoyaltyAccount(donor_id=donor_id)
        db.session.add(account)
        db.session.flush()
    return account


def lock_account(donor_id: int) -> bool:
    """Take the write lock on the donor's account row until commit. An UPDATE does this on PostgreSQL
    (a row lock) and on SQLite (the database write lock), where SELECT ... FOR UPDATE would be ignored."""
    return bool(db.session.execute(
        update(LoyaltyAccount).where(LoyaltyAccount.donor_id == donor_id)
        .values(lock_version=LoyaltyAccount.lock_version + 1)
    ).rowcount)


def award_points(donor_id: int, points: int, *, reason: str, source_key: str, kind: str = "bonus",
                 gift_id: int | None = None, redemption_id: int | None = None, occurred_at: datetime | None = None,
                 actor=None) -> PointsEntry | None:
    """Add an entry to the current transaction (no commit). None if this source key was already used."""
    if not source_key:
        raise ValueError("award_points needs a source key")
    if db.session.scalar(select(PointsEntry.id).where(PointsEntry.source_key == source_key)) is not None:
        return None
    _account(donor_id)
    entry = PointsEntry(donor_id=donor_id, kind=kind, points=points, reason=reason[:200], source_key=source_key[:120],
                        gift_id=gift_id, redemption_id=redemption_id, occurred_at=occurred_at or utcnow(),
                        actor_user_id=getattr(actor, "id", None))
    db.session.add(entry)
    db.session.flush()
    if kind in TIER_KINDS:
        refresh_tier(donor_id)
    return entry


def points_for_gift(amount_minor: int, *, recurring: bool) -> int:
    row = rules()
    points = amount_minor // 100 * row.points_per_unit
    if recurring:
        points = points * row.recurring_multiplier_percent // 100
    return points


def earn_for_gift(donor_id: int, gift_id: int, amount_minor: int, *, received_at: datetime, recurring: bool,
                  first_gift: bool, fund: str = "") -> PointsEntry | None:
    """Points for a received gift, plus the first- and fifth-gift bonuses it may unlock (no commit)."""
    row = rules()
    points = points_for_gift(amount_minor, recurring=recurring)
    what = f"gift to {fund}" if fund else "gift"
    entry = award_points(donor_id, points, kind="earn", reason=f"Your {what}" + (" (regular giving bonus)" if recurring and row.recurring_multiplier_percent > 100 else ""),
                         source_key=f"gift:{gift_id}:earn", gift_id=gift_id, occurred_at=received_at)
    if entry is None:
        return None
    if first_gift and row.first_gift_bonus:
        award_points(donor_id, row.first_gift_bonus, reason="Welcome bonus for your first gift",
                     source_key=f"milestone:first_gift:{donor_id}", gift_id=gift_id, occurred_at=received_at)
    # Gifts, not points entries: gifts imported from before the programme count, and earn nothing themselves.
    if row.fifth_gift_bonus and giving.gift_position(donor_id, gift_id) == 5:
        award_points(donor_id, row.fifth_gift_bonus, reason="Bonus for your fifth gift",
                     source_key=f"milestone:fifth_gift:{donor_id}", gift_id=gift_id, occurred_at=received_at)
    return entry


def reverse_gift(donor_id: int, gift_id: int, *, reason: str = "") -> PointsEntry | None:
    """Take back everything a refunded gift earned, bonuses included (no commit).

    The balance may go below zero when the points were already spent: the refund is real, and a negative
    balance simply blocks redemptions until it is earned back."""
    earned = db.session.execute(
        select(func.coalesce(func.sum(PointsEntry.points), 0), func.min(PointsEntry.occurred_at))
        .where(PointsEntry.gift_id == gift_id, PointsEntry.kind.in_(("earn", "bonus")))
    ).one()
    if not earned[0]:
        return None
    return award_points(donor_id, -int(earned[0]), kind="reverse", reason="Gift refunded" + (f": {reason}" if reason else ""),
                        source_key=f"gift:{gift_id}:reverse", gift_id=gift_id, occurred_at=earned[1])


def on_touchpoint(touchpoint) -> None:
    """Reactor: points when a gift is received, taken back when it is refunded. Pledges earn nothing."""
    data = touchpoint.data or {}
    if not data.get("gift_id"):
        return
    if touchpoint.kind == "gift_received":
        earn_for_gift(touchpoint.donor_id, data["gift_id"], int(data.get("amount_minor") or 0),
                      received_at=touchpoint.occurred_at, recurring=bool(data.get("plan_id")),
                      first_gift=bool(data.get("first_gift")), fund=data.get("fund") or "")
    elif touchpoint.kind == "gift_refunded":
        reverse_gift(touchpoint.donor_id, data["gift_id"], reason=data.get("reason") or "")


def adjust(donor_id: int, points: int, *, reason: str, actor) -> PointsEntry:
    """A staff correction with its reason; it can't take the balance below zero. Commits."""
    if not reason.strip():
        raise LoyaltyError("Say why the points are being adjusted.", "reason")
    if points == 0:
        raise LoyaltyError("Enter a number of points other than zero.", "points")
    if abs(points) > 1_000_000:
        raise LoyaltyError("That is more points than an adjustment can move.", "points")
    _account(donor_id)
    lock_account(donor_id)
    if points < 0 and balance(donor_id) + points < 0:
        db.session.rollback()
        raise LoyaltyError(f"The balance is only {balance(donor_id):,} points; an adjustment can't make it negative.", "points")
    entry = award_points(donor_id, points, kind="adjust", reason=reason.strip(), source_key=f"adjust:{uuid.uuid4().hex}", actor=actor)
    db.session.commit()
    return entry


# ---------------------------------------------------------------- tiers

def _window_points(donor_id: int, start: datetime) -> int:
    return int(db.session.scalar(
        select(func.coalesce(func.sum(PointsEntry.points), 0))
        .where(PointsEntry.donor_id == donor_id, PointsEntry.kind.in_(TIER_KINDS), PointsEntry.occurred_at >= start)
    ))


def _move_tier(account: LoyaltyAccount, new: Tier | None, ordered: list[Tier], now: datetime) -> bool:
    """Set the account's tier; a move between tiers is a tier_changed touchpoint (joining at the lowest is not)."""
    old = account.tier
    if (old.id if old else None) == (new.id if new else None):
        return False
    account.tier, account.tier_since = new, now
    if old is None and new is not None and new is ordered[0]:
        return False
    direction = "up" if old is None or (new is not None and new.min_points > old.min_points) else "down"
    summary = f"Reached {new.name}" if direction == "up" else f"Moved to {new.name if new else 'no tier'}"
    journey.record(account.donor_id, "tier_changed", summary + (f" from {old.name}" if old else ""),
                   data={"from": old.name if old else None, "to": new.name if new else None, "direction": direction})
    return True


def refresh_tier(donor_id: int, *, now: datetime | None = None) -> bool:
    """Recompute one donor's tier from their rolling window (no commit). True if it changed."""
    now = now or utcnow()
    ordered = tiers()
    account = _account(donor_id)
    return _move_tier(account, tier_for(_window_points(donor_id, window_start(now)), ordered), ordered, now)


def recompute_all_tiers(*, now: datetime | None = None) -> int:
    """Nightly: the window moves on, so some donors go down (or up). One grouped query, then only the changes."""
    now = now or utcnow()
    ordered = tiers()
    start = window_start(now)
    totals = dict(db.session.execute(
        select(PointsEntry.donor_id, func.sum(PointsEntry.points))
        .where(PointsEntry.kind.in_(TIER_KINDS), PointsEntry.occurred_at >= start).group_by(PointsEntry.donor_id)
    ).all())
    changed = 0
    for donor_id, tier_id in db.session.execute(select(LoyaltyAccount.donor_id, LoyaltyAccount.tier_id)).all():
        target = tier_for(int(totals.get(donor_id) or 0), ordered)
        if (target.id if target else None) != tier_id:
            changed += _move_tier(db.session.get(LoyaltyAccount, donor_id), target, ordered, now)
    db.session.commit()
    return changed
