"""Tickets and staff tasks: the shared services the portal, workflows, surveys and risk alerts call."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Callable

from sqlalchemy import Select, and_, case, func, or_, select
from sqlalchemy.orm import joinedload, lazyload

from portal.audit import services as audit
from portal.auth.models import STAFF_ROLES, User
from portal.extensions import db
from portal.journey import services as journey
from portal.params import parse_id
from portal.settings.services import settings_row
from portal.support.models import TASK_STATUSES, TICKET_STATUSES, SupportSettings, Task, TaskComment, Ticket, TicketMessage
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


# ---------------------------------------------------------------- tasks

_SOURCES: dict[str, tuple[str, Callable[[int], tuple[str, str | None] | None]]] = {}


def register_source(prefix: str, label: str, describe: Callable[[int], tuple[str, str | None] | None]) -> None:
    """What caused a task, e.g. prefix "survey_response": describe(id) returns (text, url) for the task page."""
    _SOURCES[prefix] = (label, describe)


def source_label(source: str) -> str:
    prefix, _, _ = source.partition(":")
    return _SOURCES[prefix][0] if prefix in _SOURCES else ""


def describe_source(source: str) -> tuple[str, str | None] | None:
    prefix, _, ident = source.partition(":")
    if prefix not in _SOURCES or not ident.isdigit():
        return None
    return _SOURCES[prefix][1](int(ident))


def renewal_task_key(plan_id: int, renews_on: date) -> str:
    """The dedupe key of the one check-in task a renewal gets, whichever job (a workflow, the check-in
    job) raises it first: the others find the same task instead of adding their own."""
    return f"renewal:{plan_id}:{renews_on.isoformat()}"


def renewal_task_due(renews_on: date, now: datetime, wanted: datetime | None = None) -> datetime:
    """When a renewal's check-in task falls due: as wanted, but never later than midday the day before
    the renewal (a call after it is too late), and never in the past."""
    latest = datetime.combine(renews_on - timedelta(days=1), time(12))
    return max(now, min(wanted or latest, latest))


def create_task(title: str, *, donor_id: int | None = None, details: str = "", kind: str = "follow_up",
                assignee_id: int | None = None, assignee_role: str = "", due_at: datetime | None = None,
                source: str = "", dedupe_key: str | None = None, created_by=None) -> Task:
    """Add a task to the current transaction (no commit). A repeated dedupe_key returns the existing task."""
    return create_tasks([dict(title=title, donor_id=donor_id, details=details, kind=kind, assignee_id=assignee_id,
                              assignee_role=assignee_role, due_at=due_at, source=source, dedupe_key=dedupe_key,
                              created_by=created_by)])[0]


def create_tasks(specs: list[dict]) -> list[Task]:
    """create_task for many at once (a nightly job may raise hundreds): one lookup, one flush, no commit.
    Each spec takes create_task's arguments; the tasks come back in the same order."""
    for spec in specs:
        if not spec.get("title", "").strip():
            raise SupportError("Give the task a title.", "title")
    keys = [spec["dedupe_key"] for spec in specs if spec.get("dedupe_key")]
    known: dict[str, Task] = {}
    for start in range(0, len(keys), 500):
        known.update((task.dedupe_key, task) for task in db.session.scalars(
            select(Task).where(Task.dedupe_key.in_(keys[start:start + 500]))))
    tasks = []
    for spec in specs:
        key = spec.get("dedupe_key")
        if key and key in known:
            tasks.append(known[key])
            continue
        task = Task(title=spec["title"].strip()[:200], donor_id=spec.get("donor_id"), details=spec.get("details", ""),
                    kind=spec.get("kind", "follow_up"), assignee_id=spec.get("assignee_id"),
                    assignee_role=spec.get("assignee_role", ""), due_at=spec.get("due_at"), source=spec.get("source", ""),
                    dedupe_key=key, created_by_id=getattr(spec.get("created_by"), "id", None))
        db.session.add(task)
        if key:
            known[key] = task
        tasks.append(task)
    db.session.flush()
    return tasks


def add_task(title: str, *, actor, details: str = "", donor_id: int | None = None, assignee_id: int | None = None,
             due_at: datetime | None = None) -> Task:
    """A task staff write by hand: for a colleague, or for their own team when nobody is named."""
    assignee = _staff_user(assignee_id)
    task = create_task(title, donor_id=donor_id, details=details.strip(), assignee_id=getattr(assignee, "id", None),
                       assignee_role=actor.role, due_at=due_at, source="", created_by=actor)
    db.session.commit()
    return task


def team_roles(user: User) -> tuple[str, ...]:
    """The teams whose shared tasks a person sees: admins see every team."""
    return STAFF_ROLES if user.role == "admin" else (user.role,)


TASK_VIEWS = {"mine": "My tasks", "team": "Team tasks", "all": "Everyone's"}


@dataclass
class TaskPage:
    tasks: list[Task]
    total: int
    overdue: int
    page: int
    pages: int


def _inbox_query(user: User, view: str) -> Select:
    query = select(Task)
    if view == "mine":
        query = query.where(Task.assignee_id == user.id)
    elif view == "team":
        query = query.where(or_(Task.assignee_id == user.id,
                                and_(Task.assignee_id.is_(None), Task.assignee_role.in_(team_roles(user)))))
    return query


def task_inbox(user: User, *, view: str = "mine", status: str = "open", page: int = 1, per_page: int = 25,
               now: datetime | None = None) -> TaskPage:
    """Open tasks overdue first, then by due date (undated last); finished tasks newest first."""
    now = now or utcnow()
    query = _inbox_query(user, view if view in TASK_VIEWS else "mine")
    query = query.where(Task.status == ("open" if status == "open" else status if status in TASK_STATUSES else "open"))
    overdue_flag = case((Task.due_at < now, 0), else_=1)
    total, overdue = _count_with_overdue(query, now)
    overdue = overdue if status == "open" else 0
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    if status == "open":
        order = (overdue_flag, Task.due_at.is_(None), Task.due_at, Task.id)
    else:
        order = (Task.completed_at.desc(), Task.id.desc())
    tasks = _page_of(Task, query, order, page, per_page, Task.donor, Task.assignee)
    return TaskPage(list(tasks), total, overdue, page, pages)


def _page_of(model, query: Select, order, page: int, per_page: int, *people) -> list:
    """One page of rows: sort just the ids, then load those rows with their donor and staff member
    (two queries, not one per row; a donor's tags are not needed here)."""
    from portal.donors.models import Donor

    ids = db.session.scalars(query.with_only_columns(model.id).order_by(*order)
                             .limit(per_page).offset((page - 1) * per_page)).all()
    options = []
    for relationship in people:
        loader = joinedload(relationship)
        if relationship.property.mapper.class_ is Donor:
            loader = loader.options(lazyload(Donor.tags), lazyload(Donor.interests))
        options.append(loader)
    rows = {row.id: row for row in db.session.scalars(select(model).where(model.id.in_(ids)).options(*options)).unique()}
    return [rows[i] for i in ids]


def open_task_counts(user: User, now: datetime | None = None) -> dict[str, int]:
    now = now or utcnow()
    total, overdue = _count_with_overdue(_inbox_query(user, "team").where(Task.status == "open"), now)
    return {"open": total, "overdue": overdue}


def _count_with_overdue(query: Select, now: datetime) -> tuple[int, int]:
    rows = query.with_only_columns(Task.id, Task.due_at).subquery()
    total, overdue = db.session.execute(
        select(func.count(), func.coalesce(func.sum(case((rows.c.due_at < now, 1), else_=0)), 0)).select_from(rows)).one()
    return int(total), int(overdue)


def get_task(task_id: int) -> Task | None:
    return db.session.get(Task, task_id)


def tasks_for_donor(donor_id: int, *, limit: int = 5) -> list[Task]:
    return list(db.session.scalars(
        select(Task).where(Task.donor_id == donor_id, Task.status == "open").order_by(Task.due_at.is_(None), Task.due_at).limit(limit)))


def assignable_staff() -> list[User]:
    return list(db.session.scalars(
        select(User).where(User.role.in_(STAFF_ROLES), User.active.is_(True)).order_by(User.name, User.email)))


def _staff_user(user_id: int | None) -> User | None:
    if user_id is None:
        return None
    user = db.session.get(User, user_id)
    if user is None or not user.is_staff or not user.active:
        raise SupportError("Choose an active staff member.", "assignee_id")
    return user


def assign_task(task: Task, assignee_id: int | None, *, actor) -> Task:
    if task.status != "open":
        raise SupportError("Only an open task can be reassigned.", "assignee_id")
    user = _staff_user(assignee_id)
    if user is None and not task.assignee_role:
        raise SupportError("This task has no team to go back to; assign it to someone.", "assignee_id")
    task.assignee_id = user.id if user else None
    who = (user.name or user.email) if user else "the team"
    task.comments.append(TaskComment(author_id=actor.id, body=f"Assigned to {who}."))
    db.session.commit()
    return task


def comment_on_task(task: Task, body: str, *, actor) -> TaskComment:
    body = body.strip()
    if not body:
        raise SupportError("Write a comment.", "body")
    comment = TaskComment(task=task, author_id=actor.id, body=body[:5000])
    db.session.add(comment)
    db.session.commit()
    return comment


TASK_OUTCOMES = {
    "contacted": "Spoke with the donor",
    "left_message": "Left a message",
    "resolved": "Issue resolved",
    "no_action": "No action needed",
    "unreachable": "Couldn't reach the donor",
}


def complete_task(task: Task, outcome: str, *, note: str = "", actor) -> Task:
    if task.status != "open":
        raise SupportError("This task is already closed.", "outcome")
    if outcome not in TASK_OUTCOMES:
        raise SupportError("Choose an outcome.", "outcome")
    note = note.strip()
    task.status = "done"
    task.outcome = TASK_OUTCOMES[outcome] + (f": {note}" if note else "")
    task.completed_at = utcnow()
    if task.assignee_id is None:
        task.assignee_id = actor.id
    db.session.commit()
    return task


def close_task(task: Task, *, outcome: str, status: str = "done") -> None:
    """Close a task because its cause was dealt with elsewhere (no commit)."""
    if task.status == "open":
        task.status, task.outcome, task.completed_at = status, outcome, utcnow()


def reopen_task(task: Task, *, actor) -> Task:
    if task.status == "open":
        raise SupportError("This task is already open.", "outcome")
    task.status, task.completed_at = "open", None
    task.comments.append(TaskComment(author_id=actor.id, body=f"Reopened (was: {task.outcome or task.status})."))
    db.session.commit()
    return task


# ---------------------------------------------------------------- tickets

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
    assignee = _staff_user(assignee_id)
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
    from portal.engagement.services import queue_email
    from portal.settings.services import organisation
    from portal.tokens import external_url

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
    user = _staff_user(assignee_id)
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
    from portal.donors.models import Donor

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
    tickets = _page_of(Ticket, query, order, page, per_page, Ticket.donor, Ticket.assignee)
    return TicketPage(list(tickets), total, page, pages)


def ticket_counts() -> dict[str, int]:
    rows = db.session.execute(select(Ticket.status, func.count()).where(Ticket.status != "closed").group_by(Ticket.status)).all()
    return dict(rows)

