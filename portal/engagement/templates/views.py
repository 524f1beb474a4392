"""The email template pages: the list, the editor with its live preview, and deleting.

Sending a test email of a template is delivery's: delivery/views.py adds that route to this blueprint.
"""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from portal.auth.access import require_staff, roles_required
from portal.donors.models import Donor
from portal.engagement.models import CATEGORIES, EmailTemplate
from portal.engagement.templates import rendering as templating, services as email_templates
from portal.engagement.templates.forms import TemplateForm
from portal.htmx import redirect_to
from portal.params import query_id
from portal.web import get_or_404

templates_bp = Blueprint("email_templates", __name__, url_prefix="/staff/templates")
templates_bp.before_request(require_staff)


@templates_bp.route("/", endpoint="index")
@roles_required("fundraiser")
def template_index():
    return render_template("engagement/templates.html", templates=email_templates.all_templates(), categories=CATEGORIES)


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
            template = email_templates.save_template(template, form.populate_obj, actor=current_user)
            flash(f"Template “{template.name}” saved.", "success")
            return redirect(url_for("email_templates.edit", template_id=template.id), code=303)
    donor = email_templates.preview_donor(request.values.get("preview_donor_id", type=query_id))
    values = request.form if request.method == "POST" else {
        "subject": template.subject, "html_body": template.html_body, "text_body": template.text_body,
        "category": template.category} if template else {"subject": "", "html_body": "", "text_body": "", "category": "marketing"}
    preview = _preview(values, donor) if any(values.get(k) for k in ("subject", "text_body")) else None
    used_by = email_templates.workflows_using(template) if template else []
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
    donor = email_templates.preview_donor(request.form.get("preview_donor_id", type=query_id))
    return render_template("engagement/_preview.html", preview=_preview(request.form, donor))


@templates_bp.route("/donors")
@roles_required("fundraiser")
def donor_choices():
    """htmx: donors to preview with, found by name or email as staff type."""
    text = (request.args.get("q") or "").strip().lower()
    found = email_templates.preview_donors(text) if len(text) >= 2 else []
    return render_template("engagement/_donor_choices.html", donors=found, q=text)


@templates_bp.route("/<int:template_id>/delete", methods=["POST"], endpoint="delete")
@roles_required("fundraiser")
def template_delete(template_id: int):
    template = get_or_404(EmailTemplate, template_id)
    users = email_templates.workflows_using(template)
    if users:
        flash("This template is used by " + ", ".join(f"“{w.name}”" for w in users) + ". Change those steps first.", "error")
        return redirect_to(url_for("email_templates.edit", template_id=template.id))
    email_templates.delete_template(template)
    flash("Template deleted.", "success")
    return redirect_to(url_for("email_templates.index"))
