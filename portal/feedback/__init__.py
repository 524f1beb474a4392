"""Surveys (CSAT, NPS, custom): invitations, answers and low-score follow-up.

Owns surveys, survey_questions, survey_invitations, survey_responses, feedback_settings.
Offers segment fields (latest NPS and CSAT), a 'send a survey' workflow step and touchpoint reactors.
"""
from flask import Flask

from portal import schedule, sweep
from portal.web import add_me_nav, add_panel, add_staff_nav


def init_app(app: Flask) -> None:
    # Here, not at the top: importing the package for its models must not load its pages, services and jobs.
    from portal.engagement import services as engagement
    from portal.feedback import donor_records, services, tasks, views
    from portal.feedback.cli import feedback_cli
    from portal.journey import reactors
    from portal.support.services import register_source

    app.register_blueprint(views.bp)
    app.register_blueprint(views.public_bp)
    app.register_blueprint(views.me_bp)
    add_staff_nav(app, "surveys.index", "Surveys", views.STAFF_ROLES)
    add_me_nav(app, "me_surveys.index", "Surveys", order=45)
    add_panel(app, "me_home", views.me_home_panel)
    add_panel(app, "staff_donor_side", views.donor_panel)
    register_source("survey_response", "Survey response", views.describe_response)
    reactors.register("feedback.after_gift", services.after_gift, kinds=["gift_received"])
    reactors.register("feedback.after_ticket_closed", services.after_ticket_closed, kinds=["ticket_closed"])
    reactors.register("feedback.after_plan_ended", services.after_plan_ended, kinds=["plan_cancelled"])
    reactors.register("feedback.follow_up_low_score", services.follow_up_low_score, kinds=["survey_answered"])
    schedule.register("surveys", tasks.send_due_surveys, "5 * * * *",
                      description="Send delayed survey invitations, after lapsed plans, and periodic surveys")
    sweep.register("surveys", tasks.sweep_due_invitations)
    app.cli.add_command(feedback_cli)
    _connect_to_engagement(engagement, services)
    donor_records.register()


def _connect_to_engagement(engagement, services) -> None:
    """Segments can select on the latest rating; workflows can send a survey."""
    engagement.register_field("last_nps", "Latest NPS score (0-10)", "number",
                             lambda: services.last_score_expression("nps"), group="Satisfaction")
    engagement.register_field("last_csat", "Latest CSAT score (1-5)", "number",
                             lambda: services.last_score_expression("csat"), group="Satisfaction")
    engagement.register_step("send_survey", "Send a survey", services.send_survey_step,
                             options=[engagement.StepOption("survey_id", "Survey number (shown on the survey's page)", "number")],
                             describe=lambda config: f"Send survey #{config.get('survey_id')}")
