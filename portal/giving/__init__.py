from flask import Flask


def init_app(app: Flask) -> None:
    from portal.giving.views import bp

    app.register_blueprint(bp)
