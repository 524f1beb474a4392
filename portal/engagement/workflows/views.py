"""The workflow pages: the list, the editor, steps, runs and results; the runs panel on a donor's page."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user
from markupsafe import Markup

from portal.auth.access import require_staff, roles_required
from portal.auth.models import ROLE_LABELS, STAFF_ROLES
from portal.engagement.delivery import sending_rules as engagement_settings
from portal.engagement.models import Workflow, WorkflowStep
from portal.engagement.segments import services as segments
from portal.engagement.templates import services as email_templates
from portal.engagement.workflows import services as workflows
from portal.engagement.workflows.forms import WorkflowForm
from portal.htmx import redirect_to, render
from portal.params import page_number, query_id
from portal.web import get_or_404

workflows_bp = Blueprint("workflows", __name__, url_prefix="/staff/workflows")
workflows_bp.before_request(require_staff)


def _segment_choices() -> dict[str, str]:
    return {"": "Everyone", **{str(s.id): s.name for s in segments.all_segments()}}


@workflows_bp.route("/", endpoint="index")
@roles_required("fundraiser")
def workflow_index():
    rows = workflows.all_workflows()
    return render_template("engagement/workflows.html", workflows=rows, stats=workflows.workflow_stats([w.id for w in rows]),
                           triggers=workflows.TRIGGERS)


def _workflow_editor(workflow: Workflow | None):
    form = WorkflowForm(obj=workflow)
    form.segment_id.choices = _segment_choices()
    if form.validate_on_submit():
        try:
            saved = workflows.save_workflow(workflow, name=form.name.data, description=form.description.data or "",
                                            trigger=form.trigger.data, trigger_days=form.trigger_days.data,
                                            segment_id=form.segment_id.data, reentry_days=form.reentry_days.data,
                                            conversion_days=form.conversion_days.data)
        except workflows.WorkflowError as exc:
            getattr(form, exc.field_name or "name").errors.append(str(exc))
        else:
            flash(f"Workflow “{saved.name}” saved." + ("" if saved.steps else " Now add its steps."), "success")
            return redirect(url_for("workflows.show", workflow_id=saved.id), code=303)
    return render_template("engagement/workflow_form.html", form=form, workflow=workflow, triggers=workflows.TRIGGERS), \
        (400 if form.errors else 200)


@workflows_bp.route("/new", methods=["GET", "POST"], endpoint="create")
@roles_required("fundraiser")
def workflow_create():
    return _workflow_editor(None)


@workflows_bp.route("/<int:workflow_id>/edit", methods=["GET", "POST"], endpoint="edit")
@roles_required("fundraiser")
def workflow_edit(workflow_id: int):
    return _workflow_editor(get_or_404(Workflow, workflow_id))


def _step_form_context(kind: str, values: dict | None = None, errors: dict | None = None) -> dict:
    return {"step_kinds": workflows.STEPS, "kind": kind if kind in workflows.STEPS else "send_email", "values": values or {},
            "step_errors": errors or {}, "email_templates": email_templates.all_templates(),
            "roles": [(r, ROLE_LABELS[r]) for r in STAFF_ROLES]}


def _workflow_page(workflow: Workflow, runs, *, kind: str = "send_email", values: dict | None = None,
                   errors: dict | None = None, filter_donor=None) -> dict:
    return {"workflow": workflow, "runs": runs, "trigger": workflows.TRIGGERS.get(workflow.trigger),
            "stats": workflows.workflow_stats([workflow.id])[workflow.id], "step_stats": workflows.step_stats(workflow),
            "segment_lines": segments.describe(workflow.segment) if workflow.segment else [], "filter_donor": filter_donor,
            "weekly_cap": engagement_settings.current().marketing_weekly_cap, "open_step_form": bool(errors),
            **_step_form_context(kind, values, errors)}


@workflows_bp.route("/<int:workflow_id>", endpoint="show")
@roles_required("fundraiser")
def workflow_show(workflow_id: int):
    workflow = get_or_404(Workflow, workflow_id)
    runs = workflows.runs_page(workflow, page=request.args.get("page", 1, type=page_number), status=request.args.get("status", ""),
                               donor_id=request.args.get("donor", type=query_id))
    return render("engagement/workflow.html", block="runs",
                  **_workflow_page(workflow, runs, kind=request.args.get("kind", "send_email"),
                                   filter_donor=workflows.donor_to_filter_by(request.args.get("donor", type=query_id))))


@workflows_bp.route("/step-options")
@roles_required("fundraiser")
def step_options():
    """htmx: the settings a kind of step needs, when staff change the kind."""
    return render("engagement/_step_options.html", **_step_form_context(request.args.get("kind", "")))


@workflows_bp.route("/<int:workflow_id>/steps", methods=["POST"])
@roles_required("fundraiser")
def add_step(workflow_id: int):
    workflow = get_or_404(Workflow, workflow_id)
    kind = request.form.get("kind", "")
    try:
        workflows.add_step(workflow, kind, request.form.get("delay_days", ""), request.form.to_dict())
    except workflows.WorkflowError as exc:
        context = _workflow_page(workflow, workflows.runs_page(workflow), kind=kind, values=request.form.to_dict(),
                                 errors={exc.field_name or "kind": str(exc)})
        return render_template("engagement/workflow.html", **context), 400
    flash("Step added.", "success")
    return redirect(url_for("workflows.show", workflow_id=workflow.id), code=303)


@workflows_bp.route("/<int:workflow_id>/steps/<int:step_id>", methods=["GET", "POST"])
@roles_required("fundraiser")
def edit_step(workflow_id: int, step_id: int):
    step = get_or_404(WorkflowStep, step_id, workflow_id=workflow_id)
    values = {"delay_days": step.delay_days, **(step.config or {})}
    errors: dict[str, str] = {}
    if request.method == "POST":
        values = request.form.to_dict()
        try:
            workflows.update_step(step, request.form.get("delay_days", ""), values)
        except workflows.WorkflowError as exc:
            errors = {exc.field_name or "kind": str(exc)}
        else:
            flash("Step saved.", "success")
            return redirect(url_for("workflows.show", workflow_id=workflow_id), code=303)
    return render_template("engagement/step_form.html", step=step, workflow=step.workflow,
                           **_step_form_context(step.kind, values, errors)), (400 if errors else 200)


@workflows_bp.route("/<int:workflow_id>/steps/<int:step_id>/move", methods=["POST"])
@roles_required("fundraiser")
def move_step(workflow_id: int, step_id: int):
    workflows.move_step(get_or_404(WorkflowStep, step_id, workflow_id=workflow_id), -1 if request.form.get("direction") == "up" else 1)
    return redirect_to(url_for("workflows.show", workflow_id=workflow_id))


@workflows_bp.route("/<int:workflow_id>/steps/<int:step_id>/delete", methods=["POST"])
@roles_required("fundraiser")
def delete_step(workflow_id: int, step_id: int):
    workflows.remove_step(get_or_404(WorkflowStep, step_id, workflow_id=workflow_id))
    flash("Step removed.", "success")
    return redirect_to(url_for("workflows.show", workflow_id=workflow_id))


@workflows_bp.route("/<int:workflow_id>/toggle", methods=["POST"])
@roles_required("fundraiser")
def toggle(workflow_id: int):
    workflow = get_or_404(Workflow, workflow_id)
    try:
        workflows.set_enabled(workflow, request.form.get("enabled") == "1")
    except workflows.WorkflowError as exc:
        flash(str(exc), "error")
    else:
        flash(f"“{workflow.name}” is {'on' if workflow.enabled else 'off'}.", "success")
    return redirect_to(request.form.get("next") if request.form.get("next") == url_for("workflows.index")
                       else url_for("workflows.show", workflow_id=workflow.id))


@workflows_bp.route("/<int:workflow_id>/delete", methods=["POST"], endpoint="delete")
@roles_required("fundraiser")
def workflow_delete(workflow_id: int):
    workflow = get_or_404(Workflow, workflow_id)
    name = workflow.name
    workflows.delete_workflow(workflow)
    flash(f"Workflow “{name}” deleted.", "success")
    return redirect_to(url_for("workflows.index"))


def home_tiles() -> list[dict]:
    if not current_user.has_role("fundraiser"):
        return []
    return [{"label": "Workflows on", "value": f"{workflows.enabled_count():,}",
             "hint": "Welcome, thank-you, re-engagement and more"}]


def donor_runs_panel(donor=None, **_context) -> str | None:
    if donor is None or not current_user.has_role("fundraiser"):
        return None
    runs = workflows.runs_for_donor(donor.id)
    return Markup(render_template("engagement/_donor_runs.html", runs=runs, donor=donor))
