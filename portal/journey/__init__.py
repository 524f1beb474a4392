from flask import Flask


def init_app(app: Flask) -> None:
    from portal import sweep
    from portal.journey import reactors

    sweep.register("touchpoints", reactors.sweep)
