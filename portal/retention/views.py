"""Staff pages: the at-risk list, closing alerts, scoring settings, and the donor page panel."""
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from markupsafe import Markup

from portal.auth.access import require_staff, roles_required
from portal.donors.services import get_donor
from portal.htmx import render
from portal.params import page_number
from portal.retention import services
from portal.retention.forms import DismissForm, ManagerForm, ResolveForm, RiskSettingsForm
from portal.retention.models import ALERT_KINDS, ALERT_STATUSES, CHECK_IN_REASONS
from portal.support.services import assignable_staff
from portal.urls import safe_local_path

bp = Blueprint("retention", __name__, url_prefix="/staff/at-risk")
bp.before_request(require_staff)

STAFF_ROLES = ("fundraiser", "support")


@bp.route("/")
@roles_required(*STAFF_ROLES)
def index():
    status = request.args.get("status") or "open"
    kind = request.args.get("kind") or ""
    sort = request.args.get("sort") or "score"
    result = services.alert_list(status=status, kind=kind if kind in ALERT_KINDS else "",
                                 sort=sort, page=request.args.get("page", 1, type=page_number))
    return render("retention/index.html", block="results", result=result, status=status, kind=kind, sort=sort,
                  sorts=services.ALERT_SORTS, statuses=ALERT_STATUSES, kinds=ALERT_KINDS, counts=services.alert_counts(),
                  threshold=services.settings().threshold)


def _alert_or_404(alert_id: int):
    alert = services.get_alert(alert_id)
    if alert is None:
        abort(404)
    return alert


def _back() -> str:
    return safe_local_path(request.form.get("next"), url_for("retention.index"))


@bp.route("/alerts/<int:alert_id>/dismiss", methods=["POST"])
@roles_required(*STAFF_ROLES)
def dismiss(alert_id: int):
    alert = _alert_or_404(alert_id)
    form = DismissForm()
    if not form.validate_on_submit():
        return render_template("retention/close_alert.html", alert=alert, form=form, action="dismiss",
                               next=request.form.get("next", "")), 400
    try:
        services.dismiss_alert(alert, form.reason.data, actor=current_user)
    except services.RetentionError as exc:
        flash(str(exc), "error")
    else:
        flash(f"Alert for {alert.donor.display_name} dismissed.", "success")
    return redirect(_back(), code=303)


@bp.route("/alerts/<int:alert_id>/resolve", methods=["POST"])
@roles_required(*STAFF_ROLES)
def resolve(alert_id: int):
    alert = _alert_or_404(alert_id)
    form = ResolveForm()
    if not form.validate_on_submit():
        return render_template("retention/close_alert.html", alert=alert, form=form, action="resolve",
                               next=request.form.get("next", "")), 400
    try:
        services.resolve_alert(alert, form.note.data or "", actor=current_user)
    except services.RetentionError as exc:
        flash(str(exc), "error")
    else:
        flash(f"Alert for {alert.donor.display_name} resolved.", "success")
    return redirect(_back(), code=303)


@bp.route("/donors/<int:donor_id>/manager", methods=["POST"])
@roles_required(*STAFF_ROLES)
def set_manager(donor_id: int):
    donor = get_donor(donor_id)
    if donor is None:
        abort(404)
    form = ManagerForm()
    form.user_id.fill(assignable_staff())
    if form.validate_on_submit():
        services.set_manager(donor.id, form.user_id.data)
        flash("Relationship manager saved." if form.user_id.data else "Relationship manager removed.", "success")
    else:
        flash("Choose someone from the list.", "error")
    return redirect(url_for("donors.show", donor_id=donor.id), code=303)


@bp.route("/settings", methods=["GET", "POST"])
@roles_required("admin")
def settings():
    levels = services.settings()
    form = RiskSettingsForm(obj=levels)
    if request.method == "GET":
        form.major_donor.data = f"{levels.major_donor_minor / 100:.2f}"
    if form.validate_on_submit():
        values = {name: getattr(form, name).data for name in services.SETTING_RANGES if name != "major_donor_minor"}
        values.update(major_donor_minor=form.major_donor.minor, alert_team=form.alert_team.data,
                      check_in_team=form.check_in_team.data, check_in_action=form.check_in_action.data)
        try:
            services.update_settings(values, actor=current_user)
        except services.RetentionError as exc:
            field = "major_donor" if exc.field_name == "major_donor_minor" else exc.field_name
            getattr(form, field).errors.append(str(exc))
        else:
            flash("Scoring and check-in rules saved. Scores update at the next nightly run, or as touchpoints arrive.", "success")
            return redirect(url_for("retention.index"), code=303)
    return render_template("retention/settings.html", form=form, signals=services.SIGNALS), (400 if form.errors else 200)


# ---------------------------------------------------------------- extension points

def trend_points(history, width: int = 220, height: int = 44) -> str:
    """SVG polyline points for a score trend (0 at the bottom, 100 at the top)."""
    if not history:
        return ""
    step = width / max(1, len(history) - 1)
    return " ".join(f"{round(i * step, 1)},{round(height - height * h.score / 100, 1)}" for i, h in enumerate(history))


def donor_panel(donor, **_):
    if not current_user.has_role(*STAFF_ROLES):
        return None
    risk = services.donor_risk(donor.id)
    manager_form = ManagerForm()
    manager = services.manager_of(donor.id)
    manager_form.user_id.fill(assignable_staff())
    manager_form.user_id.data = manager.id if manager else None
    return Markup(render_template("retention/_donor_panel.html", donor=donor, risk=risk, trend=trend_points(risk.history),
                                  manager=manager, manager_form=manager_form, check_ins=services.recent_check_ins(donor.id, 3),
                                  reasons_labels=CHECK_IN_REASONS))


def describe_alert(alert_id: int):
    alert = services.get_alert(alert_id)
    if alert is None:
        return None
    text = f"{alert.kind_label} alert" + (f" (score {alert.score})" if alert.score is not None else "")
    return text + f" — {ALERT_STATUSES[alert.status].lower()}", url_for("retention.index", status=alert.status)


def describe_check_in(check_in_id: int):
    check_in = services.get_check_in(check_in_id)
    if check_in is None:
        return None
    return f"{CHECK_IN_REASONS[check_in.reason]}: {check_in.detail}", url_for("donors.show", donor_id=check_in.donor_id)
