"""The periodic jobs are registered for the scheduler and runnable as `flask` commands (for system cron)."""
from datetime import timedelta

from sqlalchemy import select

from portal import schedule, sweep
from portal.extensions import db
from portal.feedback import services as feedback
from portal.feedback.models import SurveyInvitation
from portal.retention.models import Alert, RiskScore
from portal.support import services as support
from portal.timeutil import utcnow
from tests.conftest import make_donor, make_gift


def test_jobs_are_registered_for_the_scheduler_and_the_sweep(app):
    names = {periodic.name: periodic for periodic in schedule.registered()}
    assert {"risk_scores", "ticket_service_levels", "check_ins", "surveys"} <= set(names)
    assert names["ticket_service_levels"].cron == "*/15 * * * *"
    assert "surveys" in sweep._SWEEPERS


def test_commands_run_the_periodic_work(app):
    runner = app.test_cli_runner()
    with app.app_context():
        feedback.create_survey("nps", feedback.SurveyValues(name="NPS", title="Recommend us?", active=True,
                                                            on_gift=True, delay_days=3))
        donor = make_donor(email="cron@example.org")
        make_gift(donor.id, 2500, utcnow())
        assert db.session.scalar(select(SurveyInvitation.status)) == "scheduled"
        # three days on: the delay is over
        db.session.execute(SurveyInvitation.__table__.update().values(send_after=utcnow() - timedelta(hours=1)))
        db.session.commit()
        old = support.open_ticket(donor.id, "Waiting", "Hello?")
        old.awaiting_reply_since = old.created_at = utcnow() - timedelta(days=2)
        db.session.commit()
    result = runner.invoke(args=["feedback", "send-surveys"])
    assert result.exit_code == 0 and "sent: 1" in result.output
    result = runner.invoke(args=["retention", "check-tickets"])
    assert result.exit_code == 0 and result.output == "1 new ticket alert\n"  # unanswered for 2 days
    assert runner.invoke(args=["retention", "check-tickets"]).output == "0 new ticket alerts\n"
    result = runner.invoke(args=["retention", "recompute"])
    assert result.exit_code == 0 and "1 donors scored" in result.output
    assert runner.invoke(args=["retention", "check-ins"]).exit_code == 0
    with app.app_context():
        assert db.session.scalar(select(SurveyInvitation.status)) == "sent"
        assert db.session.scalar(select(RiskScore.ticket_trouble)) == 15
        assert [a.kind for a in db.session.scalars(select(Alert))] == ["ticket_sla"]
