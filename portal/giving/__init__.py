from flask import Flask


def init_app(app: Flask) -> None:
    from portal.giving import donor_records
    from portal.giving.views import bp

    app.register_blueprint(bp)
    donor_records.register()
