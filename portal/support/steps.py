"""Support's workflow step: "Create a task for staff", registered with engagement's workflows."""
from __future__ import annotations

from datetime import timedelta

from portal.engagement.services import (StepContext, StepOption, StepResult, contexts_for, describe_run, register_step,
                                        render_line, renewal_occurrence)
from portal.support.services import create_task, register_source, renewal_task_due, renewal_task_key


def create_task_step(ctx: StepContext) -> StepResult:
    context = contexts_for([ctx.donor.id], with_unsubscribe=False)[ctx.donor.id]
    title = render_line(ctx.config.get("title") or "Follow up", context) or "Follow up"
    due_days = ctx.config.get("due_days")
    due_at = ctx.now + timedelta(days=due_days) if due_days is not None else None
    dedupe_key = ctx.key
    renewal = renewal_occurrence(ctx.run.occurrence_key) if ctx.workflow.trigger == "renewal_due" else None
    if renewal:
        # One check-in task per renewal, due before it, shared with the retention check-in job.
        dedupe_key = renewal_task_key(*renewal)
        due_at = renewal_task_due(renewal[1], ctx.now, due_at)
    task = create_task(title, donor_id=ctx.donor.id, details=f"From the workflow “{ctx.workflow.name}”.",
                       kind="renewal" if renewal else "follow_up", assignee_role=ctx.config.get("role") or "fundraiser",
                       due_at=due_at, source=f"workflow_run:{ctx.run.id}", dedupe_key=dedupe_key)
    return StepResult("done", task.title[:300])


def register() -> None:
    register_source("workflow_run", "Workflow", describe_run)
    register_step("create_task", "Create a task for staff", create_task_step,
                  options=[StepOption("title", "Task title", help="Tokens work here, e.g. Call {{ full_name }}"),
                           StepOption("role", "For the team", "role"),
                           StepOption("due_days", "Due after (days)", "number", required=False)],
                  describe=lambda c: f"Task for {c.get('role', 'fundraiser')}s: “{c.get('title', '')}”")
