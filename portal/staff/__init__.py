"""The back office's home page at /staff.

Owns no tables.
Offers the staff blueprint that other domains' tiles and navigation plug into.
"""
from flask import Flask


def init_app(app: Flask) -> None:
    # Loaded when the app is built: importing the package must not load its page and every domain it calls.
    from portal.staff.views import bp

    app.register_blueprint(bp)
