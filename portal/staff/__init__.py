from flask import Flask


def init_app(app: Flask) -> None:
    from portal.staff.views import bp

    app.register_blueprint(bp)
