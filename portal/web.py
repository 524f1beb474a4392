"""Template helpers, error pages and security headers shared by every page."""
from __future__ import annotations

import logging
import sqlite3
from datetime import date, datetime
from typing import Callable
from urllib.parse import urlencode

import psycopg
from flask import Flask, abort, current_app, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import exc as sa_exc

from portal.extensions import db
from portal.money import format_money
from portal.timeutil import to_local
from portal.urls import safe_local_path

log = logging.getLogger(__name__)


def current_organisation():
    """The organisation's settings row (name, currency, time zone), from the getter settings provides; for the
    filters here and for auth, which does not import settings (its identity sits below it)."""
    return current_app.extensions["organisation"]()


def provide_organisation(app: Flask, getter: Callable) -> None:
    app.extensions["organisation"] = getter


def get_or_404(model, ident, **belongs_to):
    """The row with this primary key, or a 404. Keywords name the row's owner (donor_id=..., workflow_id=...):
    a row that belongs to someone else is a 404 too, so nobody learns that another donor's record exists."""
    row = db.session.get(model, ident) if isinstance(ident, int) else None
    if row is None or any(getattr(row, column) != value for column, value in belongs_to.items()):
        abort(404)
    return row


def money(minor: int | None, currency: str | None = None, whole: bool = False) -> str:
    return format_money(minor, currency or current_organisation().currency, whole=whole)


def local_dt(value: datetime | None, fmt: str = "%-d %b %Y, %H:%M") -> str:
    if value is None:
        return "—"
    return to_local(value, current_organisation().timezone).strftime(fmt)


def local_date(value: datetime | date | None, fmt: str = "%-d %b %Y") -> str:
    if value is None:
        return "—"
    if isinstance(value, datetime):
        value = to_local(value, current_organisation().timezone)
    return value.strftime(fmt)


def query_with(**changes) -> str:
    """The current query string with some parameters replaced (for sort links and paging)."""
    args = request.args.to_dict(flat=True)
    for key, value in changes.items():
        if value is None or value == "":
            args.pop(key, None)
        else:
            args[key] = str(value)
    return "?" + urlencode(args) if args else "?"


CONTENT_SECURITY_POLICY = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; "
                           "frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
# The app uses none of these browser features; a script injected despite the CSP cannot either.
PERMISSIONS_POLICY = ("accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), "
                      "payment=(), usb=(), browsing-topics=()")

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
    try:
        return render_template("errors/error.html", code=code, title=title, text=detail or text, back=_back_link()), code
    except DATABASE_UNAVAILABLE as error:  # the page's layout reads the organisation's settings
        return _database_unavailable(error)


# What a database that is down, restarting or out of connections raises: SQLAlchemy's wrapped errors, and the
# drivers' own from the account reader, which runs on raw connections.
DATABASE_UNAVAILABLE = (sa_exc.OperationalError, sa_exc.TimeoutError, sqlite3.OperationalError, psycopg.OperationalError)


def _database_unavailable(error: Exception):
    """503 while the database cannot be reached (down, restarting, out of connections, a lock not granted in
    time): a page that needs nothing from the database, and a hint to clients and proxies to retry."""
    log.error("database unavailable, answered 503 for %s %s: %s", request.method, request.path,
              str(error).splitlines()[0] if str(error) else type(error).__name__)
    retry_after = {"Retry-After": str(current_app.config["UNAVAILABLE_RETRY_AFTER_SECONDS"])}
    if request.accept_mimetypes.best == "application/json":
        return jsonify(error="The service is unavailable; try again shortly."), 503, retry_after
    # Rendered without the context processors: Flask-Login's loads the signed-in user from the database.
    page = current_app.jinja_env.get_template("errors/unavailable.html").render(
        request=request, organisation_name=current_app.config["ORGANISATION_NAME"])
    return page, 503, retry_after


def _back_link() -> str:
    """The page that linked here, when it is one of ours and not this one."""
    referrer = request.referrer or ""
    if not referrer.startswith(request.host_url) or referrer == request.url:
        return ""
    return safe_local_path("/" + referrer[len(request.host_url):], "")


def init_app(app: Flask) -> None:
    """Domains add their own template names (giving's gift methods, journey's touchpoint kinds) in their init_app."""
    app.jinja_env.add_extension("jinja2.ext.do")
    app.jinja_env.filters.update(money=money, local_dt=local_dt, local_date=local_date)
    app.jinja_env.globals.update(query_with=query_with, organisation=current_organisation)

    for code in ERROR_TEXT:
        app.register_error_handler(code, lambda exc, code=code: _error_page(code))

    for unavailable in DATABASE_UNAVAILABLE:
        app.register_error_handler(unavailable, _database_unavailable)

    @app.errorhandler(CSRFError)
    def _csrf_error(exc: CSRFError):
        return _error_page(400, "This form has expired or was sent from somewhere else. Reload the page and try again.")

    production = app.config["ENV_NAME"] == "production"

    @app.after_request
    def _security_headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        if production:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        if request.endpoint != "static":
            # Every page the app renders is someone's: a signed-in page, a token page, an export, or a form
            # whose CSRF token belongs to one session. None may be kept by a shared cache or the browser's
            # disk cache. The donor page store is on the server and never asks the browser to revalidate.
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    app.extensions.setdefault("staff_nav", [])
    app.extensions.setdefault("home_tiles", [])
    app.extensions.setdefault("page_actions", {})
    app.extensions.setdefault("panels", {})

    def staff_nav():
        return [item for item in app.extensions["staff_nav"] if current_user.has_role(*item[2])]

    def home_tiles():
        return [tile for provider in app.extensions["home_tiles"] for tile in provider()]

    def page_actions(page: str):
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
