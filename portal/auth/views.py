import time

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_wtf import FlaskForm
from markupsafe import Markup
from flask_login import current_user, login_required, login_user, logout_user

from portal.auth import accounts, services, sessions, two_factor
from portal.auth.access import require_donor, require_staff, roles_required
from portal.auth.forms import EmailForm, LoginForm, NewPasswordForm, TwoFactorCodeForm, TwoFactorSignInForm
from portal.donors.services import get_donor
from portal.extensions import limiter
from portal.tokens import TokenError
from portal.urls import safe_local_path

bp = Blueprint("auth", __name__)
staff_bp = Blueprint("portal_access", __name__, url_prefix="/staff/donors")
staff_bp.before_request(require_staff)
account_bp = Blueprint("account", __name__, url_prefix="/staff/account")
account_bp.before_request(require_staff)
donor_security_bp = Blueprint("donor_security", __name__, url_prefix="/me/account")
donor_security_bp.before_request(require_donor)


def _home_for(user) -> str:
    return url_for("staff.home") if user.is_staff else "/me"


@bp.route("/")
def index():
    if current_user.is_authenticated:
        return redirect(_home_for(current_user))
    return redirect(url_for("auth.login"))


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(_home_for(current_user))
    form = LoginForm()
    error = None
    if form.validate_on_submit():
        try:
            user = services.authenticate(form.email.data, form.password.data)
        except services.SignInRefused as exc:
            return render_template("auth/login.html", form=form, error=str(exc)), 429
        if user:
            target = safe_local_path(request.args.get("next"), _home_for(user))
            if two_factor.enabled(user) and not two_factor.is_trusted_device(user, request.cookies.get(two_factor.TRUSTED_DEVICE_COOKIE)):
                session[PENDING] = {"u": user.id, "r": bool(form.remember.data), "n": target, "t": int(time.time())}
                return redirect(url_for("auth.second_step"), code=303)
            return _complete_sign_in(user, form.remember.data, target, "trusted_device" if two_factor.enabled(user) else None)
        error = "That email and password don't match an active account."
    return render_template("auth/login.html", form=form, error=error), (400 if error or form.errors else 200)


PENDING = "two_factor_pending"  # in the signed session cookie between the password and the code


def _complete_sign_in(user, remember: bool, target: str, second_factor: str | None):
    services.sign_in(user, remember=remember, second_factor=second_factor)
    login_user(user, remember=remember)
    return redirect(target, code=303)


@bp.route("/login/code", methods=["GET", "POST"])
def second_step():
    pending = session.get(PENDING)
    user = services.awaiting_second_factor(pending)
    if user is None:
        session.pop(PENDING, None)
        flash("Sign in again: the time for the code ran out.", "info")
        return redirect(url_for("auth.login"), code=303)
    form = TwoFactorSignInForm()
    error = None
    if form.validate_on_submit():
        try:
            kind = services.check_second_factor(user, form.code.data)
        except services.SignInRefused as exc:
            return render_template("auth/second_step.html", form=form, error=str(exc)), 429
        if kind:
            session.pop(PENDING, None)
            response = _complete_sign_in(user, pending["r"], pending["n"], kind)
            if form.remember_device.data:
                response.set_cookie(two_factor.TRUSTED_DEVICE_COOKIE, two_factor.trusted_device_token(user),
                                    max_age=two_factor.TRUSTED_DEVICE_DAYS * 24 * 3600, httponly=True, samesite="Lax",
                                    secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")))
            return response
        error = "That code doesn't match. Type the newest code from your authenticator app, or one of your recovery codes."
    return render_template("auth/second_step.html", form=form, error=error), (400 if error or form.errors else 200)


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    services.sign_out(current_user)
    logout_user()
    flash("You have signed out.", "info")
    return redirect(url_for("auth.login"), code=303)


def _link_problem(message: str, *, expired: bool = False, again: str | None = None):
    """A tampered, expired or used link: a clear page with the way forward, never a 500."""
    return render_template("auth/link_problem.html", message=message, expired=expired, again=again), 400


def _set_password_page(purpose: str, token: str, heading: str):
    try:
        donor = accounts.donor_for_account_token(purpose, token)
    except TokenError as exc:
        return _link_problem(str(exc), expired=exc.expired,
                             again=url_for("auth.signup") if purpose == "signup" else None)
    except services.AccountError as exc:
        return _link_problem(str(exc))
    form = NewPasswordForm()
    if form.validate_on_submit():
        try:
            user = accounts.create_donor_account(purpose, token, form.password.data)
        except services.AccountError as exc:
            form.password.errors.append(str(exc))
        else:
            services.sign_in(user, remember=False)
            login_user(user)
            flash(f"Welcome, {donor.salutation_name}. Your account is ready.", "success")
            return redirect("/me", code=303)
    return render_template("auth/set_password.html", form=form, donor=donor, heading=heading), (400 if form.errors else 200)


@bp.route("/invitation/<token>", methods=["GET", "POST"])
def accept_invitation(token: str):
    return _set_password_page("invitation", token, "Set up your supporter account")


@bp.route("/signup", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"], methods=["POST"])
def signup():
    form = EmailForm()
    if form.validate_on_submit():
        accounts.request_signup(form.email.data)
        return render_template("auth/check_email.html", email=form.email.data, reason="signup")
    return render_template("auth/signup.html", form=form), (400 if form.errors else 200)


@bp.route("/signup/<token>", methods=["GET", "POST"])
def finish_signup(token: str):
    return _set_password_page("signup", token, "Choose your password")


@bp.route("/password/forgot", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"], methods=["POST"])
def forgot_password():
    form = EmailForm()
    if form.validate_on_submit():
        services.request_password_reset(form.email.data)
        return render_template("auth/check_email.html", email=form.email.data, reason="reset")
    return render_template("auth/forgot.html", form=form), (400 if form.errors else 200)


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str):
    try:
        user = services.user_for_reset_token(token)
    except TokenError as exc:
        return _link_problem(str(exc), expired=exc.expired, again=url_for("auth.forgot_password"))
    except services.AccountError as exc:
        return _link_problem(str(exc), again=url_for("auth.forgot_password"))
    form = NewPasswordForm()
    if form.validate_on_submit():
        try:
            services.reset_password(token, form.password.data)
        except services.AccountError as exc:
            form.password.errors.append(str(exc))
        else:
            flash("Your password has been changed. Sign in with your new password.", "success")
            return redirect(url_for("auth.login"), code=303)
    return render_template("auth/reset.html", form=form, user=user), (400 if form.errors else 200)


@staff_bp.route("/<int:donor_id>/portal-invitation", methods=["POST"])
@roles_required("fundraiser", "support")
def invite(donor_id: int):
    donor = get_donor(donor_id)
    if donor is None:
        abort(404)
    form = FlaskForm()
    if form.validate_on_submit():
        try:
            accounts.invite_donor(donor, invited_by=current_user)
        except services.AccountError as exc:
            flash(str(exc), "error")
        else:
            flash(f"Invitation sent to {donor.email}. The link works for 14 days.", "success")
    return redirect(url_for("donors.show", donor_id=donor.id), code=303)


@account_bp.route("/sessions")
def sessions_page():
    current = sessions.current_row(current_user)
    return render_template("auth/sessions.html", open_sessions=sessions.open_sessions(current_user.id),
                           current_id=current.id if current else None, device=sessions.device)


@account_bp.route("/sessions/<int:session_id>/end", methods=["POST"])
def end_session(session_id: int):
    form = FlaskForm()
    if not form.validate_on_submit():
        abort(400)
    was_current = services.end_own_session(current_user, session_id)
    if was_current is None:
        abort(404)
    if was_current:
        logout_user()
        flash("You have signed out.", "info")
        return redirect(url_for("auth.login"), code=303)
    flash("That session has ended: its browser is signed out.", "success")
    return redirect(url_for("account.sessions_page"), code=303)


@account_bp.route("/sessions/end-others", methods=["POST"])
def end_other_sessions():
    form = FlaskForm()
    if not form.validate_on_submit():
        abort(400)
    ended = services.end_other_sessions(current_user)
    flash(f"Signed out of {ended} other session{'s' if ended != 1 else ''}." if ended else "There were no other sessions.",
          "success")
    return redirect(url_for("account.sessions_page"), code=303)


# ---------------------------------------------------------------- two-step sign-in: staff and donors alike

def _two_factor_page(blueprint: str, *, form=None, codes=None, error=None, status=200):
    """The two-step sign-in page: the QR code and a code box while off; recovery codes and "turn off" while on."""
    layout = "staff/layout.html" if blueprint == "account" else "me/layout.html"
    user = current_user._get_current_object()
    setup = None
    if not two_factor.enabled(user) and codes is None:
        uri = two_factor.provisioning_uri(user, two_factor.pending_secret(user))
        setup = {"qr": two_factor.qr_svg(uri), "secret": user.totp_secret}
    return render_template("auth/two_factor.html", layout=layout, bp=blueprint, setup=setup, codes=codes,
                           enabled=two_factor.enabled(user), required=two_factor.required_for(user),
                           codes_left=two_factor.recovery_codes_left(user) if two_factor.enabled(user) else 0,
                           form=form or TwoFactorCodeForm(), error=error), status


def _two_factor_action(blueprint: str, action: str):
    form = TwoFactorCodeForm()
    if not form.validate_on_submit():
        return _two_factor_page(blueprint, form=form, status=400)
    user = current_user._get_current_object()
    try:
        if action == "enable":
            return _two_factor_page(blueprint, codes=two_factor.enable(user, form.code.data))
        if action == "recovery_codes":
            return _two_factor_page(blueprint, codes=two_factor.regenerate_recovery_codes(user, form.code.data))
        two_factor.disable(user, form.code.data)
    except two_factor.TwoFactorError as exc:
        return _two_factor_page(blueprint, form=TwoFactorCodeForm(formdata=None), error=(action, str(exc)), status=400)
    flash("Two-step sign-in is off.", "success")
    return redirect(url_for(f"{blueprint}.two_factor_page"), code=303)


def two_factor_page():
    return _two_factor_page(request.blueprint)


def two_factor_enable():
    return _two_factor_action(request.blueprint, "enable")


def two_factor_recovery_codes():
    return _two_factor_action(request.blueprint, "recovery_codes")


def two_factor_disable():
    return _two_factor_action(request.blueprint, "disable")


for _blueprint in (account_bp, donor_security_bp):  # the same pages for staff (/staff/account) and donors (/me/account)
    _blueprint.add_url_rule("/two-step", view_func=two_factor_page)
    _blueprint.add_url_rule("/two-step/enable", view_func=two_factor_enable, methods=["POST"])
    _blueprint.add_url_rule("/two-step/recovery-codes", view_func=two_factor_recovery_codes, methods=["POST"])
    _blueprint.add_url_rule("/two-step/disable", view_func=two_factor_disable, methods=["POST"])


def portal_access_panel(donor) -> Markup:
    """The donor's portal account on their staff page (staff_donor_side slot); Markup, as the page prints it as is."""
    return Markup(render_template("auth/_portal_access_panel.html", donor=donor, account=services.user_for_donor(donor.id)))
