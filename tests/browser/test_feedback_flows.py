"""Browser flows: a donor answers an emailed NPS survey; support works a task from the inbox; staff reply to a
ticket; a fundraiser dismisses an at-risk alert."""
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.engagement.models import EmailMessage
from portal.extensions import db
from portal.feedback import services as feedback
from portal.feedback.models import SurveyResponse
from portal.support import services as support
from portal.support.models import Task, Ticket
from portal.timeutil import utcnow
from tests.conftest import make_donor, make_gift, make_user, sign_in_staff
from tests.integration.test_retention_pages import at_risk

pytestmark = pytest.mark.browser


def test_donor_answers_an_nps_survey_from_the_emailed_link(app, live_server, page):
    with app.app_context():
        feedback.create_survey("nps", feedback.SurveyValues(name="After a gift", title="Would you recommend us?",
                                                            active=True, on_gift=True))
        donor = make_donor(email="ada@example.org", first_name="Ada")
        make_gift(donor.id, 2500, utcnow() - timedelta(minutes=5))
        message = db.session.scalar(select(EmailMessage).where(EmailMessage.purpose.like("survey:%")))
        link = next(line for line in message.text_body.splitlines() if "/survey/" in line).split("Answer here: ")[1]
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(live_server + link[link.index("/survey/"):])
    page.get_by_role("button", name="Send my answer").click()
    page.get_by_text("Choose a number from 0 to 10.").wait_for()  # nothing chosen: told in place
    page.get_by_role("radio", name="3", exact=True).check(force=True)
    page.get_by_label("What is the main reason for your score?").fill("Nobody answered my letter")
    url = page.url
    page.get_by_role("button", name="Send my answer").click()
    page.get_by_text("Thank you, Ada!").wait_for()
    assert page.get_by_text("Someone from our team will be in touch within 2 days").is_visible()
    assert page.url == url  # answered in place, no page load
    with app.app_context():
        response = db.session.scalar(select(SurveyResponse))
        assert (response.score, response.low, response.answers[1]["value"]) == (3, True, "Nobody answered my letter")
    page.reload()
    assert page.get_by_text("Your answer has been recorded").is_visible()


def test_support_specialist_works_a_task_from_the_inbox(app, live_server, page):
    with app.app_context():
        make_user("support", "grace@staff.example.org", name="Grace Lindqvist")
        donor = make_donor(email="sam@example.org", first_name="Sam", last_name="Sad")
        support.create_task("Low NPS score (2) from Sam Sad", donor_id=donor.id, kind="low_score", assignee_role="support",
                            details="How likely are you to recommend us?\n2", due_at=utcnow() - timedelta(hours=1))
        db.session.commit()
    sign_in_staff(page, live_server, "grace@staff.example.org")
    page.get_by_role("link", name="Tasks").click()
    page.get_by_role("link", name="Team tasks").click()
    assert page.get_by_text("1 overdue").is_visible()
    page.get_by_role("link", name="Low NPS score (2) from Sam Sad").click()
    page.get_by_role("button", name="Take it").click()
    page.get_by_text("Task assigned to you.").wait_for()
    page.get_by_role("textbox", name="Comment").fill("Rang Sam, left a voicemail")
    page.get_by_role("button", name="Add comment").click()
    page.get_by_text("Rang Sam, left a voicemail").wait_for()
    page.get_by_label("Outcome").select_option("contacted")
    page.get_by_label("Note").fill("Sam called back, letter resent")
    page.get_by_role("button", name="Mark as done").click()
    page.get_by_text("Task completed.").wait_for()
    page.get_by_role("link", name="Done").click()
    assert page.get_by_text("Spoke with the donor: Sam called back, letter resent").is_visible()
    with app.app_context():
        task = db.session.scalar(select(Task))
        assert (task.status, task.assignee.email) == ("done", "grace@staff.example.org")


def test_staff_reply_to_a_ticket_reaches_the_donor(app, live_server, page):
    # /me/support is built elsewhere: the donor's side is checked through the email and the stored public message.
    with app.app_context():
        make_user("support", "agent@staff.example.org", name="Grace Lindqvist")
        donor = make_donor(email="amelia@example.org", first_name="Amelia")
        ticket_id = support.open_ticket(donor.id, "Sponsorship letter", "My crew letter hasn't arrived.").id
    sign_in_staff(page, live_server, "agent@staff.example.org")
    page.get_by_role("link", name="Tickets").click()
    page.get_by_role("link", name=f"#{ticket_id} Sponsorship letter").click()
    page.get_by_label("Reply to the donor").fill("Sorry Amelia, we've posted a new copy today.")
    page.get_by_label("Then").select_option("waiting")
    page.get_by_role("button", name="Send reply").click()
    page.get_by_text("Reply sent to the donor.").wait_for()
    assert page.locator(".conversation .from-staff").get_by_text("we've posted a new copy today").is_visible()
    with app.app_context():
        email = db.session.scalar(select(EmailMessage).where(EmailMessage.purpose == "ticket_reply"))
        assert email.to_email == "amelia@example.org" and "we've posted a new copy today" in email.text_body
        ticket = db.session.get(Ticket, ticket_id)
        public = [m.body for m in ticket.messages if not m.internal]
        assert public[-1] == "Sorry Amelia, we've posted a new copy today." and ticket.status == "waiting"


def test_fundraiser_dismisses_an_at_risk_alert_with_a_reason(app, live_server, page):
    with app.app_context():
        make_user("fundraiser", "tom@staff.example.org", name="Tom Okafor")
        at_risk("Ivy", 50000)
    sign_in_staff(page, live_server, "tom@staff.example.org")
    page.get_by_role("link", name="At risk").click()
    row = page.locator("#alert-list tbody tr", has_text="Ivy Doe")
    row.get_by_text("Close…").click()
    row.get_by_role("button", name="Dismiss").click()  # the browser asks for the required reason first
    assert page.url.endswith("/staff/at-risk/")
    row.get_by_label("Why dismiss it? (required)").fill("Moving abroad; happy to hear from us yearly")
    row.get_by_role("button", name="Dismiss").click()
    page.get_by_text("Alert for Ivy Doe dismissed.").wait_for()
    assert page.get_by_text("No open alerts").is_visible()
