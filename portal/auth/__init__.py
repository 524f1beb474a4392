"""Identity: user accounts, roles, passwords, sign-in and the donor portal's invitation, sign-up and reset links.

Owns the users table. Offers access.py (require_staff, roles_required, require_donor) to every blueprint,
models.User and its role names for reading, services.create_user and accounts.invite_donor.
"""
from flask import Flask
from flask_login import user_logged_in

from portal import web
from portal.auth import throttle


def init_app(app: Flask) -> None:
    # Imported when the app is built: importing auth's models (every domain does) must not load its pages
    # and the account flows, which reach donors, giving and engagement.
    from portal.auth import donor_records
    from portal.auth.accounts import record_portal_login
    from portal.auth.views import account_bp, bp, donor_security_bp, portal_access_panel, staff_bp

    throttle.init_app(app)
    app.register_blueprint(bp)
    app.register_blueprint(staff_bp)
    app.register_blueprint(account_bp)
    app.register_blueprint(donor_security_bp)
    user_logged_in.connect(record_portal_login, app)
    web.add_panel(app, "staff_donor_side", portal_access_panel)
    donor_records.register()
