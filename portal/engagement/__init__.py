"""Email engagement: segments/, templates/, workflows/ and delivery/ (outbox, bulk sends, tracking).

Owns segments, email_templates, workflows and their runs, email_messages, bulk_sends, engagement_settings.
Offers services.py (queue_email, register_field, register_step, tokens); its sub-packages are internal.
"""
from flask import Flask


def init_app(app: Flask) -> None:
    from portal.engagement import donor_records
    from portal import schedule, sweep, web
    from portal.engagement import cli, views
    from portal.engagement.delivery import bulk_sends as bulk
    from portal.engagement.workflows import services as workflows
    from portal.engagement.delivery.outbox import add_delivery_hooks, sweep_due_messages
    from portal.journey import reactors

    views.register(app)
    web.add_staff_nav(app, "segments.index", "Segments", ("fundraiser",))
    web.add_staff_nav(app, "workflows.index", "Workflows", ("fundraiser",))
    web.add_staff_nav(app, "email_templates.index", "Email templates", ("fundraiser",))
    web.add_staff_nav(app, "mail.index", "Mail log", ("fundraiser", "support"))
    web.add_home_tiles(app, views.home_tiles)
    web.add_panel(app, "staff_donor_side", views.donor_runs_panel)

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
