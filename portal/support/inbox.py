"""Staff tasks: raised by hand or by other domains (once per dedupe key), the inbox, assigning and completing."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Callable

from sqlalchemy import Select, and_, case, func, or_, select
from sqlalchemy.orm import joinedload, lazyload

from portal.auth.models import STAFF_ROLES, User
from portal.donors.models import Donor
from portal.extensions import db
from portal.support.models import TASK_STATUSES, Task, TaskComment
from portal.support.service_levels import SupportError
from portal.timeutil import utcnow


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
    assignee = staff_user(assignee_id)
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
    tasks = page_of(Task, query, order, page, per_page, Task.donor, Task.assignee)
    return TaskPage(list(tasks), total, overdue, page, pages)


def page_of(model, query: Select, order, page: int, per_page: int, *people) -> list:
    """One page of rows: sort just the ids, then load those rows with their donor and staff member
    (two queries, not one per row; a donor's tags are not needed here)."""
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


def staff_user(user_id: int | None) -> User | None:
    if user_id is None:
        return None
    user = db.session.get(User, user_id)
    if user is None or not user.is_staff or not user.active:
        raise SupportError("Choose an active staff member.", "assignee_id")
    return user


def assign_task(task: Task, assignee_id: int | None, *, actor) -> Task:
    if task.status != "open":
        raise SupportError("Only an open task can be reassigned.", "assignee_id")
    user = staff_user(assignee_id)
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
