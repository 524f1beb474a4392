"""What the workflow pages show: runs page by page, and per workflow and per step how donors responded."""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import case, exists, func, select

from portal.engagement.models import EmailMessage, Workflow, WorkflowRun, WorkflowRunStep
from portal.extensions import db
from portal.giving.models import Gift
from portal.sql import plus_days


def _gave_within(donor_column, since_column, days: int):
    return exists().where(Gift.donor_id == donor_column, Gift.status == "received", Gift.received_at > since_column,
                          Gift.received_at <= plus_days(since_column, days))


@dataclass
class StepStats:
    reached: int = 0
    emailed: int = 0
    skipped: int = 0
    opened: int = 0
    clicked: int = 0
    converted: int = 0


def step_stats(workflow: Workflow) -> dict[int, StepStats]:
    """Per step, in one query: how many runs reached it, were emailed, opened, clicked, then gave."""
    rows = db.session.execute(
        select(WorkflowRunStep.step_id, func.count(),
               func.sum(case((WorkflowRunStep.outcome == "emailed", 1), else_=0)),
               func.sum(case((WorkflowRunStep.outcome == "skipped", 1), else_=0)),
               func.sum(case((EmailMessage.opened_at.is_not(None), 1), else_=0)),
               func.sum(case((EmailMessage.clicked_at.is_not(None), 1), else_=0)),
               func.sum(case((_gave_within(WorkflowRun.donor_id, WorkflowRunStep.executed_at, workflow.conversion_days), 1), else_=0)))
        .join(WorkflowRun, WorkflowRun.id == WorkflowRunStep.run_id)
        .outerjoin(EmailMessage, EmailMessage.id == WorkflowRunStep.email_message_id)
        .where(WorkflowRun.workflow_id == workflow.id).group_by(WorkflowRunStep.step_id)
    ).all()
    return {row[0]: StepStats(*(int(v or 0) for v in row[1:])) for row in rows}


@dataclass
class WorkflowStats:
    entered: int = 0
    active: int = 0
    completed: int = 0
    converted: int = 0


def workflow_stats(workflow_ids: list[int]) -> dict[int, WorkflowStats]:
    rows = db.session.execute(
        select(WorkflowRun.workflow_id, func.count(),
               func.sum(case((WorkflowRun.status == "active", 1), else_=0)),
               func.sum(case((WorkflowRun.status == "completed", 1), else_=0)),
               func.sum(case((_gave_within(WorkflowRun.donor_id, WorkflowRun.entered_at, Workflow.conversion_days), 1), else_=0)))
        .join(Workflow, Workflow.id == WorkflowRun.workflow_id)
        .where(WorkflowRun.workflow_id.in_(workflow_ids)).group_by(WorkflowRun.workflow_id)
    ).all()
    stats = {workflow_id: WorkflowStats() for workflow_id in workflow_ids}
    for row in rows:
        stats[row[0]] = WorkflowStats(*(int(v or 0) for v in row[1:]))
    return stats


@dataclass
class RunPage:
    runs: list[WorkflowRun]
    total: int
    page: int
    pages: int
    filters: dict = field(default_factory=dict)


def runs_page(workflow: Workflow, *, page: int = 1, per_page: int = 25, status: str = "", donor_id: int | None = None) -> RunPage:
    query = select(WorkflowRun).where(WorkflowRun.workflow_id == workflow.id)
    if status in ("active", "completed"):
        query = query.where(WorkflowRun.status == status)
    if donor_id:
        query = query.where(WorkflowRun.donor_id == donor_id)
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    runs = db.session.scalars(query.order_by(WorkflowRun.entered_at.desc(), WorkflowRun.id.desc())
                              .limit(per_page).offset((page - 1) * per_page)).all()
    return RunPage(list(runs), total, page, pages, {"status": status, "donor_id": donor_id})


def runs_for_donor(donor_id: int, limit: int = 10) -> list[WorkflowRun]:
    return list(db.session.scalars(select(WorkflowRun).where(WorkflowRun.donor_id == donor_id)
                                   .order_by(WorkflowRun.entered_at.desc(), WorkflowRun.id.desc()).limit(limit)))


def all_workflows() -> list[Workflow]:
    return list(db.session.scalars(select(Workflow).order_by(Workflow.enabled.desc(), Workflow.name)))
