"""Loyalty's part in merging, erasing and exporting a donor (see portal.record_keepers)."""
from __future__ import annotations

from sqlalchemy import delete, select, update

from portal import record_keepers as records
from portal.extensions import db
from portal.loyalty.models import LoyaltyAccount, PointsEntry, Redemption
from portal.loyalty.services import refresh_tier


def move(from_id: int, to_id: int) -> None:
    """The ledger moves whole, so the survivor's balance is the sum of both; the tier is worked out again."""
    records.reassign(PointsEntry, from_id, to_id)
    records.reassign(Redemption, from_id, to_id)
    if db.session.get(LoyaltyAccount, to_id) is None:
        records.reassign(LoyaltyAccount, from_id, to_id)
    else:
        db.session.execute(delete(LoyaltyAccount).where(LoyaltyAccount.donor_id == from_id))
    db.session.expire_all()
    if db.session.get(LoyaltyAccount, to_id) is not None:
        refresh_tier(to_id)


def erase(donor_id: int) -> None:
    db.session.execute(update(Redemption).where(Redemption.donor_id == donor_id, Redemption.note != "").values(note="(erased)"))


def export(donor_id: int) -> dict[str, list[dict]]:
    ledger = db.session.scalars(select(PointsEntry).where(PointsEntry.donor_id == donor_id).order_by(PointsEntry.occurred_at, PointsEntry.id))
    redeemed = db.session.scalars(select(Redemption).where(Redemption.donor_id == donor_id).order_by(Redemption.created_at))
    return {
        "points_ledger": records.rows(ledger, ("occurred_at", "kind", "points", "reason")),
        "redemptions": records.rows(redeemed, ("created_at", "points", "fund", "status", "fulfilled_at"),
                                    reward=lambda r: r.reward.name),
    }


def register() -> None:
    records.register("loyalty", move=move, erase=erase, export=export)
