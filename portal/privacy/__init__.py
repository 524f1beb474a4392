"""Data rights: a donor's access export, erasure, and the retention policy. Owns `data_exports` and
`erased_emails`; every other domain's rows are exported or erased through portal.donors.records."""
from flask import Flask

from portal import record_keepers as records
from portal import schedule
from portal.web import add_panel


def init_app(app: Flask) -> None:
    # Imported when the app is built: importing privacy's models must not load its pages and jobs, which reach
    # every domain.
    from portal.privacy import export, retention, views

    app.register_blueprint(views.staff_bp)
    app.register_blueprint(views.me_bp)
    app.register_blueprint(views.download_bp)
    add_panel(app, "staff_donor_side", views.data_rights_panel)
    records.register("privacy", move=export.discard_for_merge)
    schedule.register("data_exports_expire", export.delete_expired, "15 * * * *",
                      description="Delete data exports past their seven days")
    schedule.register("retention_policy", retention.apply_policy_job, "45 2 * * *",
                      description="Anonymise donors past the organisation's retention period (when switched on)")
