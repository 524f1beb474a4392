"""The mail pages (the log, bulk sends, the sending rules), a template's test email, and the open and click
tracking endpoints emails link to."""
from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from portal.auth.access import require_staff, roles_required
from portal.engagement.delivery import bulk_sends as bulk, mail_log, outbox, sending_rules as engagement_settings, test_sends, tracking
from portal.engagement.delivery.forms import BulkSendForm, SettingsForm
from portal.engagement.models import CATEGORIES, MESSAGE_STATUSES, BulkSend, EmailMessage, EmailTemplate
from portal.engagement.segments import services as segments
from portal.engagement.templates import rendering as templating, services as email_templates
from portal.engagement.templates.views import templates_bp
from portal.extensions import csrf
from portal.htmx import redirect_to, render
from portal.params import page_number, query_id
from portal.timeutil import utcnow
from portal.web import get_or_404

mail_bp = Blueprint("mail", __name__, url_prefix="/staff/mail")
mail_bp.before_request(require_staff)
tracking_bp = Blueprint("tracking", __name__, url_prefix="/t")
csrf.exempt(tracking_bp)


@templates_bp.route("/<int:template_id>/test", methods=["POST"])
@roles_required("fundraiser")
def test_send(template_id: int):
    template = get_or_404(EmailTemplate, template_id)
    donor = email_templates.preview_donor(request.form.get("preview_donor_id", type=query_id))
    try:
        test_sends.send_test(template, current_user.email, donor)
    except templating.TemplateLimitError as exc:
        flash(f"The test email could not be written: {exc}", "error")
        return redirect_to(url_for("email_templates.edit", template_id=template.id))
    flash(f"Test email sent to {current_user.email}" + (f", personalised for {donor.display_name}." if donor else " with example values."),
          "success")
    return redirect_to(url_for("email_templates.edit", template_id=template.id, preview_donor_id=donor.id if donor else None))


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
                           donor=mail_log.donor_of(row))


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
                                                  for t in email_templates.all_templates()}}
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
    template, segment = bulk.chosen(form.template_id.data, form.segment_id.data)
    if form.validate_on_submit() and template and segment:
        try:
            send = bulk.start_bulk_send(template, segment, actor=current_user, name=form.name.data or "")
        except bulk.BulkSendError as exc:
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
    form = SettingsForm(obj=engagement_settings.for_editing())
    if form.validate_on_submit():
        try:
            engagement_settings.update(marketing_weekly_cap=form.marketing_weekly_cap.data, track_opens=form.track_opens.data,
                                       track_clicks=form.track_clicks.data, actor=current_user)
        except engagement_settings.SettingsError as exc:
            getattr(form, exc.field_name).errors.append(str(exc))
        else:
            flash("Sending rules saved.", "success")
            return redirect(url_for("mail.sending_rules"), code=303)
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


def home_tiles() -> list[dict]:
    if not current_user.has_role("fundraiser"):
        return []
    sent = mail_log.sent_since(utcnow() - timedelta(days=7))
    return [{"label": "Emails sent, last 7 days", "value": f"{sent:,}", "hint": "From workflows, sends and receipts"}]
