from flask import Flask


def init_app(app: Flask) -> None:
    from portal import schedule, sweep, web
    from portal.engagement import bulk, cli, views, workflows
    from portal.engagement.outbox import sweep_due_messages
    from portal.journey import reactors
    from portal.support.services import register_source

    views.register(app)
    web.add_staff_nav(app, "segments.index", "Segments", ("fundraiser",))
    web.add_staff_nav(app, "workflows.index", "Workflows", ("fundraiser",))
    web.add_staff_nav(app, "email_templates.index", "Email templates", ("fundraiser",))
    web.add_staff_nav(app, "mail.index", "Mail log", ("fundraiser", "support"))
    web.add_home_tiles(app, views.home_tiles)
    web.add_panel(app, "staff_donor_side", views.donor_runs_panel)
    register_source("workflow_run", "Workflow", workflows.describe_run)

    reactors.register("engagement.workflows", workflows.on_touchpoint, kinds=workflows.touchpoint_kinds())
    sweep.register("mail", sweep_due_messages)
    sweep.register("workflow_steps", workflows.run_due_workflow_steps)
    sweep.register("bulk_sends", bulk.stuck_sends)
    schedule.register("engagement.due-steps", workflows.run_due_workflow_steps, "*/5 * * * *",
                      description="Run workflow steps whose delay has passed.")
    schedule.register("engagement.scheduled-triggers", workflows.enter_scheduled_workflows, "0 7-20 * * *",
                      description="Enter donors found by scheduled triggers: inactivity, birthdays, renewals, no gift since.")
    app.cli.add_command(cli.engagement_cli)
