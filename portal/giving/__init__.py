from flask import Flask


def init_app(app: Flask) -> None:
    from portal.giving.models import GIFT_METHODS, GIFT_STATUSES, PLAN_INTERVALS, PLAN_KINDS, PLAN_STATUSES
    from portal.giving.views import bp

    app.register_blueprint(bp)
    app.jinja_env.globals.update(GIFT_METHODS=GIFT_METHODS, GIFT_STATUSES=GIFT_STATUSES, PLAN_KINDS=PLAN_KINDS,
                                 PLAN_INTERVALS=PLAN_INTERVALS, PLAN_STATUSES=PLAN_STATUSES)
