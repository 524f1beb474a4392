"""Email engagement: segments/, templates/, workflows/ and delivery/ (outbox, bulk sends, tracking).

Owns segments, email_templates, workflows and their runs, email_messages, bulk_sends, engagement_settings.
Offers services.py (queue_email, register_field, register_step, tokens); its sub-packages are internal.
"""
from flask import Flask

from portal import schedule, sweep, web


def init_app(app: Flask) -> None:
    # Loaded when the app is built: importing engagement's models must not load its pages, jobs and commands.
    from portal.engagement import cli, donor_records
    from portal.engagement.delivery import bulk_sends as bulk, views as delivery_views
    from portal.engagement.delivery.outbox import add_delivery_hooks, sweep_due_messages
    from portal.engagement.segments import views as segment_views
    from portal.engagement.templates import views as template_views
    from portal.engagement.workflows import services as workflows, views as workflow_views
    from portal.journey import reactors

    # delivery_views adds the test-email route to the templates blueprint, so it is imported before this runs.
    for blueprint in (segment_views.segments_bp, template_views.templates_bp, workflow_views.workflows_bp,
                      delivery_views.mail_bp, delivery_views.tracking_bp):
        app.register_blueprint(blueprint)
    web.add_staff_nav(app, "segments.index", "Segments", ("fundraiser",))
    web.add_staff_nav(app, "workflows.index", "Workflows", ("fundraiser",))
    web.add_staff_nav(app, "email_templates.index", "Email templates", ("fundraiser",))
    web.add_staff_nav(app, "mail.index", "Mail log", ("fundraiser", "support"))
    web.add_home_tiles(app, delivery_views.home_tiles)
    web.add_home_tiles(app, workflow_views.home_tiles)
    web.add_panel(app, "staff_donor_side", workflow_views.donor_runs_panel)

    add_delivery_hooks(bulk.DELIVERY_HOOKS)
    reactors.register("engagement.workflows", workflows.on_touchpoint, kinds=workflows.touchpoint_kinds())
    sweep.register("mail", sweep_due_messages)
    sweep.register("workflow_steps", workflows.run_due_workflow_steps)
    sweep.register("bulk_sends", bulk.stuck_sends)
    schedule.register("engagement.due-steps", workflows.run_due_workflow_steps, "*/5 * * * *",
                      description="Run workflow steps whose delay has passed.")
    schedule.register("engagement.scheduled-triggers", workflows.enter_scheduled_workflows, "0 7-20 * * *",
                      description="Enter donors found by scheduled triggers: inactivity, birthdays, renewals, no gift since.")
    app.cli.add_command(cli.engagement_cli)
    donor_records.register()
