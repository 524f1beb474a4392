"""The donor portal at /me: a donor's own giving, plans, profile, preferences, points, surveys and tickets.

Owns no tables: it calls the other domains' services, and keeps rendered pages while a fingerprint matches.
Offers nothing to other domains (it is the top layer).
"""
from flask import Flask

from portal import web


def init_app(app: Flask) -> None:
    # Loaded when the app is built: importing the package must not load its pages and every domain they call.
    from portal.selfservice import cache
    from portal.selfservice.unsubscribe import bp as unsubscribe_bp
    from portal.selfservice.views import bp

    cache.init_app(app)
    app.register_blueprint(bp)
    app.register_blueprint(unsubscribe_bp)
    for order, (endpoint, label) in enumerate((("me.home", "Home"), ("me.giving_history", "My giving"), ("me.plans", "Regular giving"),
                                               ("me.points", "Points & rewards"), ("me.support_index", "Support"),
                                               ("me.profile", "My details"))):
        web.add_me_nav(app, endpoint, label, order=10 * order)
