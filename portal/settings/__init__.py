"""Organisation settings (name, currency, time zone, support address) and the staff-user admin pages.

Owns organisation; settings_row() gives any domain a one-row settings table of its own.
Offers services.organisation() and settings_row().
"""
from flask import Flask

from portal import web


def init_app(app: Flask) -> None:
    # Imported when the app is built: importing settings' models must not load its services and pages.
    from portal.settings.services import organisation
    from portal.settings.views import bp

    web.provide_organisation(app, organisation)
    app.register_blueprint(bp)
