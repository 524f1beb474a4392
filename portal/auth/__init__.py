from flask import Flask


def init_app(app: Flask) -> None:
    from portal.auth import donor_records
    from flask_login import user_logged_in

    from portal import web
    from portal.auth.services import record_portal_login
    from portal.auth.views import bp, portal_access_panel, staff_bp

    app.register_blueprint(bp)
    app.register_blueprint(staff_bp)
    user_logged_in.connect(record_portal_login, app)
    web.add_panel(app, "staff_donor_side", portal_access_panel)
    donor_records.register()
