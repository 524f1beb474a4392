"""Back-office pages for segments, email templates, workflows, bulk sends and the mail log, plus the
tracking endpoints emails link to."""
from __future__ import annotations

from datetime import datetime, timedelta

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, stream_with_context, url_for
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import func, select

from portal.audit import services as audit
from portal.auth.access import require_staff, roles_required
from portal.auth.models import ROLE_LABELS, STAFF_ROLES
from portal.donors.models import Donor
from portal.engagement.templates import builder, rendering as templating
from portal.engagement.delivery import bulk_sends as bulk, mail_log, outbox, tracking
from portal.engagement.segments import services as segments
from portal.engagement.workflows import services as workflows
from portal.engagement.delivery import sending_rules as engagement_settings
from portal.engagement.forms import BulkSendForm, SegmentForm, SettingsForm, TemplateForm, WorkflowForm
from portal.engagement.models import (CATEGORIES, MESSAGE_STATUSES, BulkSend, EmailMessage, EmailTemplate, Segment,
                                      Workflow, WorkflowStep)
from portal.extensions import csrf, db
from portal.htmx import redirect_to, render, render_fragment
from portal.params import page_number, query_id
from portal.settings.services import organisation
from portal.timeutil import utcnow
from portal.web import get_or_404

segments_bp = Blueprint("segments", __name__, url_prefix="/staff/segments")
templates_bp = Blueprint("email_templates", __name__, url_prefix="/staff/templates")
workflows_bp = Blueprint("workflows", __name__, url_prefix="/staff/workflows")
mail_bp = Blueprint("mail", __name__, url_prefix="/staff/mail")
tracking_bp = Blueprint("tracking", __name__, url_prefix="/t")
for _bp in (segments_bp, templates_bp, workflows_bp, mail_bp):
    _bp.before_request(require_staff)


# ---------------------------------------------------------------- segments

@segments_bp.route("/", endpoint="index")
@roles_required("fundraiser")
def segment_index():
    return render_template("engagement/segments.html", segments=segments.all_segments(), describe=segments.describe)


@segments_bp.route("/<int:segment_id>/count", endpoint="count")
@roles_required("fundraiser")
def segment_count(segment_id: int):
    segment = get_or_404(Segment, segment_id)
    return render_template("engagement/_count.html", total=segments.count_members(segment))


def _builder_context(rules: dict, errors: dict[str, str] | None = None) -> dict:
    return {"rows": builder.rows(rules), "match": rules.get("match", "all"), "fields": segments.fields_by_group(),
            "field_specs": segments.FIELDS, "rule_errors": errors or {}, "no_value": segments.NO_VALUE,
            "days_ops": segments.DAYS_OPERATORS}


def _live_count(rules: dict) -> dict:
    try:
        tree = segments.parse_rules(rules)
    except segments.RuleError as exc:
        return {"total": None, "problems": [(builder.path_label(rules, path), message) for path, message in exc.errors.items()]}
    return {"total": segments.count_members(tree), "problems": []}


def _segment_editor(segment: Segment | None):
    form = SegmentForm(obj=segment)
    rules = segment.rules if segment and request.method == "GET" else builder.from_form(request.form)
    if request.method == "GET" and segment is None:
        rules = {"match": "all", "conditions": [dict(builder.EMPTY_CONDITION)]}
    action = request.form.get("action", "")
    errors: dict[str, str] = {}
    if request.method == "POST" and action:
        builder.apply(rules, action)
    elif form.validate_on_submit():
        try:
            saved = segments.save_segment(segment, name=form.name.data, description=form.description.data or "",
                                          rules=rules, actor=current_user)
        except segments.SegmentError as exc:
            db.session.rollback()
            errors = exc.rule_errors
            if exc.field_name:
                getattr(form, exc.field_name).errors.append(str(exc))
            elif not errors:
                flash(str(exc), "error")
        else:
            flash(f"Segment “{saved.name}” saved.", "success")
            return redirect(url_for("segments.show", segment_id=saved.id), code=303)
    status = 400 if request.method == "POST" and not action and (form.errors or errors) else 200
    return render_template("engagement/segment_form.html", form=form, segment=segment, live=_live_count(rules),
                           **_builder_context(rules, errors)), status


@segments_bp.route("/new", methods=["GET", "POST"], endpoint="create")
@roles_required("fundraiser")
def segment_create():
    return _segment_editor(None)


@segments_bp.route("/<int:segment_id>/edit", methods=["GET", "POST"], endpoint="edit")
@roles_required("fundraiser")
def segment_edit(segment_id: int):
    return _segment_editor(get_or_404(Segment, segment_id))


@segments_bp.route("/builder", methods=["POST"])
@roles_required("fundraiser")
def builder_fragment():
    """htmx: re-draw the conditions after adding, removing or changing a field, with the count."""
    rules = builder.apply(builder.from_form(request.form), request.form.get("action", ""))
    return render_fragment("engagement/segment_form.html", "builder", live=_live_count(rules), **_builder_context(rules))


@segments_bp.route("/count", methods=["POST"])
@roles_required("fundraiser")
def live_count():
    """htmx: the member count for the conditions as they are typed (not saved)."""
    return render_template("engagement/_live_count.html", live=_live_count(builder.from_form(request.form)))


@segments_bp.route("/<int:segment_id>", endpoint="show")
@roles_required("fundraiser")
def segment_show(segment_id: int):
    segment = get_or_404(Segment, segment_id)
    page = segments.members_page(segment, page=request.args.get("page", 1, type=page_number), per_page=current_app.config["PAGE_SIZE"])
    used_by = db.session.scalars(select(Workflow).where(Workflow.segment_id == segment.id).order_by(Workflow.name)).all()
    return render("engagement/segment.html", block="members", segment=segment, result=page,
                  conditions=segments.describe(segment), used_by=used_by)


@segments_bp.route("/<int:segment_id>/export.csv")
@roles_required("fundraiser")
def export(segment_id: int):
    segment = get_or_404(Segment, segment_id)
    stamp = datetime.now().strftime("%Y%m%d-%H%M")
    slug = "".join(c if c.isalnum() else "-" for c in segment.name.lower()).strip("-")[:40] or "segment"
    # The rules, not the row: the stream outlives this request's session, which may expire the segment.
    rules = segment.rules
    audit.record_export("segment.export", f"segment “{segment.name}”", segments.count_members(rules), actor=current_user,
                        detail={"segment": segment.id})
    return Response(stream_with_context(segments.export_csv(rules, currency=organisation().currency)), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{slug}-{stamp}.csv"'})


@segments_bp.route("/<int:segment_id>/delete", methods=["POST"], endpoint="delete")
@roles_required("fundraiser")
def segment_delete(segment_id: int):
    segment = get_or_404(Segment, segment_id)
    name = segment.name
    segments.delete_segment(segment)
    flash(f"Segment “{name}” deleted.", "success")
    return redirect_to(url_for("segments.index"))


# ---------------------------------------------------------------- email templates

@templates_bp.route("/", endpoint="index")
@roles_required("fundraiser")
def template_index():
    rows = db.session.scalars(select(EmailTemplate).order_by(EmailTemplate.name)).all()
    return render_template("engagement/templates.html", templates=rows, categories=CATEGORIES)


def _preview_donor(donor_id) -> Donor | None:
    return db.session.get(Donor, donor_id) if isinstance(donor_id, int) else None


def _preview(form_data, donor: Donor | None) -> dict:
    subject, html_body, text_body = (form_data.get("subject", ""), form_data.get("html_body", ""), form_data.get("text_body", ""))
    context = templating.contexts_for([donor.id])[donor.id] if donor else templating.preview_context()
    errors = templating.check(subject, html_body, text_body, context)
    if errors:
        return {"errors": errors, "rendered": None, "donor": donor}
    content = templating.Content(subject, html_body, text_body, form_data.get("category", "marketing"))
    try:
        rendered = templating.render(content, context)
    except templating.TemplateLimitError as exc:  # each part fits, but the message as a whole does not
        return {"errors": {"text_body": f"the whole message together: {exc}"}, "rendered": None, "donor": donor}
    return {"errors": {}, "rendered": rendered, "donor": donor}


def _template_editor(template: EmailTemplate | None):
    form = TemplateForm(obj=template)
    if form.validate_on_submit():
        problems = templating.check(form.subject.data, form.html_body.data or "", form.text_body.data)
        for name, message in problems.items():
            getattr(form, name).errors.append(message)
        if not problems:
            if template is None:
                template = EmailTemplate()
                db.session.add(template)
            form.populate_obj(template)
            template.html_body = template.html_body or ""
            template.updated_by_id = current_user.id
            db.session.commit()
            flash(f"Template “{template.name}” saved.", "success")
            return redirect(url_for("email_templates.edit", template_id=template.id), code=303)
    donor = _preview_donor(request.values.get("preview_donor_id", type=query_id))
    values = request.form if request.method == "POST" else {
        "subject": template.subject, "html_body": template.html_body, "text_body": template.text_body,
        "category": template.category} if template else {"subject": "", "html_body": "", "text_body": "", "category": "marketing"}
    preview = _preview(values, donor) if any(values.get(k) for k in ("subject", "text_body")) else None
    used_by = workflows.workflows_using(template) if template else []
    return render_template("engagement/template_form.html", form=form, template=template, preview=preview, donor=donor,
                           tokens=templating.TOKENS.values(), used_by=used_by), (400 if form.errors else 200)


@templates_bp.route("/new", methods=["GET", "POST"], endpoint="create")
@roles_required("fundraiser")
def template_create():
    return _template_editor(None)


@templates_bp.route("/<int:template_id>", methods=["GET", "POST"], endpoint="edit")
@roles_required("fundraiser")
def template_edit(template_id: int):
    return _template_editor(get_or_404(EmailTemplate, template_id))


@templates_bp.route("/preview", methods=["POST"])
@roles_required("fundraiser")
def preview():
    """htmx: the preview (or the errors, with line numbers) for the template as it is typed."""
    donor = _preview_donor(request.form.get("preview_donor_id", type=query_id))
    return render_template("engagement/_preview.html", preview=_preview(request.form, donor))


@templates_bp.route("/donors")
@roles_required("fundraiser")
def donor_choices():
    """htmx: donors to preview with, found by name or email as staff type."""
    text = (request.args.get("q") or "").strip().lower()
    found = []
    if len(text) >= 2:
        found = db.session.scalars(select(Donor).where(
            (Donor.name_key.startswith(text, autoescape=True)) | (Donor.first_key.startswith(text, autoescape=True))
            | (Donor.email.startswith(text, autoescape=True))).order_by(Donor.name_key).limit(8)).all()
    return render_template("engagement/_donor_choices.html", donors=found, q=text)


@templates_bp.route("/<int:template_id>/test", methods=["POST"])
@roles_required("fundraiser")
def test_send(template_id: int):
    template = get_or_404(EmailTemplate, template_id)
    donor = _preview_donor(request.form.get("preview_donor_id", type=query_id))
    try:
        rendered = templating.render_for_donor(templating.Content.of(template), donor.id if donor else None)
    except templating.TemplateLimitError as exc:
        flash(f"The test email could not be written: {exc}", "error")
        return redirect_to(url_for("email_templates.edit", template_id=template.id))
    outbox.queue_email(current_user.email, f"[Test] {rendered.subject}", rendered.text_body, html_body=rendered.html_body,
                       category="transactional", purpose="test_send")
    db.session.commit()
    flash(f"Test email sent to {current_user.email}" + (f", personalised for {donor.display_name}." if donor else " with example values."),
          "success")
    return redirect_to(url_for("email_templates.edit", template_id=template.id, preview_donor_id=donor.id if donor else None))


@templates_bp.route("/<int:template_id>/delete", methods=["POST"], endpoint="delete")
@roles_required("fundraiser")
def template_delete(template_id: int):
    template = get_or_404(EmailTemplate, template_id)
    users = workflows.workflows_using(template)
    if users:
        flash("This template is used by " + ", ".join(f"“{w.name}”" for w in users) + ". Change those steps first.", "error")
        return redirect_to(url_for("email_templates.edit", template_id=template.id))
    db.session.delete(template)
    db.session.commit()
    flash("Template deleted.", "success")
    return redirect_to(url_for("email_templates.index"))


# ---------------------------------------------------------------- workflows

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
            db.session.rollback()
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
            "step_errors": errors or {}, "email_templates": db.session.scalars(select(EmailTemplate).order_by(EmailTemplate.name)).all(),
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
                                   filter_donor=_preview_donor(request.args.get("donor", type=query_id))))


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
        db.session.rollback()
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
            db.session.rollback()
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


# ---------------------------------------------------------------- mail log, bulk sends, sending rules

@mail_bp.route("/", endpoint="index")
@roles_required("fundraiser", "support")
def mail_index():
    filters = mail_log.parse_filters(request.args)
    page = mail_log.search(filters, page=request.args.get("page", 1, type=page_number))
    return render("engagement/mail_log.html", block="results", filters=filters, result=page, statuses=MESSAGE_STATUSES,
                  categories=CATEGORIES, counts=mail_log.status_counts(), mail_server=bool(current_app.config.get("MAIL_URL")))


@mail_bp.route("/<int:message_id>")
@roles_required("fundraiser", "support")
def message(message_id: int):
    row = get_or_404(EmailMessage, message_id)
    return render_template("engagement/message.html", message=row, statuses=MESSAGE_STATUSES, source=mail_log.source_of(row),
                           donor=db.session.get(Donor, row.donor_id) if row.donor_id else None)


@mail_bp.route("/<int:message_id>/retry", methods=["POST"])
@roles_required("fundraiser", "support")
def retry(message_id: int):
    row = get_or_404(EmailMessage, message_id)
    if outbox.retry_now(row):
        flash("The message will be tried again now.", "success")
    else:
        flash("Only a failed or waiting message can be retried.", "error")
    return redirect_to(url_for("mail.message", message_id=row.id))


def _send_form() -> BulkSendForm:
    form = BulkSendForm()
    form.template_id.choices = {"": "Choose…", **{str(t.id): f"{t.name} ({CATEGORIES[t.category].lower()})"
                                                  for t in db.session.scalars(select(EmailTemplate).order_by(EmailTemplate.name))}}
    form.segment_id.choices = {"": "Choose…", **{str(s.id): s.name for s in segments.all_segments()}}
    return form


@mail_bp.route("/sends")
@roles_required("fundraiser")
def sends():
    return render_template("engagement/sends.html", sends=bulk.recent_sends(50))


@mail_bp.route("/sends/new", methods=["GET", "POST"])
@roles_required("fundraiser")
def new_send():
    form = _send_form()
    if request.method == "GET":
        form.template_id.data = request.args.get("template_id", type=query_id)
        form.segment_id.data = request.args.get("segment_id", type=query_id)
    template = db.session.get(EmailTemplate, form.template_id.data) if form.template_id.data else None
    segment = db.session.get(Segment, form.segment_id.data) if form.segment_id.data else None
    if form.validate_on_submit() and template and segment:
        try:
            send = bulk.start_bulk_send(template, segment, actor=current_user, name=form.name.data or "")
        except bulk.BulkSendError as exc:
            db.session.rollback()
            form.template_id.errors.append(str(exc))
        else:
            flash(f"Sending “{send.name}”.", "success")
            return redirect(url_for("mail.send", send_id=send.id), code=303)
    audience = bulk.audience(segment, template.category) if template and segment else None
    return render("engagement/send_form.html", block="audience", form=form, email_template=template, segment=segment,
                  audience=audience), (400 if form.errors else 200)


@mail_bp.route("/sends/<int:send_id>")
@roles_required("fundraiser")
def send(send_id: int):
    row = get_or_404(BulkSend, send_id)
    return render("engagement/send.html", block="progress", send=row, progress=bulk.progress(row))


@mail_bp.route("/sends/<int:send_id>/cancel", methods=["POST"])
@roles_required("fundraiser")
def cancel_send(send_id: int):
    row = get_or_404(BulkSend, send_id)
    stopped = bulk.cancel(row)
    flash(f"Send stopped; {stopped:,} messages were not sent.", "success")
    return redirect_to(url_for("mail.send", send_id=row.id))


@mail_bp.route("/settings", methods=["GET", "POST"])
@roles_required("admin")
def sending_rules():
    rules = engagement_settings.current()
    form = SettingsForm(obj=rules)
    if form.validate_on_submit():
        try:
            engagement_settings.update(marketing_weekly_cap=form.marketing_weekly_cap.data, track_opens=form.track_opens.data,
                                       track_clicks=form.track_clicks.data, actor=current_user)
        except engagement_settings.SettingsError as exc:
            db.session.rollback()
            getattr(form, exc.field_name).errors.append(str(exc))
        else:
            flash("Sending rules saved.", "success")
            return redirect(url_for("mail.sending_rules"), code=303)
    db.session.commit()
    return render_template("engagement/sending_rules.html", form=form), (400 if form.errors else 200)


# ---------------------------------------------------------------- tracking (links in emails; no sign-in)

@tracking_bp.route("/o/<token>.gif")
def opened(token: str):
    message_id = tracking.read_open(token)
    if message_id is not None:
        tracking.record_open(message_id)
    return Response(tracking.PIXEL_GIF, mimetype="image/gif", headers={"Cache-Control": "no-store, private"})


@tracking_bp.route("/c/<token>")
def clicked(token: str):
    found = tracking.read_click(token)
    if found is None:
        abort(404)
    message_id, target = found
    tracking.record_click(message_id, target)
    return redirect(target, code=302)


def register(app) -> None:
    for blueprint in (segments_bp, templates_bp, workflows_bp, mail_bp, tracking_bp):
        app.register_blueprint(blueprint)
    csrf.exempt(tracking_bp)


def home_tiles() -> list[dict]:
    if not current_user.has_role("fundraiser"):
        return []
    week = utcnow() - timedelta(days=7)
    sent = db.session.scalar(select(func.count()).select_from(EmailMessage)
                             .where(EmailMessage.sent_at >= week, EmailMessage.status.in_(("sent", "stored")))) or 0
    active = db.session.scalar(select(func.count()).select_from(Workflow).where(Workflow.enabled.is_(True))) or 0
    return [{"label": "Emails sent, last 7 days", "value": f"{sent:,}", "hint": "From workflows, sends and receipts"},
            {"label": "Workflows on", "value": f"{active:,}", "hint": "Welcome, thank-you, re-engagement and more"}]


def donor_runs_panel(donor=None, **_context) -> str | None:
    if donor is None or not current_user.has_role("fundraiser"):
        return None
    runs = workflows.runs_for_donor(donor.id)
    return Markup(render_template("engagement/_donor_runs.html", runs=runs, donor=donor))
