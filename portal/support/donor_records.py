"""Support's part in merging, erasing and exporting a donor (see portal.record_keepers)."""
from __future__ import annotations

from sqlalchemy import select, update

from portal import record_keepers as records
from portal.extensions import db
from portal.support.models import Task, TaskComment, Ticket, TicketMessage


def move(from_id: int, to_id: int) -> None:
    records.reassign(Ticket, from_id, to_id)
    records.reassign(Task, from_id, to_id)


def erase(donor_id: int) -> None:
    """Tickets and tasks stay counted (response times, workload) without the words: a subject, a message or a
    task title quotes or names the donor."""
    tickets = select(Ticket.id).where(Ticket.donor_id == donor_id)
    tasks = select(Task.id).where(Task.donor_id == donor_id)
    db.session.execute(update(Ticket).where(Ticket.donor_id == donor_id).values(subject="(erased)"))
    db.session.execute(update(TicketMessage).where(TicketMessage.ticket_id.in_(tickets)).values(body="(erased)"))
    db.session.execute(update(Task).where(Task.donor_id == donor_id).values(title="Task about an erased donor", details="", outcome=""))
    db.session.execute(update(TaskComment).where(TaskComment.task_id.in_(tasks)).values(body="(erased)"))


def export(donor_id: int) -> dict[str, list[dict]]:
    tickets = list(db.session.scalars(select(Ticket).where(Ticket.donor_id == donor_id).order_by(Ticket.created_at)))
    messages = db.session.scalars(select(TicketMessage).where(TicketMessage.ticket_id.in_([t.id for t in tickets]),
                                                              TicketMessage.internal.is_(False))
                                  .order_by(TicketMessage.ticket_id, TicketMessage.created_at)) if tickets else []
    return {
        "tickets": records.rows(tickets, ("id", "created_at", "subject", "status", "channel", "closed_at")),
        "ticket_messages": records.rows(messages, ("ticket_id", "created_at", "body"),
                                        author=lambda m: "you" if m.from_donor else "our team"),
    }


def register() -> None:
    records.register("support", move=move, erase=erase, export=export)
