"""Support's workflow step: "Create a task for staff", registered with engagement's workflows."""
from __future__ import annotations

from datetime import timedelta

from portal.engagement.services import StepContext, StepOption, StepResult, contexts_for, register_step, render_line
from portal.support.services import create_task


def create_task_step(ctx: StepContext) -> StepResult:
    context = contexts_for([ctx.donor.id], with_unsubscribe=False)[ctx.donor.id]
    title = render_line(ctx.config.get("title") or "Follow up", context) or "Follow up"
    due_days = ctx.config.get("due_days")
    task = create_task(title, donor_id=ctx.donor.id, details=f"From the workflow “{ctx.workflow.name}”.",
                       assignee_role=ctx.config.get("role") or "fundraiser",
                       due_at=ctx.now + timedelta(days=due_days) if due_days is not None else None,
                       source=f"workflow_run:{ctx.run.id}", dedupe_key=ctx.key)
    return StepResult("done", task.title[:300])


def register() -> None:
    register_step("create_task", "Create a task for staff", create_task_step,
                  options=[StepOption("title", "Task title", help="Tokens work here, e.g. Call {{ full_name }}"),
                           StepOption("role", "For the team", "role"),
                           StepOption("due_days", "Due after (days)", "number", required=False)],
                  describe=lambda c: f"Task for {c.get('role', 'fundraiser')}s: “{c.get('title', '')}”")
