"""Template helpers, error pages and security headers shared by every page."""
from __future__ import annotations

from datetime import date, datetime

from flask import Flask, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from markupsafe import Markup

from portal.money import format_money
from portal.timeutil import to_local


def _org():
    from portal.settings.services import organisation

    return organisation()


def money(minor: int | None, currency: str | None = None, whole: bool = False) -> str:
    return format_money(minor, currency or _org().currency, whole=whole)


def local_dt(value: datetime | None, fmt: str = "%-d %b %Y, %H:%M") -> str:
    if value is None:
        return "—"
    return to_local(value, _org().timezone).strftime(fmt)


def local_date(value: datetime | date | None, fmt: str = "%-d %b %Y") -> str:
    if value is None:
        return "—"
    if isinstance(value, datetime):
        value = to_local(value, _org().timezone)
    return value.strftime(fmt)


def query_with(**changes) -> str:
    """The current query string with some parameters replaced (for sort links and paging)."""
    args = request.args.to_dict(flat=True)
    for key, value in changes.items():
        if value is None or value == "":
            args.pop(key, None)
        else:
            args[key] = str(value)
    from urllib.parse import urlencode

    return "?" + urlencode(args) if args else "?"


ERROR_TEXT = {
    400: ("That request didn't make sense", "Something in the request was missing or malformed. Please go back and try again."),
    403: ("You don't have access to this page", "Your account doesn't include this area. If you think it should, ask an administrator."),
    404: ("We couldn't find that page", "The link may be out of date, or the record may have been removed."),
    405: ("That action isn't allowed here", "Please go back and use the buttons on the page."),
    413: ("That file is too large", "Files up to 64 MB can be uploaded. Split the file and try again."),
    429: ("Too many attempts", "For your security we've paused sign-in for a little while. Please wait a minute and try again."),
    500: ("Something went wrong on our side", "The error has been logged. Please try again in a moment."),
}


def _error_page(code: int, detail: str | None = None):
    title, text = ERROR_TEXT.get(code, ERROR_TEXT[500])
    if request.accept_mimetypes.best == "application/json":
        return jsonify(error=title), code
    return render_template("errors/error.html", code=code, title=title, text=detail or text), code


def init_app(app: Flask) -> None:
    from portal.giving.models import GIFT_METHODS, GIFT_STATUSES, PLAN_INTERVALS, PLAN_KINDS, PLAN_STATUSES
    from portal.journey.services import KINDS, kind_label

    app.jinja_env.add_extension("jinja2.ext.do")
    app.jinja_env.filters.update(money=money, local_dt=local_dt, local_date=local_date, kind_label=kind_label)
    app.jinja_env.globals.update(
        query_with=query_with, organisation=_org, GIFT_METHODS=GIFT_METHODS, GIFT_STATUSES=GIFT_STATUSES,
        PLAN_KINDS=PLAN_KINDS, PLAN_INTERVALS=PLAN_INTERVALS, PLAN_STATUSES=PLAN_STATUSES, TOUCHPOINT_KINDS=KINDS,
    )

    for code in ERROR_TEXT:
        app.register_error_handler(code, lambda exc, code=code: _error_page(code))

    @app.errorhandler(CSRFError)
    def _csrf_error(exc: CSRFError):
        return _error_page(400, "This form has expired or was sent from somewhere else. Reload the page and try again.")

    @app.after_request
    def _security_headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; frame-ancestors 'none'",
        )
        return response

    app.extensions.setdefault("staff_nav", [])
    app.extensions.setdefault("home_tiles", [])
    app.extensions.setdefault("page_actions", {})
    app.extensions.setdefault("panels", {})

    def staff_nav():
        from flask_login import current_user

        return [item for item in app.extensions["staff_nav"] if current_user.has_role(*item[2])]

    def home_tiles():
        return [tile for provider in app.extensions["home_tiles"] for tile in provider()]

    def page_actions(page: str):
        from flask_login import current_user

        return [(endpoint, label) for endpoint, label, roles in app.extensions["page_actions"].get(page, [])
                if current_user.has_role(*roles)]

    def panels(slot: str, **context):
        """HTML from every provider registered for a slot of a page (e.g. the donor page's sidebar)."""
        rendered = (provider(**context) for provider in app.extensions["panels"].get(slot, []))
        # Providers return render_template() output, already escaped by their own templates.
        return [Markup(html) for html in rendered if html]

    app.jinja_env.globals.update(staff_nav=staff_nav, home_tiles=home_tiles, page_actions=page_actions, panels=panels)
    app.extensions.setdefault("me_nav", [])
    app.jinja_env.globals["me_nav"] = lambda: [(endpoint, label) for endpoint, label, _order in app.extensions["me_nav"]]
    add_staff_nav(app, "staff.home", "Overview", ("fundraiser", "support"))
    add_staff_nav(app, "donors.index", "Donors", ("fundraiser", "support"))


def add_staff_nav(app: Flask, endpoint: str, label: str, roles: tuple[str, ...]) -> None:
    """Domains add their back-office section to the sidebar here instead of editing the layout."""
    app.extensions.setdefault("staff_nav", []).append((endpoint, label, roles))


def add_me_nav(app: Flask, endpoint: str, label: str, *, order: int = 50) -> None:
    """A section of the donor portal's top navigation, placed by `order` (lowest first) whichever domain
    registers first."""
    sections = app.extensions.setdefault("me_nav", [])
    sections.append((endpoint, label, order))
    sections.sort(key=lambda section: section[2])


def add_home_tiles(app: Flask, provider) -> None:
    """provider() returns a list of {"label", "value", "hint"} for the back-office home."""
    app.extensions.setdefault("home_tiles", []).append(provider)


def add_page_action(app: Flask, page: str, endpoint: str, label: str, roles: tuple[str, ...]) -> None:
    """A button in a page's header (e.g. "Import CSV" on the donor list), shown to the given roles."""
    app.extensions.setdefault("page_actions", {}).setdefault(page, []).append((endpoint, label, roles))


def add_panel(app: Flask, slot: str, provider) -> None:
    """provider(**context) returns HTML (or None) for a slot; slots: staff_donor_main, staff_donor_side, me_home,
    me_give, me_receipt, me_statement, insights_index."""
    app.extensions.setdefault("panels", {}).setdefault(slot, []).append(provider)
