"""At-risk scores with reasons, alerts and automated check-ins.

Owns risk_settings, risk_scores, risk_history, alerts, check_ins, relationship_managers.
Offers the donor page's risk panel; reads other domains' models for the score (set-based SQL).
"""
import click
from flask import Flask
from flask.cli import AppGroup

retention_cli = AppGroup("retention", help="Risk scores, alerts and check-ins.")


@retention_cli.command("recompute")
def recompute_command() -> None:
    """Rescore every donor (set-based) and alert those who crossed the threshold."""
    import time

    from portal.retention.services import recompute_all

    started = time.perf_counter()
    result = recompute_all()
    click.echo(f"{result.donors:,} donors scored, {result.changed:,} changed, {result.alerts:,} new alerts "
               f"({time.perf_counter() - started:.1f}s)")


@retention_cli.command("check-tickets")
def check_tickets_command() -> None:
    """Raise an alert (once) for every ticket past its service level."""
    from portal.retention.services import raise_ticket_alerts

    raised = raise_ticket_alerts()
    click.echo(f"{raised} new ticket alert{'' if raised == 1 else 's'}")


@retention_cli.command("check-ins")
def check_ins_command() -> None:
    """Create the renewal, anniversary and major-donor check-ins that have come due (idempotent)."""
    from portal.retention.services import run_check_ins

    click.echo(", ".join(f"{reason}: {count}" for reason, count in run_check_ins().items()))


def init_app(app: Flask) -> None:
    from portal.retention import donor_records
    from portal import schedule
    from portal.journey import reactors
    from portal.retention import services, tasks, views
    from portal.support.services import register_source
    from portal.web import add_panel, add_staff_nav

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
