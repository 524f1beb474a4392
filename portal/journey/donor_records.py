"""The journey log's part in merging, erasing and exporting a donor (see portal.record_keepers)."""
from __future__ import annotations

from sqlalchemy import select, update

from portal import record_keepers as records
from portal.extensions import db
from portal.journey.models import Touchpoint
from portal.journey.services import kind_label


def move(from_id: int, to_id: int) -> None:
    records.reassign(Touchpoint, from_id, to_id)


def erase(donor_id: int) -> None:
    """Keep what happened and when (reports count touchpoints by kind and time); drop the words and details,
    which can quote the donor, name them or carry their address, and the actor's name (the donor's own
    portal actions carry it). A staff actor is still known by their user id."""
    db.session.execute(update(Touchpoint).where(Touchpoint.donor_id == donor_id).values(summary="", data=None, actor_label=""))


def export(donor_id: int) -> dict[str, list[dict]]:
    found = db.session.scalars(select(Touchpoint).where(Touchpoint.donor_id == donor_id).order_by(Touchpoint.occurred_at, Touchpoint.id))
    return {"touchpoints": records.rows(found, ("occurred_at", "channel", "summary"), kind=lambda t: kind_label(t.kind))}


def register() -> None:
    records.register("journey", move=move, erase=erase, export=export)
