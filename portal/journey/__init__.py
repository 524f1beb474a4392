"""The touchpoint log: every event in a donor's relationship, the timeline, stages and the reactors.

Owns touchpoints; no other domain writes them (a contract checks it).
Offers services.record / record_many / TouchpointWriter / timeline and reactors.register.
"""
from flask import Flask

from portal import sweep


def init_app(app: Flask) -> None:
    # Loaded when the app is built: importing the touchpoint model must not load the services and reactors.
    from portal.journey import donor_records, reactors
    from portal.journey.services import KINDS, kind_label

    sweep.register("touchpoints", reactors.sweep)
    app.jinja_env.filters["kind_label"] = kind_label
    app.jinja_env.globals["TOUCHPOINT_KINDS"] = KINDS
    donor_records.register()
