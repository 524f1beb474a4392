"""The loyalty programme's public API: earning rules, the append-only points ledger, tiers, rewards and
redemptions, as other domains, the views and the jobs call them.

The work lives by concept in programme.py (rules and tiers), ledger.py (points and the tier they earn),
rewards.py (the catalogue and redemptions) and periodic.py (bonuses, expiry, points for past gifts); what a
donor sees of it and the hooks engagement calls are here.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import and_, bindparam, case, func, select

from portal.engagement.services import StepResult
from portal.extensions import db
from portal.giving.services import add_months
from portal.loyalty.ledger import (adjust, award_points, balance, balance_expression, earn_for_gift, lock_account,
                                   on_touchpoint, points_for_gift, recompute_all_tiers, refresh_tier, reverse_gift,
                                   tier_expression)
from portal.loyalty.models import LoyaltyAccount, PointsEntry, Tier
from portal.loyalty.periodic import (BackfillPreview, award_anniversary_bonuses, award_birthday_bonuses,
                                     backfill_gift_points, backfill_preview, expire_inactive_points)
from portal.loyalty.programme import (ACTIVITY_KINDS, DEFAULT_TIERS, TIER_KINDS, LoyaltyError, delete_tier, get_tier,
                                      rules, save_tier, start_programme, tier_for, tiers, update_rules, window_start)
from portal.loyalty.rewards import (STARTER_REWARDS, add_starter_rewards, cancel_redemption, catalogue,
                                    fulfil_redemption, get_redemption, get_reward, redeem, redemptions, redemptions_for,
                                    save_reward)
from portal.timeutil import utcnow

__all__ = [
    "adjust", "award_points", "balance", "balance_expression", "earn_for_gift", "lock_account", "on_touchpoint",
    "points_for_gift", "recompute_all_tiers", "refresh_tier", "reverse_gift", "tier_expression",
    "BackfillPreview", "award_anniversary_bonuses", "award_birthday_bonuses", "backfill_gift_points",
    "backfill_preview", "expire_inactive_points",
    "ACTIVITY_KINDS", "DEFAULT_TIERS", "TIER_KINDS", "LoyaltyError", "delete_tier", "get_tier", "rules", "save_tier",
    "start_programme", "tier_for", "tiers", "update_rules", "window_start",
    "STARTER_REWARDS", "add_starter_rewards", "cancel_redemption", "catalogue", "fulfil_redemption", "get_redemption",
    "get_reward", "redeem", "redemptions", "redemptions_for", "save_reward",
    "PointsSummary", "points_summary", "LedgerPage", "ledger", "template_tokens", "award_points_step",
]


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
    points = int(ctx.config.get("points") or 0)
    if points <= 0:
        return StepResult("skipped", "No points configured")
    entry = award_points(ctx.donor.id, points, reason=f"Thank you from {ctx.workflow.name}", source_key=ctx.key)
    return StepResult("done" if entry else "skipped", f"Awarded {points} points" if entry else "Already awarded")
