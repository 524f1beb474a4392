"""Data rights pages: staff export or erase a donor's data, a donor downloads their own, admins set retention."""
from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from markupsafe import Markup

from portal.auth.access import require_donor, require_staff, roles_required
from portal.donors.services import DonorError, get_donor
from portal.jobs import job_progress
from portal.privacy import erasure, export, retention
from portal.tokens import TokenError

staff_bp = Blueprint("privacy", __name__, url_prefix="/staff/privacy")
staff_bp.before_request(require_staff)
me_bp = Blueprint("mydata", __name__, url_prefix="/me/details/data")
me_bp.before_request(require_donor)
download_bp = Blueprint("data_download", __name__)

ERASE_CONFIRMATION = "ERASE"


def _donor_or_404(donor_id: int):
    donor = get_donor(donor_id)
    if donor is None:
        abort(404)
    return donor


def data_rights_panel(donor) -> Markup:
    """The donor's exports and the erase action on their staff page (staff_donor_side slot)."""
    return Markup(render_template("privacy/_panel.html", donor=donor, exports=export.exports_for(donor.id),
                                  download_token=export.download_token))


@staff_bp.route("/donors/<int:donor_id>/export", methods=["POST"])
@roles_required("fundraiser")
def request_export(donor_id: int):
    donor = _donor_or_404(donor_id)
    try:
        export.request_export(donor.id, requested_by=current_user)
    except DonorError as exc:
        flash(str(exc), "error")
    else:
        flash("The data export is being prepared. It is listed under Data rights when it is ready.", "success")
    return redirect(url_for("donors.show", donor_id=donor.id) + "#data-rights", code=303)


@staff_bp.route("/donors/<int:donor_id>/erase", methods=["GET", "POST"])
@roles_required("admin")
def erase(donor_id: int):
    donor = _donor_or_404(donor_id)
    error = ""
    if request.method == "POST":
        if (request.form.get("confirm") or "").strip() != ERASE_CONFIRMATION:
            error = f"Type {ERASE_CONFIRMATION} in capitals to confirm."
        else:
            try:
                erasure.erase_donor(donor.id, actor=current_user, ip_address=request.remote_addr or "")
            except DonorError as exc:
                error = str(exc)
            else:
                flash("Personal data erased. Gifts stay on the anonymous record, so totals are unchanged.", "success")
                return redirect(url_for("donors.show", donor_id=donor.id), code=303)
    return render_template("privacy/erase.html", donor=donor, error=error, confirmation=ERASE_CONFIRMATION), (400 if error else 200)


@staff_bp.route("/retention", methods=["GET", "POST"])
@roles_required("admin")
def retention_policy():
    years_text = request.form.get("years", "") if request.method == "POST" else request.args.get("years", "")
    current = retention.policy_years()
    error = ""
    preview_years = current
    if years_text.strip():
        try:
            preview_years = retention.parse_years(years_text)
        except retention.RetentionError as exc:
            error, preview_years = str(exc), None
    if request.method == "POST" and not error:
        if request.form.get("action") == "run":
            count = retention.apply_policy(actor=current_user)
            flash(f"{count} donor{'s' if count != 1 else ''} anonymised under the retention policy.", "success")
        else:
            retention.set_policy_years(preview_years if years_text.strip() else None, actor=current_user)
            flash("Retention policy saved." if years_text.strip() else "Retention policy switched off.", "success")
        return redirect(url_for("privacy.retention_policy"), code=303)
    preview = retention.preview(preview_years) if preview_years else None
    return render_template("privacy/retention.html", current=current, years_text=years_text or (current or ""),
                           preview=preview, preview_years=preview_years, error=error), (400 if error else 200)


@me_bp.route("", methods=["GET", "POST"])
def mine():
    donor_id = current_user.donor_id
    if request.method == "POST":
        export.request_export(donor_id, requested_by=current_user, by_donor=True)
        flash("We are putting your data together. It takes a moment; the download appears below.", "success")
        return redirect(url_for("mydata.mine"), code=303)
    exports = export.exports_for(donor_id)
    return render_template("privacy/mydata.html", exports=exports, download_token=export.download_token,
                           progress={e.id: job_progress(e.job_id) for e in exports if e.status == "queued"})


@download_bp.route("/data-export/<token>")
@login_required
def download(token: str):
    try:
        found = export.export_for_download(token, current_user)
    except TokenError as exc:
        return render_template("privacy/download_gone.html", message=str(exc)), 410 if exc.expired else 404
    except PermissionError:
        abort(403)
    return Response(found.content, mimetype="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="donor-{found.donor_id}-data.zip"'})
