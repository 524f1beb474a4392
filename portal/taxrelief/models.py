from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.timeutil import utcnow

SCHEMES = {"none": "No tax relief scheme", "uk_gift_aid": "UK Gift Aid", "us_irs": "US charitable contribution receipts"}
SCOPES = {
    "this_gift": "This gift only",
    "future": "This gift and all future gifts",
    "past_and_future": "Gifts in the last 4 years, this gift and all future gifts",
}
METHODS = {"online": "Online in the donor portal", "paper": "Paper form (scanned)", "oral": "Oral, by phone"}
CLAIM_STATUSES = {"draft": "Draft", "submitted": "Submitted"}


class TaxReliefSettings(db.Model):
    """The single row saying which scheme the organisation claims under."""

    __tablename__ = "taxrelief_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    scheme: Mapped[str] = mapped_column(String(20), default="none")
    hmrc_reference: Mapped[str] = mapped_column(String(20), default="")  # the charity's HMRC reference
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Declaration(db.Model):
    """A donor's Gift Aid declaration: what it covers, how it was made, the exact words, and its cancellation."""

    __tablename__ = "gift_aid_declarations"

    id: Mapped[int] = mapped_column(primary_key=True)
    donor_id: Mapped[int] = mapped_column(ForeignKey("donors.id", ondelete="CASCADE"), index=True)
    scope: Mapped[str] = mapped_column(String(20))
    method: Mapped[str] = mapped_column(String(10))
    wording_version: Mapped[str] = mapped_column(String(20))
    wording: Mapped[str] = mapped_column(Text)
    made_on: Mapped[date]
    gift_id: Mapped[int | None] = mapped_column(ForeignKey("gifts.id", ondelete="SET NULL"))  # "this gift only"
    confirmation_sent_at: Mapped[datetime | None]  # oral declarations: the written confirmation
    cancelled_on: Mapped[date | None]
    cancel_reason: Mapped[str] = mapped_column(String(200), default="")
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    recorded_by = relationship("User")

    @property
    def scope_label(self) -> str:
        return SCOPES.get(self.scope, self.scope)

    @property
    def method_label(self) -> str:
        return METHODS.get(self.method, self.method)


class GiftExclusion(db.Model):
    """A gift staff marked as paid by a company (a company's money is not an individual's gift)."""

    __tablename__ = "gift_aid_exclusions"

    gift_id: Mapped[int] = mapped_column(ForeignKey("gifts.id", ondelete="CASCADE"), primary_key=True)
    reason: Mapped[str] = mapped_column(String(20), default="company")
    noted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RewardValue(db.Model):
    """What a loyalty reward is worth to the donor, for HMRC's donor-benefit limits."""

    __tablename__ = "gift_aid_reward_values"

    reward_id: Mapped[int] = mapped_column(ForeignKey("loyalty_rewards.id", ondelete="CASCADE"), primary_key=True)
    value_minor: Mapped[int] = mapped_column(default=0)


class Benefit(db.Model):
    """Something of value a donor received (a redeemed reward, a ticket): counts against the benefit limits."""

    __tablename__ = "gift_aid_benefits"
    __table_args__ = (Index("ix_gift_aid_benefits_donor_received", "donor_id", "received_on"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    donor_id: Mapped[int] = mapped_column(ForeignKey("donors.id", ondelete="CASCADE"))
    received_on: Mapped[date]
    value_minor: Mapped[int]
    description: Mapped[str] = mapped_column(String(200))
    redemption_id: Mapped[int | None] = mapped_column(ForeignKey("loyalty_redemptions.id", ondelete="SET NULL"),
                                                       unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Claim(db.Model):
    """One HMRC claim schedule (at most 1,000 lines). A build larger than that makes several, numbered by part."""

    __tablename__ = "gift_aid_claims"

    id: Mapped[int] = mapped_column(primary_key=True)
    period_start: Mapped[date]
    period_end: Mapped[date]
    part: Mapped[int] = mapped_column(default=1)
    parts: Mapped[int] = mapped_column(default=1)
    status: Mapped[str] = mapped_column(String(12), default="draft", index=True)
    line_count: Mapped[int] = mapped_column(default=0)
    gift_count: Mapped[int] = mapped_column(default=0)
    total_minor: Mapped[int] = mapped_column(default=0)
    tax_minor: Mapped[int] = mapped_column(default=0)
    adjustment_minor: Mapped[int] = mapped_column(default=0)  # tax repaid on refunded gifts of earlier claims
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    submitted_at: Mapped[datetime | None]

    created_by = relationship("User")

    @property
    def status_label(self) -> str:
        return CLAIM_STATUSES.get(self.status, self.status)


class ClaimGift(db.Model):
    """A gift on a claim's schedule line. A gift is on at most one claim (the primary key)."""

    __tablename__ = "gift_aid_claim_gifts"
    __table_args__ = (Index("ix_gift_aid_claim_gifts_claim_line", "claim_id", "line_no"),)

    gift_id: Mapped[int] = mapped_column(ForeignKey("gifts.id", ondelete="CASCADE"), primary_key=True)
    claim_id: Mapped[int] = mapped_column(ForeignKey("gift_aid_claims.id", ondelete="CASCADE"))
    line_no: Mapped[int]


class ClaimLine(db.Model):
    """A schedule line as it will be exported: a donor's gifts in one period, or an aggregate of small gifts."""

    __tablename__ = "gift_aid_claim_lines"

    claim_id: Mapped[int] = mapped_column(ForeignKey("gift_aid_claims.id", ondelete="CASCADE"), primary_key=True)
    line_no: Mapped[int] = mapped_column(primary_key=True)
    donor_id: Mapped[int | None] = mapped_column(ForeignKey("donors.id", ondelete="SET NULL"))
    title: Mapped[str] = mapped_column(String(4), default="")
    first_name: Mapped[str] = mapped_column(String(35), default="")
    last_name: Mapped[str] = mapped_column(String(35), default="")
    house: Mapped[str] = mapped_column(String(40), default="")
    postcode: Mapped[str] = mapped_column(String(8), default="")
    aggregated: Mapped[str] = mapped_column(String(35), default="")
    sponsored: Mapped[bool] = mapped_column(default=False)
    donation_date: Mapped[date]
    amount_minor: Mapped[int]


class Adjustment(db.Model):
    """Tax to pay back because a claimed gift was refunded; settled by the next claim built."""

    __tablename__ = "gift_aid_adjustments"

    id: Mapped[int] = mapped_column(primary_key=True)
    gift_id: Mapped[int] = mapped_column(ForeignKey("gifts.id", ondelete="CASCADE"), unique=True)
    donor_id: Mapped[int] = mapped_column(ForeignKey("donors.id", ondelete="CASCADE"), index=True)
    claim_id: Mapped[int | None] = mapped_column(ForeignKey("gift_aid_claims.id", ondelete="SET NULL"))
    amount_minor: Mapped[int]
    tax_minor: Mapped[int]
    settled_by_claim_id: Mapped[int | None] = mapped_column(ForeignKey("gift_aid_claims.id", ondelete="SET NULL"),
                                                            index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MonthFigure(db.Model):
    """Gift Aid claimed and eligible-but-unclaimed for the gifts of one month, computed by a job (the rules
    need every gift of the year, too slow for a page)."""

    __tablename__ = "gift_aid_month_figures"

    month: Mapped[date] = mapped_column(primary_key=True)
    claimed_minor: Mapped[int] = mapped_column(default=0)
    unclaimed_minor: Mapped[int] = mapped_column(default=0)
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)
