"""Support's settings and service levels: the first-response and resolution targets, and the tickets that
miss them.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, and_, or_, select

from portal.audit import services as audit
from portal.extensions import db
from portal.settings.services import settings_row
from portal.support.models import SupportSettings, Ticket
from portal.timeutil import utcnow


class SupportError(ValueError):
    def __init__(self, message: str, field_name: str | None = None):
        super().__init__(message)
        self.field_name = field_name


# ---------------------------------------------------------------- settings

def settings() -> SupportSettings:
    return settings_row(SupportSettings)


def update_settings(*, first_response_hours: int, resolution_hours: int, actor=None) -> SupportSettings:
    if not 1 <= first_response_hours <= 24 * 30:
        raise SupportError("Enter between 1 and 720 hours.", "first_response_hours")
    if not 1 <= resolution_hours <= 24 * 90:
        raise SupportError("Enter between 1 and 2160 hours.", "resolution_hours")
    if resolution_hours < first_response_hours:
        raise SupportError("Resolution can't be due before the first reply.", "resolution_hours")
    row = settings()
    before = audit.snapshot(row, ("first_response_hours", "resolution_hours"))
    row.first_response_hours, row.resolution_hours = first_response_hours, resolution_hours
    audit.record_settings_change("Ticket service levels", before, row, actor=actor)
    db.session.commit()
    return row


# ---------------------------------------------------------------- service levels

@dataclass(frozen=True)
class Timer:
    label: str
    due_at: datetime | None
    met_at: datetime | None
    breached: bool
    paused: bool = False


def sla_timers(ticket: Ticket, *, now: datetime | None = None, levels: SupportSettings | None = None) -> tuple[Timer, Timer]:
    """The first-response timer runs while the donor waits for us; the resolution timer from opening to closing
    (never overdue while we wait on the donor)."""
    now = now or utcnow()
    levels = levels or settings()
    if ticket.awaiting_reply_since is not None:
        due = ticket.awaiting_reply_since + timedelta(hours=levels.first_response_hours)
        first = Timer("Reply due", due, None, now > due)
    else:
        first = Timer("Replied", None, ticket.first_response_at, False)
    resolve_due = ticket.created_at + timedelta(hours=levels.resolution_hours)
    if ticket.status == "closed":
        resolution = Timer("Resolved", resolve_due, ticket.closed_at, bool(ticket.closed_at and ticket.closed_at > resolve_due))
    else:
        resolution = Timer("Resolve by", resolve_due, None, ticket.status != "waiting" and now > resolve_due,
                           paused=ticket.status == "waiting")
    return first, resolution


@dataclass(frozen=True)
class Breach:
    ticket_id: int
    donor_id: int
    subject: str
    timer: str  # first_response | resolution
    since: datetime  # when the clock that ran out started; identifies one breach of one ticket


def sla_breaches(now: datetime | None = None) -> list[Breach]:
    """Every open ticket past a service level right now: unanswered too long, or unresolved too long."""
    now = now or utcnow()
    levels = settings()
    first_cutoff = now - timedelta(hours=levels.first_response_hours)
    resolution_cutoff = now - timedelta(hours=levels.resolution_hours)
    rows = db.session.execute(
        select(Ticket.id, Ticket.donor_id, Ticket.subject, Ticket.awaiting_reply_since, Ticket.created_at, Ticket.status)
        .where(Ticket.status != "closed",
               or_(Ticket.awaiting_reply_since < first_cutoff,
                   and_(Ticket.status != "waiting", Ticket.created_at < resolution_cutoff)))
    ).all()
    breaches = []
    for ticket_id, donor_id, subject, awaiting, created, status in rows:
        if awaiting is not None and awaiting < first_cutoff:
            breaches.append(Breach(ticket_id, donor_id, subject, "first_response", awaiting))
        if status != "waiting" and created < resolution_cutoff:
            breaches.append(Breach(ticket_id, donor_id, subject, "resolution", created))
    return breaches


def troubled_ticket_donors(now: datetime, *, donor_id: int | None = None) -> Select:
    """Donor ids with an open ticket that is unanswered past the first-response level, or was reopened."""
    cutoff = now - timedelta(hours=settings().first_response_hours)
    return (select(Ticket.donor_id.label("donor_id"))
            .where(Ticket.status != "closed", or_(Ticket.awaiting_reply_since < cutoff, Ticket.reopened_count > 0),
                   *([Ticket.donor_id == donor_id] if donor_id is not None else []))
            .group_by(Ticket.donor_id))
