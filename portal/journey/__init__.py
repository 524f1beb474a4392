"""The touchpoint log: every event in a donor's relationship, the timeline, stages and the reactors.

Owns touchpoints; no other domain writes them (a contract checks it).
Offers services.record / record_many / TouchpointWriter / timeline and reactors.register.
"""
from flask import Flask


def init_app(app: Flask) -> None:
    from portal.journey import donor_records
    from portal import sweep
    from portal.journey import reactors
    from portal.journey.services import KINDS, kind_label

    sweep.register("touchpoints", reactors.sweep)
    app.jinja_env.filters["kind_label"] = kind_label
    app.jinja_env.globals["TOUCHPOINT_KINDS"] = KINDS
    donor_records.register()
