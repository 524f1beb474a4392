"""Bulk actions on lists of donors (the donor list and segments): tag, untag, assign a manager, add to a
workflow, a task for each, export. Owns no tables: it works through donors', retention's, engagement's and
support's services, so it sits above them. Offers the /staff/donors/bulk pages."""
from flask import Flask


def init_app(app: Flask) -> None:
    # Loaded when the app is built: importing the package must not load its pages and every domain they call.
    from portal.bulk_actions.views import bp

    app.register_blueprint(bp)
