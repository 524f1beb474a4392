"""The workflow step registry, and the steps engagement ships: send an email, add or remove a tag.

Other domains add theirs with register_step(kind, label, handler, options=(StepOption(...), ...), describe=...).
`handler(ctx: StepContext) -> StepResult` may only add to `db.session` (never commit), and must be
idempotent by `ctx.key` (the same run and step). See `_send_email` for an example.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

from portal.donors.models import Donor
from portal.donors.services import tags_by_name
from portal.engagement.delivery import outbox, sending_rules as engagement_settings, tracking
from portal.engagement.models import EmailTemplate, Workflow, WorkflowRun, WorkflowStep
from portal.engagement.templates import rendering as templating
from portal.extensions import db


@dataclass(frozen=True)
class StepOption:
    name: str
    label: str
    type: str = "text"  # text | number | template | role | tag
    required: bool = True
    help: str = ""


@dataclass
class StepContext:
    run: WorkflowRun
    step: WorkflowStep
    workflow: Workflow
    donor: Donor
    now: datetime

    @property
    def config(self) -> dict:
        return self.step.config or {}

    @property
    def key(self) -> str:
        """Idempotency key for whatever the step creates: the same run and step, the same thing."""
        return f"workflow:{self.run.id}:{self.step.id}"


@dataclass
class StepResult:
    outcome: str  # emailed | done | skipped
    detail: str = ""
    email_message_id: int | None = None


@dataclass(frozen=True)
class StepKind:
    kind: str
    label: str
    handler: Callable[[StepContext], StepResult]
    options: tuple[StepOption, ...] = ()
    describe: Callable[[dict], str] | None = None

    def summary(self, config: dict) -> str:
        return self.describe(config or {}) if self.describe else self.label


STEPS: dict[str, StepKind] = {}


def register_step(kind: str, label: str, handler: Callable[[StepContext], StepResult], *,
                  options: tuple[StepOption, ...] | list[StepOption] = (), describe: Callable[[dict], str] | None = None) -> None:
    """Add a kind of workflow step (e.g. loyalty's "award points"): see the module docstring."""
    STEPS[kind] = StepKind(kind, label, handler, tuple(options), describe)


def _template_name(template_id) -> str:
    template = db.session.get(EmailTemplate, template_id) if isinstance(template_id, int) else None
    return template.name if template else "a deleted template"


def _send_email(ctx: StepContext) -> StepResult:
    template = db.session.get(EmailTemplate, ctx.config.get("template_id") or 0)
    if template is None:
        return StepResult("skipped", "The email template was deleted.")
    donor = ctx.donor
    if not donor.email:
        return StepResult("skipped", "No email address.")
    if template.category == "marketing":
        if not donor.can_receive_marketing:
            return StepResult("skipped", "No marketing consent.")
        cap = engagement_settings.current().marketing_weekly_cap
        if outbox.marketing_sent_since(donor.id, ctx.now - timedelta(days=7)) >= cap:
            return StepResult("skipped", f"Weekly limit of {cap} marketing emails reached.")
    try:
        rendered = templating.render_for_donor(templating.Content.of(template), donor.id)
    except templating.TemplateLimitError as exc:  # retrying would hit the same limit: skip with the reason
        return StepResult("skipped", f"Could not be personalised: {exc}"[:300])
    message = outbox.queue_email(donor.email, rendered.subject, rendered.text_body, html_body=rendered.html_body,
                                 donor_id=donor.id, category=template.category, purpose=f"workflow:{ctx.workflow.id}",
                                 idempotency_key=ctx.key)
    if message.status == "skipped":
        return StepResult("skipped", message.last_error[:300], message.id)
    rules = engagement_settings.current()
    message.html_body = tracking.instrument(message.html_body, message.id, opens=rules.track_opens, clicks=rules.track_clicks)
    return StepResult("emailed", template.name, message.id)


def _change_tag(add: bool) -> Callable[[StepContext], StepResult]:
    def handler(ctx: StepContext) -> StepResult:
        name = (ctx.config.get("tag") or "").strip().lower()
        tag = tags_by_name([name])[0]
        donor = ctx.donor
        has = any(t.name == name for t in donor.tags)
        if add and not has:
            donor.tags.append(tag)
        elif not add and has:
            donor.tags = [t for t in donor.tags if t.name != name]
        return StepResult("done", f"{'Tagged' if add else 'Untagged'} “{name}”")
    return handler


register_step("send_email", "Send an email", _send_email,
              options=[StepOption("template_id", "Email template", "template")],
              describe=lambda c: f"Email “{_template_name(c.get('template_id'))}”")
register_step("add_tag", "Add a tag", _change_tag(True), options=[StepOption("tag", "Tag", "tag")],
              describe=lambda c: f"Add the tag “{c.get('tag', '')}”")
register_step("remove_tag", "Remove a tag", _change_tag(False), options=[StepOption("tag", "Tag", "tag")],
              describe=lambda c: f"Remove the tag “{c.get('tag', '')}”")
