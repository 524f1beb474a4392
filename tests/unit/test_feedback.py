"""Surveys: sending at each trigger point (time frozen), the per-donor cap, one answer per invitation,
signed links, bad input, and the low-score follow-up task."""
from datetime import date, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import func, select

from portal import tokens
from portal.donors.models import Donor
from portal.engagement.models import EmailMessage
from portal.extensions import db
from portal.feedback import services as feedback
from portal.feedback.models import SurveyInvitation, SurveyResponse
from portal.giving import services as giving
from portal.journey.models import Touchpoint
from portal.support import services as support
from portal.support.models import Task
from tests.conftest import make_donor, make_gift, make_user

pytestmark = pytest.mark.usefixtures("ctx")
NOW = datetime(2026, 6, 15, 9, 0)


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def nps(**triggers):
    values = feedback.SurveyValues(name="Supporter NPS", title="Would you recommend us?", active=True, **triggers)
    return feedback.create_survey("nps", values)


def invitations():
    db.session.expire_all()
    return db.session.scalars(select(SurveyInvitation).order_by(SurveyInvitation.id)).all()


def outbox():
    return db.session.scalars(select(EmailMessage).where(EmailMessage.purpose.like("survey:%")).order_by(EmailMessage.id)).all()


def score_field(survey) -> str:
    return f"q{survey.score_question.id}"


def test_after_a_gift_the_invitation_waits_for_the_delay_then_is_emailed_with_a_signed_link(clock):
    nps(on_gift=True, delay_days=3)
    donor = make_donor(email="ada@example.org")
    gift = make_gift(donor.id, 2500, NOW)
    [invitation] = invitations()
    assert (invitation.status, invitation.send_after, invitation.source_key) == ("scheduled", NOW + timedelta(days=3), f"gift:{gift.id}")
    assert outbox() == []
    clock.move_to(NOW + timedelta(days=2, hours=23))
    assert feedback.run_due()["sent"] == 0
    clock.move_to(NOW + timedelta(days=3, minutes=1))
    assert feedback.run_due()["sent"] == 1
    assert feedback.run_due()["sent"] == 0  # running again sends nothing twice
    [message] = outbox()
    assert (message.to_email, message.subject, message.category) == ("ada@example.org", "Would you recommend us?", "transactional")
    link = next(line for line in message.text_body.splitlines() if "/survey/" in line).split("Answer here: ")[1]
    token = link.rsplit("/survey/", 1)[1]
    assert feedback.invitation_from_token(token).id == invitation.id
    assert f"{link}?score=10" in message.html_body


def test_after_a_ticket_is_closed_the_survey_goes_straight_away_once(clock):
    survey = feedback.create_survey("csat", feedback.SurveyValues(name="Support CSAT", title="How did we do?", active=True,
                                                                  on_ticket_closed=True))
    donor = make_donor(email="grace@example.org")
    agent = make_user("support", "agent@example.test")
    ticket = support.open_ticket(donor.id, "Receipt", "Please resend my receipt")
    support.staff_reply(ticket, "Sent again!", actor=agent, next_status="closed")
    support.change_ticket_status(ticket, "open", actor=agent)
    support.change_ticket_status(ticket, "closed", actor=agent)  # closed twice: still one survey
    [invitation] = invitations()
    assert (invitation.survey_id, invitation.source_key, invitation.status) == (survey.id, f"ticket:{ticket.id}", "sent")
    assert len(outbox()) == 1


def test_at_the_end_of_a_sponsorship_and_when_a_plan_lapses(clock):
    nps(on_plan_end=True)
    feedback.update_settings(csat_low_max=2, nps_low_max=6, follow_up_hours=48, follow_up_team="support", cap_surveys=5, cap_days=90)
    donor = make_donor(email="sponsor@example.org")
    plan = giving.start_plan(donor.id, giving.PlanInput(kind="sponsorship", amount_minor=1500, currency="GBP",
                                                        interval="monthly", started_at=date(2025, 6, 1)))
    giving.change_plan_status(plan, "cancel", reason="Moving abroad")
    lapsing = make_donor(email="lapsing@example.org")
    old = giving.start_plan(lapsing.id, giving.PlanInput(kind="membership", amount_minor=3600, currency="GBP",
                                                         interval="yearly", started_at=date(2025, 4, 1)))
    db.session.get(type(old), old.id).status = "lapsed"  # what mark_lapsed_plans does: no touchpoint
    db.session.commit()
    assert [(i.donor_id, i.source_key) for i in invitations()] == [(donor.id, f"plan_end:{plan.id}")]
    assert feedback.run_due()["lapsed_plans"] == 1
    assert feedback.run_due()["lapsed_plans"] == 0
    assert [(i.donor_id, i.source_key) for i in invitations()][1] == (lapsing.id, f"plan_end:{old.id}")


def test_periodically_to_active_donors_only_once_per_period(clock):
    nps(periodic_months=12)
    active = make_donor(email="active@example.org")
    make_gift(active.id, 2500, NOW - timedelta(days=30))
    lapsed = make_donor(email="lapsed@example.org", first_name="Old")
    make_gift(lapsed.id, 2500, NOW - timedelta(days=500))
    make_donor(email="never@example.org", first_name="Never")
    assert feedback.run_due()["periodic"] == 1
    assert [i.donor_id for i in invitations()] == [active.id]
    clock.move_to(NOW + timedelta(days=200))
    assert feedback.run_due()["periodic"] == 0
    clock.move_to(NOW + timedelta(days=370))
    make_gift(active.id, 2500, NOW + timedelta(days=369))
    assert feedback.run_due()["periodic"] == 1
    assert len(invitations()) == 2


def test_per_donor_cap_across_surveys_and_triggers(clock):
    gift_survey = nps(on_gift=True)
    feedback.create_survey("csat", feedback.SurveyValues(name="CSAT", title="How did we do?", active=True, on_gift=True))
    donor = make_donor(email="busy@example.org")
    make_gift(donor.id, 1000, NOW)
    make_gift(donor.id, 1000, NOW)
    assert [(i.survey_id, i.status) for i in invitations()] == [(gift_survey.id, "sent")]  # cap: 1 in 90 days
    clock.move_to(NOW + timedelta(days=91))
    make_gift(donor.id, 1000, NOW + timedelta(days=91))
    assert len(invitations()) == 2


def test_invite_is_idempotent_and_refuses_what_it_should(clock):
    survey = nps()
    donor = make_donor(email="a@example.org")
    first = feedback.invite(survey.id, donor.id, source_key="workflow_run:7")
    second = feedback.invite(survey.id, donor.id, source_key="workflow_run:7")
    db.session.commit()
    assert first.id == second.id and len(outbox()) == 1
    no_email = make_donor(first_name="Nomail")
    unsubscribed = make_donor(email="gone@example.org", first_name="Gone")
    db.session.get(Donor, unsubscribed.id).unsubscribed_at = NOW
    off = feedback.create_survey("csat", feedback.SurveyValues(name="Off", title="Off"))
    assert feedback.invite(survey.id, no_email.id, source_key="x") is None
    assert feedback.invite(survey.id, unsubscribed.id, source_key="x") is None
    assert feedback.invite(off.id, donor.id, source_key="y") is None


def test_one_response_per_invitation_with_its_touchpoint(clock):
    survey = nps()
    donor = make_donor(email="one@example.org")
    invitation = feedback.invite(survey.id, donor.id, source_key="manual:1")
    db.session.commit()
    response = feedback.submit_response(invitation, {score_field(survey): "9", f"q{survey.questions[1].id}": "Great crew"})
    with pytest.raises(feedback.FeedbackError, match="already answered"):
        feedback.submit_response(invitation, {score_field(survey): "2"})
    assert db.session.scalar(select(func.count()).select_from(SurveyResponse)) == 1
    touchpoint = db.session.scalar(select(Touchpoint).where(Touchpoint.kind == "survey_answered"))
    assert touchpoint.summary == "NPS 9 (promoter) — Supporter NPS"
    assert touchpoint.data == {"response_id": response.id, "survey_id": survey.id, "kind": "nps", "score": 9,
                               "category": "promoter", "low": False}
    assert db.session.scalar(select(func.count()).select_from(Touchpoint).where(Touchpoint.kind == "survey_answered")) == 1
    assert db.session.scalar(select(func.count()).select_from(Task)) == 0  # a 9 needs no follow-up


@pytest.mark.parametrize("raw", ["11", "-1", "abc", "9.5", ""])
def test_out_of_range_or_missing_scores_are_refused_and_nothing_is_recorded(clock, raw):
    survey = nps()
    donor = make_donor(email="range@example.org")
    invitation = feedback.invite(survey.id, donor.id, source_key="manual:1")
    db.session.commit()
    with pytest.raises(feedback.FeedbackError) as error:
        feedback.submit_response(invitation, {score_field(survey): raw})
    assert error.value.submission.errors == {survey.score_question.id: "Choose a number from 0 to 10."}
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(SurveyResponse)) == 0
    assert db.session.get(SurveyInvitation, invitation.id).status == "sent"


def test_custom_survey_checks_choices_and_text_length(clock):
    survey = feedback.create_survey("custom", feedback.SurveyValues(name="Events", title="Our events"))
    choice = feedback.add_question(survey, feedback.QuestionValues(kind="choice", prompt="Which event?", required=True,
                                                                   options_text="Open day\nHarbour run\n"))
    scale = feedback.add_question(survey, feedback.QuestionValues(kind="scale", prompt="Enjoyed it?", scale_min=1, scale_max=4))
    text = feedback.add_question(survey, feedback.QuestionValues(kind="text", prompt="Anything else?"))
    feedback.update_survey(survey, feedback.SurveyValues(name="Events", title="Our events", active=True))
    donor = make_donor(email="events@example.org")
    invitation = feedback.invite(survey.id, donor.id, source_key="manual:1")
    db.session.commit()
    parsed = feedback.parse_answers(survey, {f"q{choice.id}": "Bake sale", f"q{scale.id}": "5", f"q{text.id}": "x" * 2001})
    assert parsed.errors == {choice.id: "Choose one of the options.", scale.id: "Choose a number from 1 to 4.",
                             text.id: "Please keep it under 2,000 characters."}
    response = feedback.submit_response(invitation, {f"q{choice.id}": "Harbour run", f"q{scale.id}": "4"})
    assert response.score is None and response.low is False
    assert [a["value"] for a in response.answers] == ["Harbour run", 4, None]


def test_question_validation():
    survey = feedback.create_survey("custom", feedback.SurveyValues(name="Q", title="Q"))
    with pytest.raises(feedback.FeedbackError, match="at least two choices"):
        feedback.add_question(survey, feedback.QuestionValues(kind="choice", prompt="Pick", options_text="Only one"))
    with pytest.raises(feedback.FeedbackError, match="at least one question"):
        feedback.update_survey(survey, feedback.SurveyValues(name="Q", title="Q", active=True))
    nps_survey = nps()
    with pytest.raises(feedback.FeedbackError, match="can't be removed"):
        feedback.remove_question(nps_survey.score_question)


def test_tampered_and_expired_links(clock):
    survey = nps()
    donor = make_donor(email="link@example.org")
    invitation = feedback.invite(survey.id, donor.id, source_key="manual:1")
    db.session.commit()
    token = feedback.survey_token(invitation)
    tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    with pytest.raises(feedback.FeedbackError, match="isn't valid") as error:
        feedback.invitation_from_token(tampered)
    assert not error.value.expired
    forged = tokens.make_token("unsubscribe", {"i": invitation.id})  # signed, but for another purpose
    with pytest.raises(feedback.FeedbackError, match="isn't valid"):
        feedback.invitation_from_token(forged)
    clock.move_to(NOW + timedelta(days=61))
    with pytest.raises(feedback.FeedbackError, match="expired") as error:
        feedback.invitation_from_token(token)
    assert error.value.expired


def test_low_score_creates_one_task_for_support_with_the_response_and_a_due_date(clock):
    survey = nps()
    donor = make_donor(email="sad@example.org", first_name="Sam", last_name="Sad")
    invitation = feedback.invite(survey.id, donor.id, source_key="manual:1")
    db.session.commit()
    response = feedback.submit_response(invitation, {score_field(survey): "4", f"q{survey.questions[1].id}": "Nobody called back"})
    from portal.journey import reactors

    reactors.process_pending()  # a second pass changes nothing
    [task] = db.session.scalars(select(Task)).all()
    assert task.title == "Low NPS score (4) from Sam Sad"
    assert (task.kind, task.assignee_role, task.due_at, task.donor_id) == ("low_score", "support", NOW + timedelta(hours=48), donor.id)
    assert (task.source, task.dedupe_key) == (f"survey_response:{response.id}", f"survey_response:{response.id}")
    assert "Nobody called back" in task.details and "How likely are you to recommend us" in task.details


def test_thresholds_are_editable_and_apply_to_new_answers(clock):
    survey = feedback.create_survey("csat", feedback.SurveyValues(name="CSAT", title="How did we do?", active=True))
    feedback.update_settings(csat_low_max=3, nps_low_max=5, follow_up_hours=8, follow_up_team="fundraiser", cap_surveys=3, cap_days=30)
    donor = make_donor(email="three@example.org")
    invitation = feedback.invite(survey.id, donor.id, source_key="manual:1")
    db.session.commit()
    feedback.submit_response(invitation, {score_field(survey): "3"})
    task = db.session.scalar(select(Task))
    assert (task.assignee_role, task.due_at, task.title.startswith("Low CSAT score (3)")) == ("fundraiser", NOW + timedelta(hours=8), True)
    with pytest.raises(feedback.FeedbackError):
        feedback.update_settings(csat_low_max=5, nps_low_max=5, follow_up_hours=8, follow_up_team="support", cap_surveys=3, cap_days=30)


def test_nps_categories_and_results(clock):
    survey = nps()
    feedback.update_settings(csat_low_max=2, nps_low_max=6, follow_up_hours=48, follow_up_team="support", cap_surveys=5, cap_days=90)
    for n, score in enumerate(["10", "9", "8", "6", "0"]):
        donor = make_donor(email=f"d{n}@example.org")
        invitation = feedback.invite(survey.id, donor.id, source_key="manual:1")
        db.session.commit()
        feedback.submit_response(invitation, {score_field(survey): score})
    summary = feedback.results(survey)
    # 2 promoters, 1 passive, 2 detractors of 5: NPS = 40 - 40 = 0
    assert (summary.responses, summary.invited, summary.nps, summary.low) == (5, 5, 0, 2)
    assert summary.categories == {"promoter": 2, "passive": 1, "detractor": 2}
    assert [feedback.nps_category(s) for s in (0, 6, 7, 8, 9, 10)] == ["detractor"] * 2 + ["passive"] * 2 + ["promoter"] * 2


def test_last_score_expression_filters_donors_in_sql(clock):
    survey = nps()
    csat = feedback.create_survey("csat", feedback.SurveyValues(name="CSAT", title="How did we do?", active=True))
    feedback.update_settings(csat_low_max=2, nps_low_max=6, follow_up_hours=48, follow_up_team="support", cap_surveys=5, cap_days=90)
    unhappy, happy, silent = (make_donor(email=f"{name}@example.org", first_name=name) for name in ("unhappy", "happy", "silent"))
    for donor, answers in ((unhappy, [(survey, "9"), (survey, "3")]), (happy, [(survey, "10"), (csat, "1")])):
        for n, (which, score) in enumerate(answers):
            with time_machine.travel(NOW + timedelta(minutes=n), tick=False):
                invitation = feedback.invite(which.id, donor.id, source_key=f"manual:{n}")
                db.session.commit()
                feedback.submit_response(invitation, {score_field(which): score})
    detractors = db.session.scalars(select(Donor.first_name).where(feedback.last_score_expression("nps") <= 6)).all()
    assert detractors == ["unhappy"]
    latest_any = dict(db.session.execute(select(Donor.first_name, feedback.last_score_expression())).all())
    assert latest_any == {"unhappy": 3, "happy": 1, "silent": None}


def test_a_response_records_whether_it_has_a_comment(clock):
    survey = nps()
    assert survey.questions[1].kind == "text"
    answered = []
    for number, text in enumerate(["Great crew", "   ", ""]):
        donor = make_donor(email=f"comment{number}@example.org")
        invitation = feedback.invite(survey.id, donor.id, source_key=f"manual:{number}")
        db.session.commit()
        answered.append(feedback.submit_response(invitation, {score_field(survey): "8", f"q{survey.questions[1].id}": text}))
    assert [response.has_comment for response in answered] == [True, False, False]
