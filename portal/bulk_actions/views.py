"""Bulk actions from the donor list or a segment: choose the action, confirm with its details, then watch
the job for large selections."""
from __future__ import annotations

from datetime import datetime

from flask import Blueprint, Response, flash, redirect, render_template, request, stream_with_context, url_for
from flask_login import current_user

from portal import jobs
from portal.auth.access import require_staff, roles_required
from portal.auth.services import staff_users
from portal.bulk_actions import services as bulk_actions
from portal.donors import services
from portal.engagement import services as engagement
from portal.htmx import render

bp = Blueprint("bulk", __name__, url_prefix="/staff/donors/bulk")
bp.before_request(require_staff)


def _choices() -> dict:
    return {"managers": [u for u in staff_users() if u.active], "workflows": engagement.all_workflows()}


def _list_url(selection: bulk_actions.Selection) -> str:
    if selection.segment_id is not None:
        return url_for("segments.show", segment_id=selection.segment_id)
    return url_for("donors.index", **selection.filters)


@bp.route("/", methods=["GET", "POST"])
@roles_required("fundraiser")
def confirm():
    """Step one: the selection and the action chosen on the list; shows the count and the action's details."""
    form = request.form if request.method == "POST" else request.args
    selection = bulk_actions.Selection.from_form(form)
    action = form.get("action") or "tag"
    errors = {}
    if action not in bulk_actions.ACTIONS:
        errors["action"] = "Choose what to do with the selected donors."
    try:
        count = selection.count()
    except services.DonorError as exc:
        count, errors["ids"] = 0, str(exc)
    if count == 0 and "ids" not in errors:
        errors["ids"] = "Tick at least one donor, or choose all matching donors."
    return render_template("donors/bulk.html", selection=selection, action=action, count=count, errors=errors,
                           values={}, actions=bulk_actions.ACTIONS, list_url=_list_url(selection), **_choices()), (400 if errors else 200)


@bp.route("/run", methods=["POST"])
@roles_required("fundraiser")
def run():
    selection = bulk_actions.Selection.from_form(request.form)
    action = request.form.get("action", "")
    if action == "export":
        count = bulk_actions.record_export(selection, actor=current_user)
        stamp = datetime.now().strftime("%Y%m%d-%H%M")
        rows = services.export_csv(services.parse_filters({}), only_ids=selection.query())
        return Response(stream_with_context(rows), mimetype="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="donors-{count}-{stamp}.csv"'})
    try:
        outcome = bulk_actions.start(action, request.form.to_dict(), selection, actor=current_user)
    except services.DonorError as exc:
        errors = {exc.field_name or "action": str(exc)}
        return render_template("donors/bulk.html", selection=selection, action=action, count=selection.count(), errors=errors,
                               values=request.form, actions=bulk_actions.ACTIONS, list_url=_list_url(selection), **_choices()), 400
    if outcome.job_id:
        return redirect(url_for("bulk.progress", job_id=outcome.job_id, back=_list_url(selection)), code=303)
    flash(f"{bulk_actions.ACTIONS[action]}: done for {outcome.count:,} donor{'s' if outcome.count != 1 else ''}.", "success")
    return redirect(_list_url(selection), code=303)


@bp.route("/jobs/<job_id>")
@roles_required("fundraiser")
def progress(job_id: str):
    back = request.args.get("back", "")
    if not back.startswith("/staff/"):
        back = url_for("donors.index")
    return render("donors/bulk_progress.html", block="progress", job_id=job_id, progress=jobs.job_progress(job_id), back=back)
