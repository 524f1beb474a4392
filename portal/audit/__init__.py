"""Audit trail: owns `audit_events`, the append-only record of staff actions that matter.

Offers `services.record()`, which other domains call inside the transaction of the change it records,
`services.events_for()` and `services.search()` to read the trail back, the administrators' audit page,
and the periodic purge of the read log (viewing a donor's record) after AUDIT_READ_LOG_DAYS."""
from flask import Flask

from portal import schedule


def init_app(app: Flask) -> None:
    # Imported when the app is built: every domain imports audit's services, which must not load its pages.
    from portal.audit import tasks, views

    app.register_blueprint(views.bp)
    schedule.register("audit_read_log_purge", tasks.purge_read_log, "40 2 * * *",
                      description="Delete read-log entries (donor records viewed) older than AUDIT_READ_LOG_DAYS")
