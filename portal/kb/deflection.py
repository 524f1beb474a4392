"""Tickets avoided: donors who read an article the ticket form suggested and then opened no ticket."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from portal.extensions import db
from portal.journey.models import Touchpoint
from portal.kb.models import ArticleView
from portal.timeutil import utcnow

# "Tickets avoided": see tickets_avoided() for the full definition.
DEFLECTION_WINDOW = timedelta(hours=24)


@dataclass
class DeflectionFigures:
    deflections: int      # donors who opened an article suggested beside the ticket form (counted per 24 h episode)
    avoided: int          # ... and then opened no ticket within 24 hours
    pending: int          # episodes whose 24 hours have not passed yet (not counted either way)


def tickets_avoided(*, since: datetime, until: datetime | None = None) -> DeflectionFigures:
    """Tickets avoided, defined as follows.

    A *deflection* starts when a signed-in donor opens an article that the ticket form suggested while they
    typed a subject (a view with source "ticket_form"). Further such openings by the same donor within 24
    hours belong to the same deflection. The deflection counts as a *ticket avoided* when that donor opens
    no support ticket (a `ticket_opened` touchpoint) in the 24 hours after it started. Deflections that
    started less than 24 hours ago are reported as pending.
    """
    until = until or utcnow()
    views = db.session.execute(
        select(ArticleView.donor_id, ArticleView.viewed_at).where(
            ArticleView.source == "ticket_form", ArticleView.donor_id.is_not(None),
            ArticleView.viewed_at >= since, ArticleView.viewed_at < until)
        .order_by(ArticleView.donor_id, ArticleView.viewed_at)).all()
    episodes: list[tuple[int, datetime]] = []
    for donor_id, viewed_at in views:
        if episodes and episodes[-1][0] == donor_id and viewed_at < episodes[-1][1] + DEFLECTION_WINDOW:
            continue
        episodes.append((donor_id, viewed_at))
    if not episodes:
        return DeflectionFigures(0, 0, 0)
    donor_ids = sorted({donor for donor, _ in episodes})
    tickets: dict[int, list[datetime]] = {}
    for start in range(0, len(donor_ids), 500):
        for donor_id, occurred_at in db.session.execute(select(Touchpoint.donor_id, Touchpoint.occurred_at).where(
                Touchpoint.kind == "ticket_opened", Touchpoint.donor_id.in_(donor_ids[start:start + 500]),
                Touchpoint.occurred_at >= since)):
            tickets.setdefault(donor_id, []).append(occurred_at)
    now = utcnow()
    avoided = pending = 0
    for donor_id, started in episodes:
        ends = started + DEFLECTION_WINDOW
        if any(started <= at <= ends for at in tickets.get(donor_id, ())):
            continue
        if ends > now:
            pending += 1
        else:
            avoided += 1
    return DeflectionFigures(deflections=len(episodes) - pending, avoided=avoided, pending=pending)
