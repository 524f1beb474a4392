"""Workflows: a trigger, an optional segment condition, and ordered steps with delays.

A donor enters a workflow when a touchpoint of the trigger's kind is processed (a reactor, in the
touchpoint's processing transaction) or when a scheduled check finds them (inactive, birthday,
renewal due, no gift since). Each entry is a WorkflowRun row keyed by (workflow, occurrence), so the
same gift or the same birthday can never start a workflow twice. A run's next step and when it is
due live in the database; `run_due_workflow_steps` (every five minutes, and from the sweep) finds
due runs and `advance_runs` executes them. Nothing lives only in Redis.

Executing a step first moves the run past it with a guarded UPDATE (only one worker can), then
performs the step, then commits both together. Steps write only to the database: an email step
adds an outbox row with an idempotency key made of the run and step.

Triggers are in triggers.py, the step registry and the built-in steps in steps.py, and what the pages
report in reporting.py; this module edits workflows, enters donors and runs the due steps.
"""
from __future__ import annotations

import functools
import logging
from datetime import date, datetime, timedelta
from typing import Any

from flask import url_for
from sqlalchemy import and_, exists, extract, func, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from portal import jobs
from portal.auth.models import STAFF_ROLES
from portal.donors.models import Donor
from portal.engagement.models import EmailTemplate, Segment, Workflow, WorkflowRun, WorkflowRunStep, WorkflowStep
from portal.engagement.segments import services as segments
from portal.engagement.templates import rendering as templating
from portal.engagement.workflows.reporting import (RunPage, StepStats, WorkflowStats, all_workflows, runs_for_donor, runs_page,
                                                   step_stats, workflow_stats)
from portal.engagement.workflows.steps import STEPS, StepContext, StepKind, StepOption, StepResult, register_step
from portal.engagement.workflows.triggers import TRIGGERS, Trigger, renewal_occurrence, touchpoint_kinds
from portal.extensions import db
from portal.giving.models import DonorStats, RecurringPlan
from portal.journey.models import Touchpoint
from portal.settings.services import organisation
from portal.timeutil import to_local, utcnow

__all__ = [
    "TRIGGERS", "Trigger", "renewal_occurrence", "touchpoint_kinds",
    "STEPS", "StepContext", "StepKind", "StepOption", "StepResult", "register_step",
    "RunPage", "StepStats", "WorkflowStats", "all_workflows", "runs_for_donor", "runs_page", "step_stats", "workflow_stats",
    "describe_run", "WorkflowError", "save_workflow", "clean_step_config", "add_step", "update_step", "remove_step",
    "move_step", "set_enabled", "delete_workflow", "enabled_count", "donor_to_filter_by",
    "enter", "enter_many", "on_touchpoint", "enter_scheduled_workflows",
    "due_run_ids", "run_due_workflow_steps", "advance_runs", "advance_run",
]

log = logging.getLogger(__name__)

# Touchpoints dated further back than this are history being imported, not something happening now.
MAX_TRIGGER_AGE = timedelta(days=14)
RETRY_FAILED_STEP_AFTER = timedelta(hours=1)


def describe_run(run_id: int) -> tuple[str, str | None] | None:
    """What a workflow's task says caused it: the workflow, linked."""
    run = db.session.get(WorkflowRun, run_id)
    if run is None:
        return None
    return f"Workflow “{run.workflow.name}”", url_for("workflows.show", workflow_id=run.workflow_id)


# ---------------------------------------------------------------- editing workflows

class WorkflowError(ValueError):
    def __init__(self, message: str, field_name: str | None = None):
        super().__init__(message)
        self.field_name = field_name


def _days(value, label: str, field_name: str, *, required: bool, low: int = 0, high: int = 3650) -> int | None:
    if value in (None, ""):
        if required:
            raise WorkflowError(f"Enter {label}.", field_name)
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise WorkflowError(f"Enter {label} as a whole number.", field_name) from None
    if not low <= number <= high:
        raise WorkflowError(f"Enter {label} between {low} and {high:,}.", field_name)
    return number


def _rolled_back_on_error(function):
    """A WorkflowError rolls the transaction back before it reaches the caller, so nothing half-changed is kept."""
    @functools.wraps(function)
    def checked(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except WorkflowError:
            db.session.rollback()
            raise
    return checked


@_rolled_back_on_error
def save_workflow(workflow: Workflow | None, *, name: str, description: str, trigger: str, trigger_days=None,
                  segment_id: int | None = None, reentry_days=None, conversion_days=30) -> Workflow:
    """Create or update a workflow and commit; a WorkflowError names the field at fault and rolls back."""
    name = name.strip()
    if not name:
        raise WorkflowError("Give the workflow a name.", "name")
    if trigger not in TRIGGERS:
        raise WorkflowError("Choose what starts the workflow.", "trigger")
    spec = TRIGGERS[trigger]
    days = _days(trigger_days, spec.days_label.lower() or "a number of days", "trigger_days", required=bool(spec.days_label),
                 low=1) if spec.days_label else None
    if segment_id is not None and db.session.get(Segment, segment_id) is None:
        raise WorkflowError("Choose a segment from the list.", "segment_id")
    reentry = _days(reentry_days, "the days before someone may enter again", "reentry_days", required=False, low=1)
    conversion = _days(conversion_days, "the conversion window", "conversion_days", required=True, low=1, high=365)
    if workflow is None:
        workflow = Workflow()
        db.session.add(workflow)
    workflow.name, workflow.description = name[:120], description.strip()[:300]
    workflow.trigger, workflow.trigger_days, workflow.segment_id = trigger, days, segment_id
    workflow.reentry_days, workflow.conversion_days = reentry, conversion
    db.session.commit()
    return workflow


def clean_step_config(kind: str, raw: dict[str, Any]) -> dict[str, Any]:
    """A step's settings checked against its options; WorkflowError names the field at fault."""
    if kind not in STEPS:
        raise WorkflowError("Choose what the step does.", "kind")
    config: dict[str, Any] = {}
    for option in STEPS[kind].options:
        value = raw.get(option.name)
        value = value.strip() if isinstance(value, str) else value
        if value in (None, ""):
            if option.required:
                raise WorkflowError(f"Enter the {option.label.lower()}.", option.name)
            continue
        if option.type == "number":
            config[option.name] = _days(value, option.label.lower(), option.name, required=option.required)
        elif option.type == "template":
            template_id = _days(value, "a template", option.name, required=True, low=1, high=2**31)
            if db.session.get(EmailTemplate, template_id) is None:
                raise WorkflowError("Choose a template from the list.", option.name)
            config[option.name] = template_id
        elif option.type == "role":
            if value not in STAFF_ROLES:
                raise WorkflowError("Choose a team from the list.", option.name)
            config[option.name] = value
        elif option.type == "tag":
            config[option.name] = str(value).lower()[:60]
        else:
            errors = templating.check(str(value), "", "-")
            if errors.get("subject"):
                raise WorkflowError(errors["subject"], option.name)
            config[option.name] = str(value)[:200]
    return config


@_rolled_back_on_error
def add_step(workflow: Workflow, kind: str, delay_days, config: dict) -> WorkflowStep:
    """Commits; a WorkflowError rolls back."""
    delay = _days(delay_days, "the delay in days", "delay_days", required=True)
    cleaned = clean_step_config(kind, config)
    position = max((s.position for s in workflow.steps), default=0) + 1
    step = WorkflowStep(workflow=workflow, position=position, delay_days=delay, kind=kind, config=cleaned)
    db.session.add(step)
    db.session.commit()
    return step


@_rolled_back_on_error
def update_step(step: WorkflowStep, delay_days, config: dict) -> WorkflowStep:
    """Commits; a WorkflowError rolls back the half-changed step."""
    step.delay_days = _days(delay_days, "the delay in days", "delay_days", required=True)
    step.config = clean_step_config(step.kind, config)
    db.session.commit()
    return step


def remove_step(step: WorkflowStep) -> None:
    """Runs waiting for this step move on to the next one; its counts go with it."""
    workflow = step.workflow
    db.session.delete(step)
    db.session.flush()
    if workflow.enabled and not workflow.steps:
        workflow.enabled = False
    db.session.commit()


def move_step(step: WorkflowStep, direction: int) -> None:
    """Swap with the neighbour. Runs remember the position they reached, so only future steps reorder."""
    steps = list(step.workflow.steps)
    index = steps.index(step)
    other = index + direction
    if 0 <= other < len(steps):
        neighbour = steps[other]
        step.position, neighbour.position = neighbour.position, step.position
        db.session.commit()


def set_enabled(workflow: Workflow, enabled: bool) -> None:
    """Disabling stops new entries and pauses waiting steps; enabling resumes them."""
    if enabled and not workflow.steps:
        raise WorkflowError("Add at least one step before switching the workflow on.")
    workflow.enabled = enabled
    db.session.commit()


def delete_workflow(workflow: Workflow) -> None:
    db.session.delete(workflow)
    db.session.commit()


def enabled_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Workflow).where(Workflow.enabled.is_(True))) or 0


def donor_to_filter_by(donor_id: int | None) -> Donor | None:
    """The donor a workflow's runs are filtered by, if the id names one."""
    return db.session.get(Donor, donor_id) if isinstance(donor_id, int) else None


# ---------------------------------------------------------------- entering

def _first_step(workflow: Workflow) -> WorkflowStep | None:
    return workflow.steps[0] if workflow.steps else None


def _recently_entered(workflow: Workflow, donor_id_column, now: datetime):
    return exists().where(WorkflowRun.workflow_id == workflow.id, WorkflowRun.donor_id == donor_id_column,
                          WorkflowRun.entered_at >= now - timedelta(days=workflow.reentry_days))


def enter(workflow: Workflow, donor_id: int, occurrence_key: str, *, touchpoint_id: int | None = None,
          now: datetime | None = None) -> WorkflowRun | None:
    """Start a run unless this occurrence already started one, the donor is outside the segment,
    or they entered too recently. Adds to the session; the caller commits."""
    now = now or utcnow()
    first = _first_step(workflow)
    if first is None:
        return None
    if db.session.scalar(select(WorkflowRun.id).where(WorkflowRun.workflow_id == workflow.id,
                                                      WorkflowRun.occurrence_key == occurrence_key)):
        return None
    if workflow.reentry_days and db.session.scalar(select(_recently_entered(workflow, donor_id, now))):
        return None
    if workflow.segment is not None and not segments.is_member(workflow.segment, donor_id, now=now):
        return None
    run = WorkflowRun(workflow_id=workflow.id, donor_id=donor_id, occurrence_key=occurrence_key[:120],
                      touchpoint_id=touchpoint_id, entered_at=now, next_due_at=now + timedelta(days=first.delay_days))
    db.session.add(run)
    db.session.flush()
    return run


def enter_many(workflow: Workflow, donor_ids: list[int], occurrence_key: str, *, now: datetime | None = None) -> int:
    """Start the workflow for many donors at once (staff adding a list to it), keeping its segment
    condition and re-entry rule; `occurrence_key` names this addition, so repeating it starts nothing
    twice. Adds to the session; the caller commits. Returns how many runs started."""
    now = now or utcnow()
    first = _first_step(workflow)
    if first is None:
        raise WorkflowError("This workflow has no steps yet.", "workflow_id")
    entered = 0
    for start in range(0, len(donor_ids), 5000):
        query = select(Donor.id).where(Donor.id.in_(donor_ids[start:start + 5000]))
        if workflow.segment is not None:
            query = query.where(Donor.id.in_(segments.members_select(workflow.segment, now=now)))
        if workflow.reentry_days:
            query = query.where(~_recently_entered(workflow, Donor.id, now))
        ids = list(db.session.scalars(query))
        _insert_runs([{"workflow_id": workflow.id, "donor_id": donor_id, "occurrence_key": f"{occurrence_key}:{donor_id}"[:120],
                       "status": "active", "last_position": 0, "last_error": "", "entered_at": now,
                       "next_due_at": now + timedelta(days=first.delay_days)} for donor_id in ids])
        entered += len(ids)
    return entered


def on_touchpoint(touchpoint: Touchpoint) -> None:
    """Reactor: enter every enabled workflow this touchpoint triggers (in its processing transaction)."""
    now = utcnow()
    if touchpoint.occurred_at < now - MAX_TRIGGER_AGE:
        return
    keys = [t.key for t in TRIGGERS.values() if t.touchpoint_kind == touchpoint.kind]
    if touchpoint.kind == "gift_received" and not (touchpoint.data or {}).get("first_gift"):
        keys.remove("first_gift")
    workflows = db.session.scalars(select(Workflow).where(Workflow.enabled.is_(True), Workflow.trigger.in_(keys))).all()
    due = []
    for workflow in workflows:
        run = enter(workflow, touchpoint.donor_id, f"touchpoint:{touchpoint.id}", touchpoint_id=touchpoint.id, now=now)
        if run is not None and run.next_due_at <= now:
            due.append(run.id)
    if due:
        jobs.enqueue_after_commit("default", advance_runs, due)


def _local_today(now: datetime) -> date:
    return to_local(now, organisation().timezone).date()


def _candidates(workflow: Workflow, now: datetime) -> list[tuple[int, str]]:
    """(donor_id, occurrence key) for everyone a scheduled trigger finds today, in one query."""
    days = workflow.trigger_days or 0
    if workflow.trigger == "inactive":
        activity = select(Donor.id.label("donor_id"), segments.last_activity_expression().label("last")).subquery()
        query = select(activity.c.donor_id, activity.c.last).where(activity.c.last < now - timedelta(days=days))
        donor_column, key = activity.c.donor_id, (lambda row: f"inactive:{row[1]:%Y-%m-%d}")
    elif workflow.trigger == "no_gift_since":
        query = select(DonorStats.donor_id, DonorStats.last_gift_at).where(DonorStats.last_gift_at < now - timedelta(days=days))
        donor_column, key = DonorStats.donor_id, (lambda row: f"no_gift:{row[1]:%Y-%m-%d}")
    elif workflow.trigger == "birthday":
        today = _local_today(now)
        on_day = and_(extract("month", Donor.birthday) == today.month, extract("day", Donor.birthday) == today.day)
        if today.month == 2 and today.day == 28 and not _is_leap(today.year):
            on_day = on_day | and_(extract("month", Donor.birthday) == 2, extract("day", Donor.birthday) == 29)
        query = select(Donor.id, Donor.birthday).where(Donor.birthday.is_not(None), on_day)
        donor_column, key = Donor.id, (lambda row: f"birthday:{today.year}")
    elif workflow.trigger == "renewal_due":
        today = _local_today(now)
        query = select(RecurringPlan.donor_id, RecurringPlan.id, RecurringPlan.renews_on).where(
            RecurringPlan.status == "active", RecurringPlan.kind.in_(("sponsorship", "membership")),
            RecurringPlan.renews_on >= today, RecurringPlan.renews_on <= today + timedelta(days=days))
        donor_column, key = RecurringPlan.donor_id, (lambda row: f"renewal:{row[1]}:{row[2]:%Y-%m-%d}")
    else:
        return []
    if workflow.segment is not None:
        query = query.where(donor_column.in_(segments.members_select(workflow.segment, now=now)))
    if workflow.reentry_days:
        query = query.where(~_recently_entered(workflow, donor_column, now))
    return [(row[0], key(row)) for row in db.session.execute(query)]


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _insert_runs(rows: list[dict]) -> None:
    insert = postgresql_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    for start in range(0, len(rows), 1000):
        db.session.execute(insert(WorkflowRun).values(rows[start:start + 1000]).on_conflict_do_nothing())


@jobs.job
def enter_scheduled_workflows() -> int:
    """Hourly: enter donors found by scheduled triggers. An occurrence (this birthday, this renewal,
    this spell of inactivity) enters once, so running it again the same day adds nobody."""
    now = utcnow()
    before = db.session.scalar(select(func.count()).select_from(WorkflowRun)) or 0
    scheduled = [key for key, trigger in TRIGGERS.items() if trigger.scheduled]
    for workflow in db.session.scalars(select(Workflow).where(Workflow.enabled.is_(True), Workflow.trigger.in_(scheduled))).all():
        first = _first_step(workflow)
        if first is None:
            continue
        due = now + timedelta(days=first.delay_days)
        rows = [{"workflow_id": workflow.id, "donor_id": donor_id, "occurrence_key": key[:120], "status": "active",
                 "last_position": 0, "next_due_at": due, "entered_at": now, "last_error": ""}
                for donor_id, key in _candidates(workflow, now)]
        _insert_runs(rows)
        db.session.commit()
    entered = (db.session.scalar(select(func.count()).select_from(WorkflowRun)) or 0) - before
    run_due_workflow_steps()
    return entered


# ---------------------------------------------------------------- running steps

def due_run_ids(limit: int = 5000, now: datetime | None = None) -> list[int]:
    now = now or utcnow()
    return list(db.session.scalars(
        select(WorkflowRun.id).join(Workflow, Workflow.id == WorkflowRun.workflow_id)
        .where(WorkflowRun.status == "active", WorkflowRun.next_due_at <= now, Workflow.enabled.is_(True))
        .order_by(WorkflowRun.next_due_at, WorkflowRun.id).limit(limit)
    ))


@jobs.job
def run_due_workflow_steps() -> int:
    """Every few minutes (and from the sweep): hand every due run to `advance_runs`, 200 at a time."""
    ids = due_run_ids()
    db.session.commit()
    for start in range(0, len(ids), 200):
        jobs.enqueue_now("default", advance_runs, ids[start:start + 200])
    return len(ids)


@jobs.job
def advance_runs(run_ids: list[int]) -> int:
    """Execute every step that is due for these runs; returns how many steps ran."""
    executed = 0
    with jobs.HeldJobs() as held:
        for run_id in run_ids:
            executed += advance_run(run_id, held)
    return executed


def advance_run(run_id: int, held: jobs.HeldJobs) -> int:
    executed = 0
    while True:
        now = utcnow()
        run = db.session.get(WorkflowRun, run_id)
        if run is None or run.status != "active" or run.next_due_at is None or run.next_due_at > now:
            break
        workflow = run.workflow
        if not workflow.enabled:
            break
        steps = list(workflow.steps)
        step = next((s for s in steps if s.position > run.last_position), None)
        following = next((s for s in steps if step is not None and s.position > step.position), None)
        claimed = db.session.execute(
            update(WorkflowRun).where(WorkflowRun.id == run.id, WorkflowRun.status == "active",
                                      WorkflowRun.last_position == run.last_position)
            .values(last_position=step.position if step else run.last_position,
                    next_due_at=now + timedelta(days=following.delay_days) if following else None,
                    status="active" if following else "completed", completed_at=None if following else now,
                    last_error="")
            .execution_options(synchronize_session=False)
        ).rowcount
        if not claimed:
            db.session.rollback()
            break
        if step is None:
            held.commit()
            break
        donor = db.session.get(Donor, run.donor_id)
        try:
            result = STEPS[step.kind].handler(StepContext(run, step, workflow, donor, now)) if step.kind in STEPS \
                else StepResult("skipped", f"No step called “{step.kind}” is installed.")
            db.session.add(WorkflowRunStep(run_id=run.id, step_id=step.id, executed_at=now, outcome=result.outcome,
                                           detail=result.detail[:300], email_message_id=result.email_message_id))
            held.commit()
        except Exception as exc:  # the step is retried later; the rest of the batch carries on
            db.session.rollback()
            log.exception("workflow run %s, step %s failed", run_id, step.id)
            db.session.execute(update(WorkflowRun).where(WorkflowRun.id == run_id)
                               .values(next_due_at=now + RETRY_FAILED_STEP_AFTER, last_error=str(exc)[:300]))
            db.session.commit()
            break
        executed += 1
    return executed
