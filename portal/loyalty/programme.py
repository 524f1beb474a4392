"""The programme's settings: the earning rules and the tiers."""
from __future__ import annotations

from datetime import datetime

from flask import g, has_request_context
from sqlalchemy import inspect, select, update

from portal import jobs
from portal.audit import services as audit
from portal.extensions import db
from portal.giving.services import add_months
from portal.loyalty.models import RULE_DEFAULTS, LoyaltyAccount, LoyaltyRules, Tier
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
    pages never writes; start_programme() saves it with the first points. Cached per request."""
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


def start_programme() -> LoyaltyRules:
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
    row = start_programme()
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
    start_programme()
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
