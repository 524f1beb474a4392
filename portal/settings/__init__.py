from flask import Flask


def init_app(app: Flask) -> None:
    from portal import web
    from portal.settings.services import organisation
    from portal.settings.views import bp

    web.provide_organisation(app, organisation)
    app.register_blueprint(bp)
