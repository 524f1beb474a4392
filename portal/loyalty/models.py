from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.timeutil import utcnow

ENTRY_KINDS = {
    "earn": "Earned",
    "bonus": "Bonus",
    "reverse": "Reversed",
    "redeem": "Redeemed",
    "refund": "Returned",
    "expire": "Expired",
    "adjust": "Adjustment",
}
REWARD_KINDS = {
    "thank_you_call": "Thank-you call from the field team",
    "impact_report": "Impact report",
    "event_ticket": "Event tickets",
    "donation": "Points into a donation",
    "other": "Other",
}
REDEMPTION_STATUSES = {"requested": "To fulfil", "fulfilled": "Fulfilled", "cancelled": "Cancelled"}


RULE_DEFAULTS = {
    "points_per_unit": 1,  # per whole currency unit of a received gift
    "recurring_multiplier_percent": 150,  # gifts from a recurring plan earn half as much again
    "first_gift_bonus": 50,
    "fifth_gift_bonus": 100,
    "anniversary_bonus": 50,
    "birthday_bonus": 25,
    "tier_window_months": 12,
    "expiry_months": None,  # expiry is off until an admin sets a number of months
}


class LoyaltyRules(db.Model):
    """The single row (id 1) of earning rules admins edit."""

    __tablename__ = "loyalty_rules"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    points_per_unit: Mapped[int] = mapped_column(default=RULE_DEFAULTS["points_per_unit"])
    recurring_multiplier_percent: Mapped[int] = mapped_column(default=RULE_DEFAULTS["recurring_multiplier_percent"])
    first_gift_bonus: Mapped[int] = mapped_column(default=RULE_DEFAULTS["first_gift_bonus"])
    fifth_gift_bonus: Mapped[int] = mapped_column(default=RULE_DEFAULTS["fifth_gift_bonus"])
    anniversary_bonus: Mapped[int] = mapped_column(default=RULE_DEFAULTS["anniversary_bonus"])
    birthday_bonus: Mapped[int] = mapped_column(default=RULE_DEFAULTS["birthday_bonus"])
    tier_window_months: Mapped[int] = mapped_column(default=RULE_DEFAULTS["tier_window_months"])
    # Points expire after this many months without earning or redeeming; None switches expiry off.
    expiry_months: Mapped[int | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Tier(db.Model):
    __tablename__ = "loyalty_tiers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60), unique=True)
    min_points: Mapped[int] = mapped_column(unique=True)  # points earned within the rolling window
    benefits: Mapped[str] = mapped_column(String(300), default="")


class LoyaltyAccount(db.Model):
    """One row per donor in the programme: their current tier, and the row a redemption locks."""

    __tablename__ = "loyalty_accounts"

    donor_id: Mapped[int] = mapped_column(ForeignKey("donors.id", ondelete="CASCADE"), primary_key=True)
    tier_id: Mapped[int | None] = mapped_column(ForeignKey("loyalty_tiers.id", ondelete="SET NULL"), index=True)
    tier_since: Mapped[datetime | None]
    lock_version: Mapped[int] = mapped_column(default=0)  # bumped to take the row's write lock
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    tier = relationship(Tier)


class PointsEntry(db.Model):
    """The append-only ledger. A balance is the sum of a donor's entries; rows are never updated or deleted."""

    __tablename__ = "points_entries"
    __table_args__ = (
        Index("ix_points_entries_donor_time", "donor_id", "occurred_at", "id"),
        Index("ix_points_entries_donor_points", "donor_id", "points"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    donor_id: Mapped[int] = mapped_column(ForeignKey("donors.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(12))
    points: Mapped[int]  # signed
    reason: Mapped[str] = mapped_column(String(200))
    # What caused the entry, e.g. "gift:123:earn"; unique, so processing a cause twice never awards twice.
    source_key: Mapped[str] = mapped_column(String(120), unique=True)
    gift_id: Mapped[int | None] = mapped_column(ForeignKey("gifts.id", ondelete="SET NULL"), index=True)
    redemption_id: Mapped[int | None] = mapped_column(ForeignKey("loyalty_redemptions.id", ondelete="SET NULL"))
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)  # the gift's date for gift entries
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    actor = relationship("User")
    redemption = relationship("Redemption", foreign_keys=[redemption_id])

    @property
    def kind_label(self) -> str:
        return ENTRY_KINDS.get(self.kind, self.kind)


class Reward(db.Model):
    __tablename__ = "loyalty_rewards"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    kind: Mapped[str] = mapped_column(String(20), default="other")
    points_cost: Mapped[int]
    stock: Mapped[int | None]  # None: unlimited
    donation_minor: Mapped[int | None]  # for "donation" rewards: what the organisation gives to the chosen fund
    funds: Mapped[str] = mapped_column(String(300), default="")  # comma-separated choices for "donation" rewards
    active: Mapped[bool] = mapped_column(default=True)
    position: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def kind_label(self) -> str:
        return REWARD_KINDS.get(self.kind, self.kind)

    @property
    def fund_choices(self) -> list[str]:
        return [part.strip() for part in self.funds.split(",") if part.strip()]

    @property
    def in_stock(self) -> bool:
        return self.stock is None or self.stock > 0


class Redemption(db.Model):
    __tablename__ = "loyalty_redemptions"
    __table_args__ = (Index("ix_loyalty_redemptions_status_created", "status", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    donor_id: Mapped[int] = mapped_column(ForeignKey("donors.id", ondelete="CASCADE"), index=True)
    reward_id: Mapped[int] = mapped_column(ForeignKey("loyalty_rewards.id", ondelete="RESTRICT"), index=True)
    points: Mapped[int]
    fund: Mapped[str] = mapped_column(String(80), default="")
    status: Mapped[str] = mapped_column(String(12), default="requested")
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    fulfilled_at: Mapped[datetime | None]
    handled_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    reward = relationship(Reward)
    donor = relationship("Donor")
    handled_by = relationship("User")
