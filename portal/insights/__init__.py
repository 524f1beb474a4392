"""Reports: donor journey, retention, cohorts, lifetime value, engagement and satisfaction, with snapshots.

Owns report_snapshots and donor_milestones; reads every other domain's models (read-side, set-based SQL).
Offers the headline tiles and segment fields for journey steps.
"""
from flask import Flask

from portal import schedule, sweep, web


def init_app(app: Flask) -> None:
    # Here, not at the top: importing the package for its models must not load its pages, reports and jobs.
    from portal.donors import imports
    from portal.insights import cli, donor_records, journey_segments, services, tasks, views
    from portal.insights.views import bp
    from portal.journey import reactors

    app.register_blueprint(bp)
    app.jinja_env.globals["period_definition"] = services.period_definition
    web.add_staff_nav(app, "insights.index", "Insights", ("fundraiser",))
    web.add_home_tiles(app, views.home_tiles)
    web.add_panel(app, "staff_donor_side", views.donor_value_panel)
    reactors.register("insights-milestones", tasks.mark_milestones_stale, kinds=["inquiry", "plan_started"])
    reactors.register("insights-headline", tasks.headline_moved, kinds=["gift_received", "gift_refunded"])
    imports.import_finished.connect(tasks.headline_after_import)
    sweep.register("insights", services.sweep_lost)
    # Hourly, so segments built on the journey stay current; with nothing changed a check takes milliseconds.
    schedule.register("insights-milestones", tasks.refresh_milestones, "15 * * * *", queue="reports", at_start=True,
                      description="Rebuild donors' journey milestones that changed (the reports do this too, on demand).")
    schedule.register("insights-headline", tasks.refresh_headline, "*/30 * * * *", queue="reports", at_start=True,
                      description="Keep the back-office home's headline numbers fresh.")
    app.cli.add_command(cli.insights_cli)
    services.register_scope("segment", services.segment_members, choices=services.segment_choices)
    journey_segments.register_fields()
    donor_records.register()

