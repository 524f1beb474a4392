"""Who may see what. Every /staff blueprint calls require_staff() before each request."""
from __future__ import annotations

import functools
from typing import Callable

from flask import abort, request
from flask_login import current_user

from portal.extensions import login_manager


def require_staff() -> None:
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if not current_user.is_staff:
        abort(403)
    return None


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
