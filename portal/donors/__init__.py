from flask import Flask


def init_app(app: Flask) -> None:
    from portal import sweep
    from portal.donors import imports
    from portal.donors.import_views import bp as imports_bp
    from portal.donors.views import bp
    from portal.web import add_page_action

    app.register_blueprint(bp)
    app.register_blueprint(imports_bp)
    add_page_action(app, "donors", "imports.index", "Import CSV", ("fundraiser",))
    sweep.register("imports", imports.resume_stalled)
