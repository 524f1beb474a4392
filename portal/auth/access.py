"""Who may see what. Every /staff blueprint calls require_staff() before each request."""
from __future__ import annotations

import functools
from typing import Callable

from flask import abort, flash, redirect, request, url_for
from flask_login import current_user

from portal.auth import two_factor
from portal.extensions import login_manager


# What a staff member who must still set up two-step sign-in may open: its page, and the way out.
ENROLMENT_ENDPOINTS = {"account.two_factor_page", "account.two_factor_enable"}


def require_staff():
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if not current_user.is_staff:
        abort(403)
    if request.endpoint not in ENROLMENT_ENDPOINTS and _must_enrol(current_user):
        flash("Your organisation asks you to use two-step sign-in. Set it up to continue.", "info")
        return redirect(url_for("account.two_factor_page"))
    return None


def _must_enrol(user) -> bool:
    return two_factor.required_for(user) and not two_factor.enabled(user)


def roles_required(*roles: str) -> Callable:
    """Allow admins and the named staff roles; everyone else gets 403."""

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if not current_user.has_role(*roles):
                abort(403)
            return view(*args, **kwargs)

        wrapper.required_roles = roles
        return wrapper

    return decorator


def wants_staff_area() -> bool:
    return request.path.startswith("/staff")


def require_donor() -> None:
    """Every /me route: a signed-in donor account linked to a donor record. Staff get 403."""
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if current_user.role != "donor" or not current_user.donor_id:
        abort(403)
    return None
