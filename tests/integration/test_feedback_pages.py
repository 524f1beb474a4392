"""Surveys through the test client: the builder, the public answer page and /me/surveys."""
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import func, select

from portal.donors.models import Donor
from portal.extensions import db
from portal.feedback import services as feedback
from portal.feedback.models import Survey, SurveyResponse
from portal.journey.models import Touchpoint
from portal.support.models import Task
from portal.timeutil import utcnow
from tests.conftest import login, make_donor, make_user, signed_in

HTMX = {"HX-Request": "true"}


@pytest.fixture
def invitation(app):
    """An NPS survey emailed to one donor: (path of the link, survey id, score field name, donor id)."""
    with app.app_context():
        survey = feedback.create_survey("nps", feedback.SurveyValues(name="Supporter NPS", title="Would you recommend us?", active=True))
        donor = make_donor(email="ada@example.org", first_name="Ada")
        invited = feedback.invite(survey.id, donor.id, source_key="manual:1")
        db.session.commit()
        link = feedback.survey_link(invited)
        return link[link.index("/survey/"):], survey.id, f"q{survey.score_question.id}", donor.id, invited.id


def responses(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(SurveyResponse))


def test_answer_page_works_without_signing_in_and_preselects_the_emailed_score(client, invitation):
    path, _, score, _, _ = invitation
    page = client.get(path + "?score=7")
    assert page.status_code == 200
    html = page.data.decode()
    assert "How likely are you to recommend us to a friend or colleague?" in html
    assert f'name="{score}" value="7" checked' in html and "Send my answer" in html
    assert 'name="viewport"' in html and "<legend>" in html


def test_out_of_range_score_is_refused_in_place_and_nothing_is_recorded(app, client, invitation):
    path, _, score, _, _ = invitation
    for value in ("11", "-2", "ten"):
        response = client.post(path, data={score: value}, headers=HTMX)
        assert response.status_code == 400
        assert "Choose a number from 0 to 10." in response.data.decode()
        assert "<html" not in response.data.decode()  # just the survey block, swapped in place
    assert responses(app) == 0


def test_htmx_answer_shows_thanks_in_place_and_low_score_says_we_will_be_in_touch(app, client, invitation):
    path, _, score, donor_id, _ = invitation
    response = client.post(path, data={score: "3"}, headers=HTMX)
    assert response.status_code == 200
    html = response.data.decode()
    assert "Thank you, Ada!" in html and "Someone from our team will be in touch within 2 days" in html
    assert "<html" not in html
    with app.app_context():
        assert db.session.scalar(select(Touchpoint.kind).where(Touchpoint.donor_id == donor_id, Touchpoint.kind == "survey_answered"))
        assert db.session.scalar(select(Task.kind)) == "low_score"


def test_high_score_thanks_without_follow_up(client, invitation):
    path, _, score, _, _ = invitation
    html = client.post(path, data={score: "10"}, headers=HTMX).data.decode()
    assert "Thank you, Ada!" in html and "in touch" not in html


def test_double_submission_is_refused_clearly_and_recorded_once(app, client, invitation):
    path, _, score, _, _ = invitation
    assert client.post(path, data={score: "9"}).status_code == 303  # without htmx: post, redirect, get
    again = client.post(path, data={score: "2"}, headers=HTMX)
    assert again.status_code == 409 and "You had already answered this survey" in again.data.decode()
    assert responses(app) == 1
    revisit = client.get(path)
    assert revisit.status_code == 200 and "Your answer has been recorded" in revisit.data.decode()


def test_tampered_expired_and_missing_csrf(app, client, invitation):
    path, _, score, _, _ = invitation
    tampered = client.get(path[:-4] + "abcd")
    assert tampered.status_code == 404 and "This survey link isn&#39;t valid" in tampered.data.decode()
    assert client.post(path, data={score: "9"}, csrf=False).status_code == 400
    with time_machine.travel(utcnow() + timedelta(days=61)):
        expired = client.get(path)
    assert expired.status_code == 410 and "expired" in expired.data.decode()
    assert responses(app) == 0


def test_closed_survey_says_so(app, client, invitation):
    path, survey_id, score, _, _ = invitation
    with app.app_context():
        db.session.get(Survey, survey_id).active = False
        db.session.commit()
    page = client.get(path)
    assert page.status_code == 410 and "This survey has closed" in page.data.decode()
    assert client.post(path, data={score: "9"}).status_code == 410
    assert responses(app) == 0


def test_me_surveys_lists_and_answers_only_the_donors_own(app, client, invitation):
    _, _, score, donor_id, invitation_id = invitation
    assert client.get("/me/surveys/").status_code == 302
    with app.app_context():
        make_user("donor", "ada@example.org", donor_id=donor_id)
        other = make_donor(email="other@example.org", first_name="Other")
        make_user("donor", "other@example.org", donor_id=other.id)
    login(client, "other@example.org")
    assert "Nothing to answer right now" in client.get("/me/surveys/").data.decode()
    assert client.get(f"/me/surveys/{invitation_id}").status_code == 404
    assert client.post(f"/me/surveys/{invitation_id}", data={score: "1"}).status_code == 404
    client.post("/logout")
    login(client, "ada@example.org")
    listing = client.get("/me/surveys/").data.decode()
    assert "Would you recommend us?" in listing and f"/me/surveys/{invitation_id}" in listing
    answered = client.post(f"/me/surveys/{invitation_id}", data={score: "8"}, headers=HTMX)
    assert answered.status_code == 200 and "Thank you" in answered.data.decode()
    with app.app_context():
        assert db.session.scalar(select(SurveyResponse.channel)) == "portal"
    assert "You answered" in client.get("/me/surveys/").data.decode()


def test_staff_cannot_use_me_surveys(app):
    assert signed_in(app, "support").get("/me/surveys/").status_code == 403


def test_builder_create_edit_questions_and_settings(app):
    staff = signed_in(app, "fundraiser")
    bad = staff.post("/staff/surveys/new", data={"name": "", "kind": "nps", "title": "", "delay_days": "0", "periodic_months": "0"})
    assert bad.status_code == 400 and b"Give the survey a name." in bad.data
    bad_delay = staff.post("/staff/surveys/new", data={"name": "X", "kind": "csat", "title": "Y", "delay_days": "400", "periodic_months": "0"})
    assert bad_delay.status_code == 400 and b"Enter between 0 and 365 days." in bad_delay.data
    created = staff.post("/staff/surveys/new", data={"name": "Events", "kind": "custom", "title": "Our events",
                                                     "delay_days": "0", "periodic_months": "0"})
    assert created.status_code == 303
    survey_path = created.headers["Location"]
    with app.app_context():
        survey_id = db.session.scalar(select(Survey.id).where(Survey.name == "Events"))
    one_choice = staff.post(f"/staff/surveys/{survey_id}/questions", data={"kind": "choice", "prompt": "Which?", "options_text": "Only",
                                                                          "scale_min": "1", "scale_max": "5"})
    assert one_choice.status_code == 400 and b"Give at least two choices, one per line." in one_choice.data
    assert staff.post(f"/staff/surveys/{survey_id}/questions", data={"kind": "choice", "prompt": "Which event?",
                                                                     "options_text": "Open day\nHarbour run", "required": "y",
                                                                     "scale_min": "1", "scale_max": "5"}).status_code == 303
    switched_on = staff.post(f"/staff/surveys/{survey_id}/edit", data={"name": "Events", "title": "Our events", "active": "y",
                                                                       "on_gift": "y", "delay_days": "2", "periodic_months": "0"})
    assert switched_on.status_code == 303
    with app.app_context():
        survey = db.session.get(Survey, survey_id)
        assert (survey.active, survey.on_gift, survey.delay_days, [q.prompt for q in survey.questions]) == (True, True, 2, ["Which event?"])
    assert b"Which event?" in staff.get(survey_path).data
    assert staff.get("/staff/surveys/").status_code == 200
    assert staff.get("/staff/surveys/999999").status_code == 404
    assert staff.get("/staff/surveys/settings").status_code == 403
    admin = signed_in(app, "admin")
    bad_rules = admin.post("/staff/surveys/settings", data={"csat_low_max": "2", "nps_low_max": "6", "follow_up_hours": "0",
                                                            "follow_up_team": "support", "cap_surveys": "1", "cap_days": "90"})
    assert bad_rules.status_code == 400 and b"Enter between 1 and 720 hours." in bad_rules.data
    assert admin.post("/staff/surveys/settings", data={"csat_low_max": "3", "nps_low_max": "5", "follow_up_hours": "24",
                                                       "follow_up_team": "fundraiser", "cap_surveys": "2", "cap_days": "60"}).status_code == 303
    with app.app_context():
        rules = feedback.settings()
        assert (rules.csat_low_max, rules.nps_low_max, rules.follow_up_team, rules.cap_surveys) == (3, 5, "fundraiser", 2)


# The donor page's own forms (outside this package) still pass tuple choices, which WTForms 3.3 deprecates.
def test_staff_see_a_response_and_the_donor_page_panel(app, client, invitation):
    path, _, score, donor_id, _ = invitation
    client.post(path, data={score: "4", "q999": "ignored"}, headers=HTMX)
    staff = signed_in(app, "support")
    with app.app_context():
        response_id = db.session.scalar(select(SurveyResponse.id))
    page = staff.get(f"/staff/surveys/responses/{response_id}").data.decode()
    assert "NPS 4 · Detractor" in page
    donor_page = staff.get(f"/staff/donors/{donor_id}").data.decode()
    assert "Feedback" in donor_page and "NPS 4" in donor_page
    assert staff.get("/staff/surveys/responses/999999").status_code == 404


def test_me_home_panel_lists_open_surveys_and_disappears_when_answered(app, invitation):
    from flask_login import login_user

    _, _, score, donor_id, invitation_id = invitation
    with app.test_request_context("/me"):
        login_user(make_user("donor", "ada@example.org", donor_id=donor_id))
        donor = db.session.get(Donor, donor_id)  # the home page passes its donor to every panel
        html = "".join(app.jinja_env.globals["panels"]("me_home", donor=donor))
        assert "Tell us how we're doing" in html
        assert f"/me/surveys/{invitation_id}" in html
        feedback.submit_response(feedback.get_invitation(invitation_id), {score: "9"})
        assert [html for html in app.jinja_env.globals["panels"]("me_home", donor=donor) if "/me/surveys/" in html] == []
