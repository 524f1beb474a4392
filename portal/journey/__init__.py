from flask import Flask


def init_app(app: Flask) -> None:
    from portal.journey import donor_records
    from portal import sweep
    from portal.journey import reactors

    sweep.register("touchpoints", reactors.sweep)
    donor_records.register()
