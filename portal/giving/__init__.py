"""Gifts, recurring gifts, sponsorships and memberships, and the per-donor rollup (donor_stats).

Owns gifts, recurring_plans, donor_stats.
Offers services.record_gift / add_gifts / start_plan / gifts_for, and the rollup for set-based reads.
"""
from flask import Flask


def init_app(app: Flask) -> None:
    # Loaded when the app is built: importing giving's models must not load its pages, services and registrations.
    from portal.giving import donor_records
    from portal.giving.models import GIFT_METHODS, GIFT_STATUSES, PLAN_INTERVALS, PLAN_KINDS, PLAN_STATUSES
    from portal.giving.views import bp

    app.register_blueprint(bp)
    app.jinja_env.globals.update(GIFT_METHODS=GIFT_METHODS, GIFT_STATUSES=GIFT_STATUSES, PLAN_KINDS=PLAN_KINDS,
                                 PLAN_INTERVALS=PLAN_INTERVALS, PLAN_STATUSES=PLAN_STATUSES)
    donor_records.register()
