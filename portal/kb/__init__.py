"""Knowledge base: help articles, their Whoosh search (search/) and articles suggested from each donor's activity.

Owns the kb_* tables (articles, views, votes, searches, suggestions) and the search index directory.
Offers the help centre to donors and a help panel to the donor portal's home page.
"""
from __future__ import annotations

import atexit

from flask import Flask

from portal import sweep
from portal.web import add_me_nav, add_panel, add_staff_nav


def init_app(app: Flask) -> None:
    # Here, not at the top: importing the package for its models must not load its pages, services and jobs.
    from portal.kb import donor_records, services
    from portal.kb import tasks  # noqa: F401  (registers the touchpoint listener that queues suggestions)
    from portal.kb.cli import kb_cli
    from portal.kb.views import bp, me_home_panel, staff_bp, staff_donor_panel

    app.register_blueprint(bp)
    app.register_blueprint(staff_bp)
    recorder = app.extensions["kb_search_recorder"] = services.SearchRecorder(app)
    atexit.register(recorder.flush_at_exit)
    follower = app.extensions["kb_index_follower"] = services.IndexFollower(app)
    app.before_request(follower.start)  # web processes only: CLI commands and workers never start it
    add_staff_nav(app, "kb_staff.index", "Help centre", ("fundraiser", "support"))
    add_me_nav(app, "kb.me_help", "Help", order=90)
    add_panel(app, "staff_donor_side", staff_donor_panel)
    add_panel(app, "me_home", me_home_panel)
    app.cli.add_command(kb_cli)
    sweep.register("kb_index", tasks.sweep_index)
    sweep.register("kb_suggestions", tasks.sweep_suggestions)
    donor_records.register()
