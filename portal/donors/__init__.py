from flask import Flask


def init_app(app: Flask) -> None:
    from portal import schedule, sweep
    from portal.donors import duplicates, imports
    from portal.donors.bulk_views import bp as bulk_bp
    from portal.donors.duplicate_views import bp as duplicates_bp
    from portal.donors.import_views import bp as imports_bp
    from portal.donors.views import bp
    from portal.web import add_page_action

    app.register_blueprint(bp)
    app.register_blueprint(imports_bp)
    app.register_blueprint(duplicates_bp)
    app.register_blueprint(bulk_bp)
    add_page_action(app, "donors", "imports.index", "Import CSV", ("fundraiser",))
    add_page_action(app, "donors", "duplicates.index", "Duplicates", ("fundraiser",))
    schedule.register("duplicate_scan", duplicates.scan_job, "20 2 * * *", queue="reports",
                      description="Find likely duplicate donors for the review queue")
    sweep.register("imports", imports.resume_stalled)
