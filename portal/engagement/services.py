"""What other domains use of engagement; the rest of the package is its own business (a contract checks it).

- email: queue_email() adds an outbox row to the caller's transaction; it is delivered after the commit.
- segments: register_field() adds a condition field; members_select() is a segment's donor ids as SQL.
- email templates: declare_token() and register_token_provider() add personalisation tokens.
- shipped content: ship() adds email templates, workflows and ready-made segments to `flask engagement seed`.
- workflows: register_step() adds a kind of step; a handler gets a StepContext and returns a StepResult;
  enter_many() starts a workflow for many donors at once (bulk actions).
"""
from portal.engagement import defaults
from portal.engagement.delivery.outbox import queue_email
from portal.engagement.segments import services as segments
from portal.engagement.segments.services import SegmentError, members_select, register_field, save_segment
from portal.engagement.templates.rendering import contexts_for, declare_token, register_token_provider, render_line
from portal.engagement.workflows.services import (StepContext, StepOption, StepResult, WorkflowError, all_workflows,
                                                  describe_run, enter_many, register_step, renewal_occurrence)

__all__ = [
    "queue_email", "ship",
    "SegmentError", "members_select", "register_field", "save_segment",
    "contexts_for", "declare_token", "register_token_provider", "render_line",
    "StepContext", "StepOption", "StepResult", "WorkflowError", "all_workflows", "describe_run", "enter_many", "register_step",
    "renewal_occurrence",
]


def ship(*, template: dict | None = None, workflow: tuple | None = None, segment: tuple | None = None) -> None:
    """Another domain's email template, workflow and ready-made segment, seeded with engagement's own (once)."""
    if template and all(spec["key"] != template["key"] for spec in defaults.TEMPLATES):
        defaults.TEMPLATES.append(template)
    if workflow and all(spec[0] != workflow[0] for spec in defaults.WORKFLOWS):
        defaults.WORKFLOWS.append(workflow)
    if segment and all(spec[0] != segment[0] for spec in segments.READY_MADE):
        segments.READY_MADE = (*segments.READY_MADE, segment)
