"""Support tickets with service levels, and the staff task inbox.

Owns tickets, ticket_messages, tasks, task_comments, support_settings.
Offers services.create_task / create_tasks and register_source; adds a 'create a task' workflow step.
"""
from flask import Flask

from portal.web import add_home_tiles, add_panel, add_staff_nav


def init_app(app: Flask) -> None:
    # Here, not at the top: importing the package for its models must not load its pages, services and jobs.
    from portal.support import donor_records, services, steps, views

    app.register_blueprint(views.tickets_bp)
    app.register_blueprint(views.tasks_bp)
    add_staff_nav(app, "tasks.index", "Tasks", ("fundraiser", "support"))
    add_staff_nav(app, "tickets.index", "Tickets", views.TICKET_ROLES)
    add_home_tiles(app, views.open_tasks_tile)
    add_panel(app, "staff_donor_side", views.donor_panel)
    services.register_source("ticket", "Support ticket", views.describe_ticket)
    steps.register()
    donor_records.register()
