"""Donors and organisations: profiles, tags, interests, consent and preferences, search and filters, CSV import.

Owns donors, tags, import_batches and the donor-tag and donor-interest links.
Offers services.get_donor, tags_by_name, normalise_email and the filtered list to other domains.
"""
from flask import Flask

from portal import schedule, sweep
from portal.web import add_page_action


def init_app(app: Flask) -> None:
    # Imported when the app is built: importing donors' models (most domains do) must not load its pages and jobs.
    from portal.donors import duplicates, imports
    from portal.donors.duplicate_views import bp as duplicates_bp
    from portal.donors.import_views import bp as imports_bp
    from portal.donors.views import bp

    app.register_blueprint(bp)
    app.register_blueprint(imports_bp)
    app.register_blueprint(duplicates_bp)
    add_page_action(app, "donors", "imports.index", "Import CSV", ("fundraiser",))
    add_page_action(app, "donors", "duplicates.index", "Duplicates", ("fundraiser",))
    schedule.register("duplicate_scan", duplicates.scan_job, "20 2 * * *", queue="reports",
                      description="Find likely duplicate donors for the review queue")
    sweep.register("imports", imports.resume_stalled)
