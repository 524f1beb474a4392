"""The loyalty programme: earning rules, the append-only points ledger, tiers, rewards and redemptions.

A balance is the sum of a donor's ledger entries. Every entry has a unique source key naming its cause
("gift:12:earn", "redemption:7"), so processing the same cause twice never awards twice. Redemptions,
expiry and downward adjustments first take the write lock on the donor's account row, then read the
balance, so two at once cannot both spend the same points.
"""
from __future__ import annotations

import calendar
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask import g, has_request_context
from sqlalchemy import DateTime, String, and_, bindparam, case, cast, extract, func, insert, inspect, literal, or_, select, update

from portal import jobs
from portal.audit import services as audit
from portal.donors.models import Donor
from portal.extensions import db
from portal.giving.models import DonorStats
from portal.giving import services as giving
from portal.giving.services import add_months
from portal.journey import services as journey
from portal.loyalty.models import (REWARD_KINDS, RULE_DEFAULTS, LoyaltyAccount, LoyaltyRules, PointsEntry, Redemption,
                                   Reward, Tier)
from portal.timeutil import utcnow

DEFAULT_TIERS = (
    ("Friend", 0, "Our thanks, and news of what your gifts achieve."),
    ("Supporter", 250, "An invitation to the supporters' open day."),
    ("Champion", 1000, "A personal call from the field team each year."),
)
# Entries that count towards a tier: what was earned, less what was reversed. Spending does not lower a tier.
TIER_KINDS = ("earn", "bonus", "reverse")
# Entries that show the donor is active, which postpones expiry.
ACTIVITY_KINDS = ("earn", "redeem")


class LoyaltyError(ValueError):
    def __init__(self, message: str, field_name: str | None = None):
        super().__init__(message)
        self.field_name = field_name


# ---------------------------------------------------------------- rules and tiers

def rules() -> LoyaltyRules:
    """The rules row. Until the programme's first write it is an unsaved row of defaults, so reading
    pages never writes; _start_programme() saves it with the first points. Cached per request."""
    if has_request_context() and "loyalty_rules" in g:
        return g.loyalty_rules
    row = db.session.get(LoyaltyRules, 1) or LoyaltyRules(id=1, **RULE_DEFAULTS)
    if has_request_context():
        g.loyalty_rules = row
    return row


def tiers() -> list[Tier]:
    if has_request_context() and "loyalty_tiers" in g:
        return g.loyalty_tiers
    rows = list(db.session.scalars(select(Tier).order_by(Tier.min_points)))
    if not rows and inspect(rules()).transient:
        rows = [Tier(name=name, min_points=points, benefits=benefits) for name, points, benefits in DEFAULT_TIERS]
    if has_request_context():
        g.loyalty_tiers = rows
    return rows


def _start_programme() -> LoyaltyRules:
    """Save the default rules and tiers in the current transaction, the first time anything is written."""
    row = rules()
    if inspect(row).transient:
        default_tiers = tiers()
        db.session.add(row)
        db.session.add_all(tier for tier in default_tiers if inspect(tier).transient)
        db.session.flush()
    return row


def update_rules(*, points_per_unit: int, recurring_multiplier_percent: int, first_gift_bonus: int, fifth_gift_bonus: int,
                 anniversary_bonus: int, birthday_bonus: int, tier_window_months: int, expiry_months: int | None,
                 actor=None) -> LoyaltyRules:
    values = {"points_per_unit": points_per_unit, "first_gift_bonus": first_gift_bonus, "fifth_gift_bonus": fifth_gift_bonus,
              "anniversary_bonus": anniversary_bonus, "birthday_bonus": birthday_bonus}
    for name, value in values.items():
        if value < 0 or value > 100_000:
            raise LoyaltyError("Use a whole number from 0 to 100,000.", name)
    if not 100 <= recurring_multiplier_percent <= 1000:
        raise LoyaltyError("Use a percentage from 100 (no bonus) to 1000.", "recurring_multiplier_percent")
    if not 1 <= tier_window_months <= 60:
        raise LoyaltyError("Use a window of 1 to 60 months.", "tier_window_months")
    if expiry_months is not None and not 1 <= expiry_months <= 120:
        raise LoyaltyError("Use 1 to 120 months, or leave blank to keep points forever.", "expiry_months")
    row = _start_programme()
    before = audit.snapshot(row, (*values, "recurring_multiplier_percent", "tier_window_months", "expiry_months"))
    for name, value in values.items():
        setattr(row, name, value)
    row.recurring_multiplier_percent, row.tier_window_months, row.expiry_months = (
        recurring_multiplier_percent, tier_window_months, expiry_months)
    audit.record_settings_change("Loyalty rules", before, row, actor=actor)
    _tiers_changed()
    db.session.commit()
    return row


def get_tier(tier_id: int) -> Tier | None:
    return db.session.get(Tier, tier_id)


def save_tier(tier: Tier | None, *, name: str, min_points: int, benefits: str = "") -> Tier:
    name = name.strip()
    if not name:
        raise LoyaltyError("Give the tier a name.", "name")
    if min_points < 0:
        raise LoyaltyError("Use zero or more points.", "min_points")
    _start_programme()
    others = select(Tier).where(Tier.id != tier.id) if tier is not None and tier.id else select(Tier)
    existing = list(db.session.scalars(others))
    if any(t.name.lower() == name.lower() for t in existing):
        raise LoyaltyError("Another tier has this name.", "name")
    if any(t.min_points == min_points for t in existing):
        raise LoyaltyError("Another tier starts at this number of points.", "min_points")
    if tier is None:
        tier = Tier()
        db.session.add(tier)
    tier.name, tier.min_points, tier.benefits = name[:60], min_points, benefits.strip()[:300]
    _tiers_changed()
    db.session.commit()
    return tier


def delete_tier(tier: Tier) -> None:
    db.session.execute(update(LoyaltyAccount).where(LoyaltyAccount.tier_id == tier.id).values(tier_id=None))
    db.session.delete(tier)
    _tiers_changed()
    db.session.commit()


def _tiers_changed() -> None:
    """Everyone's tier is recomputed after the change commits (a job: there may be many donors)."""
    if has_request_context():
        g.pop("loyalty_tiers", None)
    jobs.enqueue_after_commit("default", "portal.loyalty.tasks.recompute_tiers_job")


def tier_for(points: int, ordered_tiers: list[Tier]) -> Tier | None:
    reached = None
    for tier in ordered_tiers:
        if points >= tier.min_points:
            reached = tier
    return reached


def window_start(now: datetime | None = None) -> datetime:
    now = now or utcnow()
    start = add_months(now.date(), -rules().tier_window_months)
    return datetime.combine(start, now.time())


# ---------------------------------------------------------------- the ledger

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
    _start_programme()
    account = db.session.get(LoyaltyAccount, donor_id)
    if account is None:
        account = LoyaltyAccount(donor_id=donor_id)
        db.session.add(account)
        db.session.flush()
    return account


def _lock_account(donor_id: int) -> bool:
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
    _lock_account(donor_id)
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


# ---------------------------------------------------------------- what a donor sees

@dataclass
class PointsSummary:
    balance: int
    tier: str | None
    tier_benefits: str
    next_tier: str | None
    points_to_next: int
    progress_percent: int
    window_points: int
    window_months: int
    expires_on: date | None

    def as_tokens(self) -> dict:
        """For email templates: {{ points.balance }}, {{ points.tier }}, ..."""
        return {"balance": self.balance, "tier": self.tier or "", "next_tier": self.next_tier or "",
                "points_to_next": self.points_to_next, "progress_percent": self.progress_percent,
                "expires_on": self.expires_on.isoformat() if self.expires_on else ""}


# Built once: the donor home runs this on every visit, and building the statement costs more than running it.
_SUMMARY = select(
    func.coalesce(func.sum(PointsEntry.points), 0),
    func.coalesce(func.sum(case((and_(PointsEntry.kind.in_(TIER_KINDS), PointsEntry.occurred_at >= bindparam("window_start")),
                                 PointsEntry.points), else_=0)), 0),
    func.max(case((PointsEntry.kind.in_(ACTIVITY_KINDS), PointsEntry.occurred_at))),
    select(LoyaltyAccount.tier_id).where(LoyaltyAccount.donor_id == bindparam("donor_id")).scalar_subquery(),
).where(PointsEntry.donor_id == bindparam("donor_id"))


def points_summary(donor_id: int, *, now: datetime | None = None) -> PointsSummary:
    now = now or utcnow()
    row = rules()
    ordered = tiers()
    start = window_start(now)
    total, in_window, last_activity, tier_id = db.session.execute(
        _SUMMARY, {"donor_id": donor_id, "window_start": start}).one()
    total, in_window = int(total), int(in_window)
    current = next((t for t in ordered if t.id is not None and t.id == tier_id), None) or tier_for(in_window, ordered)
    higher = [t for t in ordered if t.min_points > in_window and (current is None or t.min_points > current.min_points)]
    following = higher[0] if higher else None
    if following is None:
        progress = 100
    else:
        floor = current.min_points if current is not None and current.min_points <= in_window else 0
        span = max(1, following.min_points - floor)
        progress = max(0, min(100, (in_window - floor) * 100 // span))
    expires_on = None
    if row.expiry_months and total > 0 and last_activity is not None:
        expires_on = add_months(last_activity.date(), row.expiry_months)
    return PointsSummary(balance=total, tier=current.name if current else None, tier_benefits=current.benefits if current else "",
                         next_tier=following.name if following else None,
                         points_to_next=max(0, following.min_points - in_window) if following else 0,
                         progress_percent=progress, window_points=in_window, window_months=row.tier_window_months,
                         expires_on=expires_on)


@dataclass
class LedgerPage:
    entries: list[PointsEntry]
    page: int
    pages: int
    total: int


def ledger(donor_id: int, *, page: int = 1, per_page: int = 50) -> LedgerPage:
    total = db.session.scalar(select(func.count()).select_from(PointsEntry).where(PointsEntry.donor_id == donor_id))
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    entries = db.session.scalars(
        select(PointsEntry).where(PointsEntry.donor_id == donor_id)
        .order_by(PointsEntry.occurred_at.desc(), PointsEntry.id.desc()).limit(per_page).offset((page - 1) * per_page)
    ).all()
    return LedgerPage(list(entries), page, pages, total)


# ---------------------------------------------------------------- rewards and redemptions

def catalogue(*, include_inactive: bool = False) -> list[Reward]:
    query = select(Reward).order_by(Reward.position, Reward.points_cost, Reward.id)
    if not include_inactive:
        query = query.where(Reward.active.is_(True))
    return list(db.session.scalars(query))


def get_reward(reward_id: int) -> Reward | None:
    return db.session.get(Reward, reward_id)


def save_reward(reward: Reward | None, *, name: str, description: str, kind: str, points_cost: int, stock: int | None,
                donation_minor: int | None, funds: str, active: bool, position: int = 0) -> Reward:
    if not name.strip():
        raise LoyaltyError("Give the reward a name.", "name")
    if kind not in REWARD_KINDS:
        raise LoyaltyError("Choose a kind of reward.", "kind")
    if points_cost <= 0:
        raise LoyaltyError("A reward costs at least one point.", "points_cost")
    if stock is not None and stock < 0:
        raise LoyaltyError("Stock can't be negative; leave it blank for unlimited.", "stock")
    fund_list = [part.strip() for part in funds.split(",") if part.strip()]
    if kind == "donation":
        if not donation_minor:
            raise LoyaltyError("Say how much the organisation gives when points become a donation.", "donation_minor")
        if not fund_list:
            raise LoyaltyError("List at least one fund the donor can choose.", "funds")
    if reward is None:
        reward = Reward()
        db.session.add(reward)
    reward.name, reward.description, reward.kind = name.strip()[:120], description.strip(), kind
    reward.points_cost, reward.stock, reward.active, reward.position = points_cost, stock, active, position
    reward.donation_minor = donation_minor if kind == "donation" else None
    reward.funds = ", ".join(fund_list)[:300] if kind == "donation" else ""
    db.session.commit()
    return reward


STARTER_REWARDS = (
    ("A thank-you call from the field team", "thank_you_call", 150, None, None, "",
     "Someone from a crew you support rings to tell you what your gifts made possible."),
    ("This year's impact report", "impact_report", 100, None, None, "",
     "A printed report with the stories and numbers behind a year at the harbour."),
    ("Harbour open day tickets", "event_ticket", 250, 40, None, "",
     "Two tickets to the summer open day: meet the crews and see the boats."),
    ("Points into a donation", "donation", 300, None, 500, "Lifeboat crews, Clean water, Coastal schools",
     "We give £5 to the fund you choose, on your behalf."),
)


def add_starter_rewards() -> int:
    """A first catalogue when the programme launches with none; staff edit it from there."""
    if catalogue(include_inactive=True):
        return 0
    for position, (name, kind, cost, stock, donation, funds, description) in enumerate(STARTER_REWARDS):
        save_reward(None, name=name, description=description, kind=kind, points_cost=cost, stock=stock,
                    donation_minor=donation, funds=funds, active=True, position=position)
    return len(STARTER_REWARDS)


def redeem(donor_id: int, reward_id: int, *, fund: str = "", actor=None) -> Redemption:
    """Spend points on a reward. Refuses (and changes nothing) when the balance or the stock is short. Commits."""
    from portal.support.services import create_task

    reward = db.session.get(Reward, reward_id)
    if reward is None or not reward.active:
        raise LoyaltyError("This reward is no longer available.")
    if reward.kind == "donation" and fund not in reward.fund_choices:
        raise LoyaltyError("Choose the fund your donation should go to.", "fund")
    try:
        if not _lock_account(donor_id):
            raise LoyaltyError(f"You need {reward.points_cost:,} points for this reward and you have 0.")
        available = balance(donor_id)
        if available < reward.points_cost:
            raise LoyaltyError(f"You need {reward.points_cost:,} points for this reward and you have {available:,}.")
        taken = db.session.execute(
            update(Reward).where(Reward.id == reward.id, Reward.active.is_(True),
                                 or_(Reward.stock.is_(None), Reward.stock > 0))
            .values(stock=Reward.stock - 1)
        ).rowcount
        if not taken:
            raise LoyaltyError("Sorry, this reward has just run out.")
    except LoyaltyError:
        db.session.rollback()
        raise
    redemption = Redemption(donor_id=donor_id, reward_id=reward.id, points=reward.points_cost, fund=fund)
    db.session.add(redemption)
    db.session.flush()
    what = reward.name + (f" ({fund})" if fund else "")
    award_points(donor_id, -reward.points_cost, kind="redeem", reason=f"Redeemed: {what}",
                 source_key=f"redemption:{redemption.id}", redemption_id=redemption.id, actor=actor)
    journey.record(donor_id, "points_redeemed", f"{reward.points_cost:,} points for {what}", actor=actor, channel="portal",
                   data={"redemption_id": redemption.id, "reward_id": reward.id, "points": reward.points_cost, "fund": fund})
    if reward.kind == "thank_you_call":
        create_task(f"Thank-you call (loyalty reward) to donor #{donor_id}", donor_id=donor_id, kind="follow_up",
                    assignee_role="fundraiser", due_at=utcnow() + timedelta(days=7),
                    source=f"redemption:{redemption.id}", dedupe_key=f"redemption:{redemption.id}")
    db.session.commit()
    db.session.refresh(reward)
    return redemption


def redemptions(status: str | None = "requested", *, limit: int = 200) -> list[Redemption]:
    query = select(Redemption).order_by(Redemption.created_at.desc(), Redemption.id.desc()).limit(limit)
    if status:
        query = query.where(Redemption.status == status)
    return list(db.session.scalars(query))


def redemptions_for(donor_id: int) -> list[Redemption]:
    return list(db.session.scalars(select(Redemption).where(Redemption.donor_id == donor_id)
                                   .order_by(Redemption.created_at.desc())))


def get_redemption(redemption_id: int) -> Redemption | None:
    return db.session.get(Redemption, redemption_id)


def fulfil_redemption(redemption: Redemption, *, actor, note: str = "") -> Redemption:
    if redemption.status != "requested":
        raise LoyaltyError("Only a redemption waiting to be fulfilled can be marked fulfilled.")
    redemption.status, redemption.fulfilled_at, redemption.handled_by_id = "fulfilled", utcnow(), actor.id
    redemption.note = note.strip()
    db.session.commit()
    return redemption


def cancel_redemption(redemption: Redemption, *, actor, note: str = "") -> Redemption:
    """Give the points (and the stock) back, e.g. when an event is cancelled. Commits."""
    if redemption.status != "requested":
        raise LoyaltyError("Only a redemption waiting to be fulfilled can be cancelled.")
    redemption.status, redemption.handled_by_id, redemption.note = "cancelled", actor.id, note.strip()
    award_points(redemption.donor_id, redemption.points, kind="refund", reason=f"Returned: {redemption.reward.name}",
                 source_key=f"redemption:{redemption.id}:refund", redemption_id=redemption.id, actor=actor)
    db.session.execute(update(Reward).where(Reward.id == redemption.reward_id, Reward.stock.is_not(None))
                       .values(stock=Reward.stock + 1))
    db.session.commit()
    return redemption


# ---------------------------------------------------------------- periodic work

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
        _lock_account(donor_id)
        remaining = balance(donor_id)
        if remaining > 0 and award_points(donor_id, -remaining, kind="expire",
                                          reason=f"Expired: no gifts or redemptions since {last:%-d %B %Y}",
                                          source_key=f"expire:{donor_id}:{last.date().isoformat()}") is not None:
            expired += 1
        db.session.commit()
    return expired


def _unearned_gifts(since: datetime | None):
    """Received gifts (since a date) that have not earned points yet."""
    from portal.giving.models import Gift

    unearned = and_(Gift.status == "received",
                    ~select(PointsEntry.id).where(PointsEntry.source_key == literal("gift:") + cast(Gift.id, String) + literal(":earn")).exists())
    return and_(unearned, Gift.received_at >= since) if since is not None else unearned


def _gift_points(row: LoyaltyRules):
    from portal.giving.models import Gift

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
    from portal.giving.models import Gift

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
    from portal.giving.models import Gift

    row = _start_programme()
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


def template_tokens(donor_ids: list[int]) -> dict[int, dict[str, str]]:
    """points_balance and tier for a batch of donors, in two queries (email template tokens)."""
    balances = dict(db.session.execute(
        select(PointsEntry.donor_id, func.sum(PointsEntry.points)).where(PointsEntry.donor_id.in_(donor_ids))
        .group_by(PointsEntry.donor_id)).all())
    tier_names = dict(db.session.execute(
        select(LoyaltyAccount.donor_id, Tier.name).join(Tier, Tier.id == LoyaltyAccount.tier_id)
        .where(LoyaltyAccount.donor_id.in_(donor_ids))).all())
    return {donor_id: {"points_balance": f"{int(balances.get(donor_id) or 0):,}", "tier": tier_names.get(donor_id) or ""}
            for donor_id in donor_ids}


def award_points_step(ctx):
    """Workflow step: award a fixed number of points, once per run and step."""
    from portal.engagement.services import StepResult

    points = int(ctx.config.get("points") or 0)
    if points <= 0:
        return StepResult("skipped", "No points configured")
    entry = award_points(ctx.donor.id, points, reason=f"Thank you from {ctx.workflow.name}", source_key=ctx.key)
    return StepResult("done" if entry else "skipped", f"Awarded {points} points" if entry else "Already awarded")
