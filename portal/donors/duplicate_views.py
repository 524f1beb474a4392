"""Staff pages for duplicate donors: the review queue, "not a duplicate", and the side-by-side merge."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from portal import jobs
from portal.auth.access import require_staff, roles_required
from portal.donors import duplicates, merge, services
from portal.htmx import render
from portal.params import page_number

bp = Blueprint("duplicates", __name__, url_prefix="/staff/donors/duplicates")
bp.before_request(require_staff)


@bp.route("/")
@roles_required("fundraiser")
def index():
    pairs, total = duplicates.review_queue(page=request.args.get("page", 1, type=page_number))
    job_id = request.args.get("job") or ""
    progress = jobs.job_progress(job_id) if job_id else None
    return render("donors/duplicates.html", block="scan_status", pairs=pairs, total=total, job_id=job_id, progress=progress,
                  page=request.args.get("page", 1, type=page_number))


@bp.route("/scan", methods=["POST"])
@roles_required("fundraiser")
def scan():
    job_id = jobs.enqueue_now("reports", duplicates.scan_job)
    flash("Looking for duplicates across every donor. The list updates when the scan finishes.", "info")
    return redirect(url_for("duplicates.index", job=job_id), code=303)


@bp.route("/<int:pair_id>/not-duplicate", methods=["POST"])
@roles_required("fundraiser")
def not_duplicate(pair_id: int):
    pair = duplicates.get_pair(pair_id)
    if pair is None:
        abort(404)
    duplicates.mark_not_duplicate(pair, actor=current_user)
    flash("Marked as different people; they won't be suggested again.", "success")
    return redirect(url_for("duplicates.index"), code=303)


@bp.route("/merge/<int:survivor_id>/<int:other_id>", methods=["GET", "POST"])
@roles_required("fundraiser")
def merge_pair(survivor_id: int, other_id: int):
    survivor, other = services.get_donor(survivor_id), services.get_donor(other_id)
    if survivor is None or other is None:
        abort(404)
    error = ""
    if request.method == "POST":
        take = {name for name in merge.MERGE_FIELDS if request.form.get(f"keep_{name}") == "other"}
        try:
            merge.merge(survivor_id, other_id, take_from_other=take, actor=current_user)
        except services.DonorError as exc:
            error = str(exc)
        else:
            flash(f"Merged: donor #{other_id} is now part of this record.", "success")
            return redirect(url_for("donors.show", donor_id=survivor_id), code=303)
    return render_template("donors/merge.html", survivor=survivor, other=other, rows=merge.side_by_side(survivor, other),
                           reasons=duplicates.compare(duplicates.Profile.of(survivor), duplicates.Profile.of(other))[1],
                           error=error), (400 if error else 200)
