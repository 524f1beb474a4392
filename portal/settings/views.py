"""Admin: organisation settings and staff users."""
from zoneinfo import available_timezones

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm

from portal.auth import services as accounts
from portal.auth.access import require_staff, roles_required
from portal.auth.forms import EditStaffUserForm, StaffUserForm
from portal.auth.sessions import device, open_sessions
from portal.settings import services
from portal.settings.forms import OrganisationForm

bp = Blueprint("settings", __name__, url_prefix="/staff/admin")
bp.before_request(require_staff)


@bp.route("/organisation", methods=["GET", "POST"])
@roles_required("admin")
def organisation():
    org = services.organisation()
    form = OrganisationForm(obj=org)
    if form.validate_on_submit():
        try:
            services.update_organisation(name=form.name.data, currency=form.currency.data, timezone=form.timezone.data,
                                         support_email=form.support_email.data or "", impact_line=form.impact_line.data or "",
                                         two_factor_required_for=form.two_factor_required_for.data,
                                         financial_year_start=form.financial_year_start.data, acting_user=current_user)
        except services.SettingsError as exc:
            getattr(form, exc.field_name).errors.append(str(exc))
        else:
            flash("Organisation settings saved.", "success")
            return redirect(url_for("settings.organisation"), code=303)
    return render_template("settings/organisation.html", form=form, timezones=sorted(available_timezones())), (400 if form.errors else 200)


@bp.route("/users", methods=["GET", "POST"])
@roles_required("admin")
def users():
    form = StaffUserForm()
    if form.validate_on_submit():
        try:
            accounts.create_user(form.email.data, form.password.data, form.role.data, name=form.name.data,
                                 acting_user=current_user)
        except accounts.AccountError as exc:
            getattr(form, exc.field_name or "email").errors.append(str(exc))
        else:
            flash(f"{form.name.data} can now sign in.", "success")
            return redirect(url_for("settings.users"), code=303)
    return render_template("settings/users.html", users=accounts.staff_users(), form=form), (400 if form.errors else 200)


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@roles_required("admin")
def edit_user(user_id: int):
    user = accounts.staff_user(user_id)
    if user is None:
        abort(404)
    form = EditStaffUserForm(obj=user)
    if form.validate_on_submit():
        try:
            if form.password.data:  # refused before anything is saved, so the page keeps every change
                accounts.check_password_strength(form.password.data, user.email)
            accounts.update_staff_user(user, name=form.name.data, role=form.role.data, active=form.active.data,
                                       acting_user=current_user)
            if form.password.data:
                accounts.set_password(user, form.password.data, acting_user=current_user)
        except accounts.AccountError as exc:
            getattr(form, exc.field_name or "role").errors.append(str(exc))
        else:
            flash("User updated.", "success")
            return redirect(url_for("settings.users"), code=303)
    return render_template("settings/user_edit.html", user=user, form=form, open_sessions=open_sessions(user.id),
                           device=device), (400 if form.errors else 200)


@bp.route("/users/<int:user_id>/sessions/end", methods=["POST"])
@roles_required("admin")
def end_user_sessions(user_id: int):
    user = accounts.staff_user(user_id)
    if user is None:
        abort(404)
    if not FlaskForm().validate_on_submit():
        abort(400)
    try:
        ended = accounts.end_sessions_of(user, acting_user=current_user)
    except accounts.AccountError as exc:
        flash(str(exc), "error")
    else:
        flash(f"{user.name or user.email} is signed out of {ended} session{'s' if ended != 1 else ''}.", "success")
    return redirect(url_for("settings.edit_user", user_id=user.id), code=303)
