"""Organisation settings (name, currency, time zone, support address) and the staff-user admin pages.

Owns organisation; settings_row() gives any domain a one-row settings table of its own.
Offers services.organisation() and settings_row().
"""
from flask import Flask


def init_app(app: Flask) -> None:
    from portal import web
    from portal.settings.services import organisation
    from portal.settings.views import bp

    web.provide_organisation(app, organisation)
    app.register_blueprint(bp)
