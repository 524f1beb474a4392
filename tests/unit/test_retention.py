"""Risk scores on hand-built donors, each expected score worked out by hand from the default weights:
giving down 30 (times the drop), regular giving ended 30, paused 15, renewal with no contact 15,
negative feedback 25, ticket trouble 15, no contact for 180 days 15, email bouncing 10, unsubscribed 10;
alert threshold 60."""
from datetime import date, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import func, select

from portal.donors.services import set_marketing_consent
from portal.engagement.models import EmailMessage
from portal.engagement.delivery.outbox import queue_email
from portal.extensions import db
from portal.feedback import services as feedback
from portal.giving import services as giving
from portal.retention import services as retention
from portal.retention.models import Alert, RiskHistory, RiskScore
from portal.support import services as support
from portal.support.models import Task
from tests.conftest import make_donor, make_gift, make_user

pytestmark = pytest.mark.usefixtures("ctx")
NOW = datetime(2026, 6, 15, 12, 0)


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def back(days: int):
    return time_machine.travel(NOW - timedelta(days=days), tick=False)


def scores() -> dict[int, RiskScore]:
    db.session.expire_all()
    return {row.donor_id: row for row in db.session.scalars(select(RiskScore))}


def points(row: RiskScore) -> dict[str, int]:
    return {key: getattr(row, key) for key in retention.SIGNALS if getattr(row, key)}


def test_giving_down_scales_with_the_drop(clock):
    donor = make_donor(email="down@example.org")
    make_gift(donor.id, 10000, NOW - timedelta(days=500))
    make_gift(donor.id, 4000, NOW - timedelta(days=100))
    retention.recompute_all(NOW)
    row = scores()[donor.id]
    # 30 x (100.00 - 40.00) / 100.00 = 18; the last gift 100 days ago is recent contact.
    assert points(row) == {"giving_down": 18}
    assert row.score == 18


def test_gave_before_and_silent_since(clock):
    with back(600):
        donor = make_donor(email="quiet@example.org")
    make_gift(donor.id, 5000, NOW - timedelta(days=500))
    retention.recompute_all(NOW)
    row = scores()[donor.id]
    # Nothing in the last 12 months after 50.00 the year before: the full 30; last touchpoint 500 days ago: +15.
    assert points(row) == {"giving_down": 30, "no_contact": 15}
    assert row.score == 45


def test_cancelled_sponsorship_with_a_reason_and_unsubscribed_crosses_the_threshold(clock):
    donor = make_donor(email="leaving@example.org")
    plan = giving.start_plan(donor.id, giving.PlanInput(kind="sponsorship", amount_minor=1500, currency="GBP",
                                                        interval="monthly", started_at=date(2026, 1, 10)))
    giving.change_plan_status(plan, "cancel", reason="Money is tight at the moment")
    set_marketing_consent(donor, False, source="unsubscribe link")
    db.session.commit()
    retention.recompute_all(NOW)
    row = scores()[donor.id]
    # Ended 30 + a cancellation reason counts as negative feedback 25 + unsubscribed 10 = 65 >= 60.
    assert points(row) == {"plan_ended": 30, "negative_feedback": 25, "unsubscribed": 10}
    assert row.score == 65
    reasons = [r.text for r in retention.reasons(row)]
    assert reasons[0].startswith("A recurring gift, sponsorship or membership was cancelled")
    assert "They unsubscribed from email" in reasons


def test_paused_plan(clock):
    donor = make_donor(email="paused@example.org")
    plan = giving.start_plan(donor.id, giving.PlanInput(kind="recurring_gift", amount_minor=1000, currency="GBP",
                                                        interval="monthly", started_at=date(2026, 3, 1)))
    giving.change_plan_status(plan, "pause")
    retention.recompute_all(NOW)
    assert points(scores()[donor.id]) == {"plan_paused": 15}


def test_sponsorship_renewing_soon_with_no_contact(clock):
    with back(340):
        donor = make_donor(email="renewing@example.org")
        giving.start_plan(donor.id, giving.PlanInput(kind="sponsorship", amount_minor=1500, currency="GBP", interval="monthly",
                                                     started_at=(NOW - timedelta(days=340)).date()))
    retention.recompute_all(NOW)
    row = scores()[donor.id]
    # Renews a year after starting (25 days from now), nobody in touch for 340 days: 15 + no contact 15.
    assert points(row) == {"renewal_no_contact": 15, "no_contact": 15}
    assert row.score == 30


def test_low_nps_rating_is_negative_feedback(clock):
    donor = make_donor(email="unhappy@example.org")
    survey = feedback.create_survey("nps", feedback.SurveyValues(name="Annual", title="How are we doing?", active=True))
    invitation = feedback.invite(survey.id, donor.id, source_key="manual:1")
    db.session.commit()
    feedback.submit_response(invitation, {f"q{survey.score_question.id}": "3"})
    retention.recompute_all(NOW)
    assert points(scores()[donor.id]) == {"negative_feedback": 25}


def test_a_later_good_rating_clears_negative_feedback(clock):
    donor = make_donor(email="recovered@example.org")
    survey = feedback.create_survey("csat", feedback.SurveyValues(name="After support", title="How did we do?", active=True))
    feedback.update_settings(csat_low_max=2, nps_low_max=6, follow_up_hours=48, follow_up_team="support",
                             cap_surveys=5, cap_days=90)
    first = feedback.invite(survey.id, donor.id, source_key="ticket:1")
    second = feedback.invite(survey.id, donor.id, source_key="ticket:2")
    db.session.commit()
    feedback.submit_response(first, {f"q{survey.score_question.id}": "1"})
    feedback.submit_response(second, {f"q{survey.score_question.id}": "5"})
    retention.recompute_all(NOW)
    assert scores()[donor.id].score == 0


def test_unanswered_ticket_past_first_response_time(clock):
    donor = make_donor(email="waiting@example.org")
    with back(2):  # opened 48 hours ago, first reply due within 24
        support.open_ticket(donor.id, "Where is my receipt?", "Still waiting for it.")
    retention.recompute_all(NOW)
    assert points(scores()[donor.id]) == {"ticket_trouble": 15}


def test_reopened_ticket(clock):
    donor = make_donor(email="again@example.org")
    staff = _staff()
    ticket = support.open_ticket(donor.id, "Change my address", "I moved.")
    support.staff_reply(ticket, "Done!", actor=staff, next_status="closed")
    support.add_donor_reply(ticket, "It's still the old one on my letters.")
    support.staff_reply(ticket, "Sorry, fixed now.", actor=staff, next_status="waiting")
    retention.recompute_all(NOW)
    assert points(scores()[donor.id]) == {"ticket_trouble": 15}


def test_bouncing_email(clock):
    donor = make_donor(email="gone@example.org")
    message = queue_email(donor.email, "Hello", "Hi", donor_id=donor.id, idempotency_key="bounce-test")
    db.session.commit()
    db.session.get(EmailMessage, message.id).status = "failed"
    db.session.commit()
    retention.recompute_all(NOW)
    assert points(scores()[donor.id]) == {"email_bouncing": 10}


def test_score_is_capped_at_100_and_weights_are_editable(clock):
    with back(600):
        donor = make_donor(email="everything@example.org")
    make_gift(donor.id, 5000, NOW - timedelta(days=500))
    donor = db.session.merge(donor)
    donor.unsubscribed_at = NOW - timedelta(days=300)  # an old opt-out, without a recent touchpoint
    db.session.commit()
    retention.recompute_all(NOW)
    row = scores()[donor.id]
    assert points(row) == {"giving_down": 30, "no_contact": 15, "unsubscribed": 10}
    assert row.score == 55
    retention.update_settings(_weights(w_giving_down=80, w_no_contact=40))
    retention.recompute_all(NOW)
    # 80 + 40 + 10 = 130, capped at 100.
    assert scores()[donor.id].score == 100


def test_alert_and_task_are_created_once_not_on_every_recompute(clock):
    donor = make_donor(email="leaving@example.org", first_name="Maud", last_name="Gonne")
    plan = giving.start_plan(donor.id, giving.PlanInput(kind="sponsorship", amount_minor=1500, currency="GBP",
                                                        interval="monthly", started_at=date(2026, 1, 10)))
    giving.change_plan_status(plan, "cancel", reason="Money is tight")
    set_marketing_consent(donor, False, source="unsubscribe link")
    db.session.commit()  # the reactor rescores this donor right away: 65, an alert
    first = retention.recompute_all(NOW)
    second = retention.recompute_all(NOW + timedelta(days=1))
    assert (first.alerts, second.alerts) == (0, 0)
    alerts = db.session.scalars(select(Alert)).all()
    assert [(a.kind, a.donor_id, a.score, a.status) for a in alerts] == [("risk", donor.id, 65, "open")]
    task = db.session.scalar(select(Task))
    assert task.title == "At risk: Maud Gonne (score 65)"
    assert (task.kind, task.assignee_role, task.source, task.due_at) == ("risk", "fundraiser", f"alert:{alerts[0].id}",
                                                                         NOW + timedelta(hours=72))
    assert "Money" not in task.details and "• A recurring gift, sponsorship or membership was cancelled" in task.details
    assert db.session.scalar(select(func.count()).select_from(Task)) == 1


def test_set_based_recompute_raises_the_alert_when_no_reactor_did(clock):
    donor = make_donor(email="batch@example.org")
    plan = giving.start_plan(donor.id, giving.PlanInput(kind="sponsorship", amount_minor=1500, currency="GBP",
                                                        interval="monthly", started_at=date(2026, 1, 10)))
    db.session.execute(RiskScore.__table__.delete())
    plan = db.session.merge(plan)
    plan.status, plan.end_reason, plan.ended_at = "cancelled", "Moving abroad", NOW.date()
    donor = db.session.merge(donor)
    donor.unsubscribed_at = NOW
    db.session.commit()
    result = retention.recompute_all(NOW)
    assert (result.donors, result.changed, result.alerts) == (1, 1, 1)
    assert retention.recompute_all(NOW).alerts == 0
    assert db.session.scalar(select(func.count()).select_from(Alert)) == 1
    assert db.session.scalar(select(func.count()).select_from(Task)) == 1


def test_dismissed_alert_is_not_raised_again_while_still_at_risk_but_is_after_a_new_crossing(clock):
    donor = make_donor(email="cycle@example.org")
    staff = _staff()
    plan = giving.start_plan(donor.id, giving.PlanInput(kind="sponsorship", amount_minor=1500, currency="GBP",
                                                        interval="monthly", started_at=date(2026, 1, 10)))
    giving.change_plan_status(plan, "cancel", reason="Money is tight")
    set_marketing_consent(donor, False, source="unsubscribe link")
    db.session.commit()
    alert = db.session.scalar(select(Alert))
    with pytest.raises(retention.RetentionError):
        retention.dismiss_alert(alert, "  ", actor=staff)
    retention.dismiss_alert(alert, "Spoke to her: moving abroad, happy to stay in touch", actor=staff)
    assert alert.task.status == "cancelled"
    retention.recompute_all(NOW)
    assert db.session.scalar(select(func.count()).select_from(Alert)) == 1
    retention.update_settings(_weights(w_unsubscribed=0, w_negative_feedback=0))  # 30: below the line
    retention.recompute_all(NOW)
    retention.update_settings(_weights())  # back to 65: a new crossing
    retention.recompute_all(NOW)
    assert [a.status for a in db.session.scalars(select(Alert).order_by(Alert.id))] == ["dismissed", "open"]


def test_history_keeps_each_change_for_the_trend(clock):
    with back(600):
        donor = make_donor(email="trend@example.org")
    make_gift(donor.id, 5000, NOW - timedelta(days=500))
    assert retention.recompute_all(NOW).changed == 0  # the gift's touchpoint already rescored this donor: 45
    assert retention.recompute_all(NOW + timedelta(hours=1)).changed == 0  # unchanged: no new point
    make_gift(donor.id, 5000, NOW)  # the reactor rescores: no drop, recent contact
    history = db.session.scalars(select(RiskHistory).where(RiskHistory.donor_id == donor.id).order_by(RiskHistory.id)).all()
    assert [h.score for h in history][-2:] == [45, 0]
    assert [h.score for h in retention.donor_risk(donor.id).history][-1] == 0


def test_one_donor_rescore_matches_the_set_based_run(clock):
    with back(600):
        quiet = make_donor(email="q@example.org")
    make_gift(quiet.id, 5000, NOW - timedelta(days=500))
    loud = make_donor(email="l@example.org")
    make_gift(loud.id, 10000, NOW - timedelta(days=500))
    make_gift(loud.id, 2500, NOW - timedelta(days=10))
    retention.recompute_all(NOW)
    batch = {donor_id: (row.score, points(row)) for donor_id, row in scores().items()}
    for donor_id in batch:
        retention.recompute_donor(donor_id, NOW)
    db.session.commit()
    assert {donor_id: (row.score, points(row)) for donor_id, row in scores().items()} == batch
    assert batch[loud.id] == (22, {"giving_down": 22})  # 30 x 75.00 / 100.00 = 22.5, rounded down


def test_ticket_past_its_service_level_raises_one_alert(clock):
    donor = make_donor(email="slow@example.org")
    with back(2):
        ticket = support.open_ticket(donor.id, "Receipt", "Where is it?")
    assert retention.raise_ticket_alerts(NOW) == 1
    assert retention.raise_ticket_alerts(NOW + timedelta(minutes=15)) == 0
    alert = db.session.scalar(select(Alert))
    assert (alert.kind, alert.ticket_id, alert.donor_id) == ("ticket_sla", ticket.id, donor.id)
    assert "waited more than 24 hours" in alert.summary
    assert scores()[donor.id].ticket_trouble == 15  # rescored straight away


def _staff():
    return make_user("support", "agent@example.test", name="Grace Agent")


def _weights(**changes) -> dict:
    levels = retention.settings()
    values = {name: getattr(levels, name) for name in (*retention.SETTING_RANGES, "alert_team", "check_in_team", "check_in_action")}
    defaults = {f"w_{key}": default for key, default in zip(retention.SIGNALS, (30, 30, 15, 15, 25, 15, 15, 10, 10))}
    values.update(defaults)
    values.update(changes)
    return values



def test_alert_task_goes_to_the_relationship_manager(clock):
    manager = make_user("fundraiser", "rm@example.test", name="Tom Okafor")
    donor = make_donor(email="managed@example.org", first_name="Ivy", last_name="Lee")
    retention.set_manager(donor.id, manager.id)
    plan = giving.start_plan(donor.id, giving.PlanInput(kind="sponsorship", amount_minor=1500, currency="GBP",
                                                        interval="monthly", started_at=date(2026, 1, 10)))
    giving.change_plan_status(plan, "cancel", reason="Money is tight")
    set_marketing_consent(db.session.merge(donor), False, source="unsubscribe link")
    db.session.commit()
    task = db.session.scalar(select(Task))
    assert (task.assignee_id, task.assignee_role) == (manager.id, "fundraiser")
