"""At-risk scores with reasons, alerts and automated check-ins.

Owns risk_settings, risk_scores, risk_history, alerts, check_ins, relationship_managers.
Offers the donor page's risk panel; reads other domains' models for the score (set-based SQL).
"""
from flask import Flask

from portal import schedule
from portal.web import add_panel, add_staff_nav


def init_app(app: Flask) -> None:
    # Here, not at the top: importing the package for its models must not load its pages, services and jobs.
    from portal.journey import reactors
    from portal.retention import donor_records, services, tasks, views
    from portal.retention.cli import retention_cli
    from portal.support.services import register_source

    app.register_blueprint(views.bp)
    add_staff_nav(app, "retention.index", "At risk", views.STAFF_ROLES)
    add_panel(app, "staff_donor_side", views.donor_panel)
    register_source("alert", "Alert", views.describe_alert)
    register_source("check_in", "Check-in", views.describe_check_in)
    reactors.register("retention.rescore", services.rescore_on_touchpoint, kinds=services.reactor_kinds())
    schedule.register("risk_scores", tasks.recompute_risk, "30 3 * * *", queue="reports", at_start=True,
                      description="Rescore every donor and alert those who crossed the threshold")
    schedule.register("ticket_service_levels", tasks.check_ticket_service_levels, "*/15 * * * *",
                      description="Alert on tickets past their service level")
    schedule.register("check_ins", tasks.run_check_ins, "0 7 * * *",
                      description="Renewal, anniversary and major-donor check-ins")
    app.cli.add_command(retention_cli)
    donor_records.register()
