"""Giving's part in merging, erasing and exporting a donor (see portal.record_keepers).

Erasure keeps every gift and plan as it is (amount, date, fund): the accounts and every report still add
up, and the rows stay attached to the donor record, which the erasure makes anonymous."""
from __future__ import annotations

from sqlalchemy import delete, select, update

from portal import record_keepers as records
from portal.extensions import db
from portal.giving.models import DonorStats, Gift, RecurringPlan
from portal.giving.services import refresh_stats


def move(from_id: int, to_id: int) -> None:
    records.reassign(Gift, from_id, to_id)
    records.reassign(RecurringPlan, from_id, to_id)
    db.session.execute(delete(DonorStats).where(DonorStats.donor_id == from_id))
    refresh_stats(to_id)


def erase(donor_id: int) -> None:
    """A plan's end reason is the donor's own words; the rest of a gift or plan is accounting."""
    db.session.execute(update(RecurringPlan).where(RecurringPlan.donor_id == donor_id, RecurringPlan.end_reason != "")
                       .values(end_reason="(erased)"))


def export(donor_id: int) -> dict[str, list[dict]]:
    gifts = db.session.scalars(select(Gift).where(Gift.donor_id == donor_id).order_by(Gift.received_at, Gift.id))
    plans = db.session.scalars(select(RecurringPlan).where(RecurringPlan.donor_id == donor_id).order_by(RecurringPlan.id))
    return {
        "gifts": records.rows(gifts, ("id", "received_at", "currency", "fund", "campaign", "method", "status", "reference"),
                              amount=lambda g: f"{g.amount_minor / 100:.2f}"),
        "plans": records.rows(plans, ("id", "kind", "currency", "interval", "fund", "description", "status", "started_at",
                                      "renews_on", "ended_at", "end_reason"),
                              amount=lambda p: f"{p.amount_minor / 100:.2f}"),
    }


def register() -> None:
    records.register("giving", move=move, erase=erase, export=export)
