"""Tickets: opened by donors or staff, the conversation, assigning and closing, and the queue."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select

from portal.auth.models import User
from portal.donors.models import Donor
from portal.engagement.services import queue_email
from portal.extensions import db
from portal.journey import services as journey
from portal.params import parse_id
from portal.settings.services import organisation
from portal.support.inbox import page_of, staff_user
from portal.support.models import TICKET_STATUSES, Ticket, TicketMessage
from portal.support.service_levels import SupportError
from portal.timeutil import utcnow
from portal.tokens import external_url


def get_ticket(ticket_id: int) -> Ticket | None:
    return db.session.get(Ticket, ticket_id)


def open_ticket(donor_id: int, subject: str, body: str, *, channel: str = "portal", opened_by_staff=None,
                assignee_id: int | None = None) -> Ticket:
    """A new ticket with its first message and a ticket_opened touchpoint, committed together.

    Opened by staff (e.g. from a call), the donor has already been heard, so the first-response timer
    does not run; opened by the donor, it starts now."""
    subject, body = subject.strip(), body.strip()
    if not subject:
        raise SupportError("Enter a subject.", "subject")
    if not body:
        raise SupportError("Tell us how we can help.", "body")
    assignee = staff_user(assignee_id)
    now = utcnow()
    ticket = Ticket(donor_id=donor_id, subject=subject[:200], channel=channel,
                    status="open" if opened_by_staff else "new", assignee_id=getattr(assignee, "id", None),
                    created_at=now, first_response_at=now if opened_by_staff else None,
                    awaiting_reply_since=None if opened_by_staff else now)
    ticket.messages.append(TicketMessage(body=body, from_donor=opened_by_staff is None, created_at=now,
                                         author_user_id=getattr(opened_by_staff, "id", None)))
    db.session.add(ticket)
    db.session.flush()
    journey.record(donor_id, "ticket_opened", subject[:200], channel=channel, actor=opened_by_staff,
                   data={"ticket_id": ticket.id})
    db.session.commit()
    return ticket


def add_donor_reply(ticket: Ticket, body: str) -> TicketMessage:
    if not body.strip():
        raise SupportError("Write a message.", "body")
    now = utcnow()
    if ticket.status == "closed":
        ticket.status = "open"
        ticket.reopened_count += 1
        ticket.closed_at = None
        journey.record(ticket.donor_id, "ticket_reopened", ticket.subject, channel="portal",
                       data={"ticket_id": ticket.id, "reopened_count": ticket.reopened_count})
    elif ticket.status == "waiting":
        ticket.status = "open"
    if ticket.awaiting_reply_since is None:
        ticket.awaiting_reply_since = now
    message = TicketMessage(ticket=ticket, body=body.strip(), from_donor=True, created_at=now)
    db.session.add(message)
    db.session.commit()
    return message


REPLY_NEXT_STATUS = {"waiting": "Waiting on donor", "open": "Keep open", "closed": "Close the ticket"}


def staff_reply(ticket: Ticket, body: str, *, actor, next_status: str = "waiting") -> TicketMessage:
    """A reply the donor sees: emailed to them (transactional), on their timeline, timers stopped."""
    body = body.strip()
    if not body:
        raise SupportError("Write a reply.", "body")
    if next_status not in REPLY_NEXT_STATUS:
        raise SupportError("Choose what happens to the ticket next.", "next_status")
    now = utcnow()
    message = TicketMessage(ticket=ticket, body=body[:20000], author_user_id=actor.id, created_at=now)
    db.session.add(message)
    if ticket.first_response_at is None:
        ticket.first_response_at = now
    ticket.awaiting_reply_since = None
    if ticket.assignee_id is None:
        ticket.assignee_id = actor.id
    ticket.updated_at = now
    db.session.flush()
    donor = ticket.donor
    journey.record(ticket.donor_id, "ticket_replied", ticket.subject, channel="email", actor=actor,
                   data={"ticket_id": ticket.id, "message_id": message.id})
    if donor.email:
        org = organisation()
        signature = actor.name or org.name
        text = (f"Dear {donor.salutation_name},\n\n{body}\n\n{signature}\n{org.name}\n\n"
                f"You can read the whole conversation and reply at {external_url('/me/support')}\n"
                f"(ticket #{ticket.id}: {ticket.subject})\n")
        queue_email(donor.email, f"Re: {ticket.subject} [ticket #{ticket.id}]", text, donor_id=donor.id,
                    category="transactional", purpose="ticket_reply", idempotency_key=f"ticket_reply:{message.id}")
    if next_status == "closed":
        _close(ticket, actor=actor, now=now)
    else:
        ticket.status = next_status
    db.session.commit()
    return message


def add_internal_note(ticket: Ticket, body: str, *, actor) -> TicketMessage:
    body = body.strip()
    if not body:
        raise SupportError("Write a note.", "body")
    message = TicketMessage(ticket=ticket, body=body[:20000], author_user_id=actor.id, internal=True)
    db.session.add(message)
    db.session.commit()
    return message


def assign_ticket(ticket: Ticket, assignee_id: int | None, *, actor) -> Ticket:
    user = staff_user(assignee_id)
    ticket.assignee_id = user.id if user else None
    if user:
        note = "Assigned to you." if user.id == actor.id else f"Assigned to {user.name or user.email}."
    else:
        note = "Unassigned."
    db.session.add(TicketMessage(ticket=ticket, body=note, author_user_id=actor.id, internal=True))
    db.session.commit()
    return ticket


def _close(ticket: Ticket, *, actor, now: datetime) -> None:
    ticket.status, ticket.closed_at, ticket.awaiting_reply_since = "closed", now, None
    journey.record(ticket.donor_id, "ticket_closed", ticket.subject, actor=actor, channel="staff",
                   data={"ticket_id": ticket.id})


def change_ticket_status(ticket: Ticket, status: str, *, actor) -> Ticket:
    if status not in TICKET_STATUSES or status == "new":
        raise SupportError("Choose open, waiting on donor or closed.", "status")
    if status == ticket.status:
        return ticket
    now = utcnow()
    if status == "closed":
        _close(ticket, actor=actor, now=now)
    else:
        if ticket.status == "closed":
            ticket.reopened_count += 1
            ticket.closed_at = None
            journey.record(ticket.donor_id, "ticket_reopened", ticket.subject, actor=actor, channel="staff",
                           data={"ticket_id": ticket.id, "reopened_count": ticket.reopened_count})
        ticket.status = status
    ticket.updated_at = now
    db.session.commit()
    return ticket


def tickets_for_donor(donor_id: int) -> list[Ticket]:
    return list(db.session.scalars(select(Ticket).where(Ticket.donor_id == donor_id).order_by(Ticket.updated_at.desc())))


@dataclass
class TicketFilter:
    status: str = "active"
    assignee: str = ""  # "" anyone | "me" | "none"
    q: str = ""


TICKET_STATUS_FILTERS = {"active": "Not closed", "new": "New", "open": "Open", "waiting": "Waiting on donor",
                         "closed": "Closed", "all": "All"}


@dataclass
class TicketPage:
    tickets: list[Ticket]
    total: int
    page: int
    pages: int


def ticket_queue(filters: TicketFilter, *, user: User, page: int = 1, per_page: int = 25) -> TicketPage:
    """Tickets waiting longest for a reply first, then the oldest."""
    query = select(Ticket)
    if filters.status == "active":
        query = query.where(Ticket.status != "closed")
    elif filters.status in TICKET_STATUSES:
        query = query.where(Ticket.status == filters.status)
    if filters.assignee == "me":
        query = query.where(Ticket.assignee_id == user.id)
    elif filters.assignee == "none":
        query = query.where(Ticket.assignee_id.is_(None))
    text = filters.q.strip()
    if text:
        if text.lstrip("#").isdigit():
            query = query.where(Ticket.id == (parse_id(text) or 0))  # a number no id can have matches nothing
        else:
            like = f"%{text.lower()}%"
            query = query.where(or_(func.lower(Ticket.subject).like(like),
                                    Ticket.donor_id.in_(select(Donor.id).where(Donor.email == text.lower()))))
    total = db.session.scalar(select(func.count()).select_from(query.with_only_columns(Ticket.id).subquery()))
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    if filters.status == "closed":
        order = (Ticket.closed_at.desc(), Ticket.id.desc())
    else:
        order = (Ticket.awaiting_reply_since.is_(None), Ticket.awaiting_reply_since, Ticket.created_at, Ticket.id)
    tickets = page_of(Ticket, query, order, page, per_page, Ticket.donor, Ticket.assignee)
    return TicketPage(list(tickets), total, page, pages)


def ticket_counts() -> dict[str, int]:
    rows = db.session.execute(select(Ticket.status, func.count()).where(Ticket.status != "closed").group_by(Ticket.status)).all()
    return dict(rows)
