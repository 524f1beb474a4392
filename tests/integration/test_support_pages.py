"""Tickets and the task inbox through the test client: access, forms, errors in place, side effects."""
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.engagement.models import EmailMessage
from portal.extensions import db
from portal.support import services as support
from portal.support.models import Task, Ticket, TicketMessage
from portal.timeutil import utcnow
from tests.conftest import login, make_donor, make_user, signed_in


@pytest.fixture
def ticket(app):
    with app.app_context():
        donor = make_donor(email="ada@example.org", first_name="Ada")
        found = support.open_ticket(donor.id, "Receipt missing", "I didn't get my March receipt.")
        return found.id, donor.id


def test_ticket_pages_need_the_right_role(app, client, ticket):
    assert client.get("/staff/tickets/").status_code == 302
    with app.app_context():
        make_user("donor", "donor@example.org", donor_id=ticket[1])
    login(client, "donor@example.org")
    assert client.get("/staff/tickets/").status_code == 403
    support_client = signed_in(app, "support")
    page = support_client.get("/staff/tickets/")
    assert page.status_code == 200 and b"Receipt missing" in page.data
    assert support_client.get(f"/staff/tickets/{ticket[0]}").status_code == 200
    assert support_client.get("/staff/tickets/999999").status_code == 404
    assert support_client.get("/staff/tickets/settings").status_code == 403


def test_reply_emails_the_donor_and_an_empty_reply_is_refused_in_place(app, ticket):
    agent = signed_in(app, "support")
    refused = agent.post(f"/staff/tickets/{ticket[0]}/reply", data={"body": "  ", "next_status": "waiting"})
    assert refused.status_code == 400 and b"Write a reply." in refused.data
    sent = agent.post(f"/staff/tickets/{ticket[0]}/reply", data={"body": "Sent it again just now.", "next_status": "waiting"})
    assert sent.status_code == 303
    with app.app_context():
        email = db.session.scalar(select(EmailMessage).where(EmailMessage.purpose == "ticket_reply"))
        assert email.to_email == "ada@example.org" and "Sent it again just now." in email.text_body
        assert db.session.get(Ticket, ticket[0]).status == "waiting"
    assert b"Sent it again just now." in agent.get(f"/staff/tickets/{ticket[0]}").data


def test_reply_without_csrf_is_refused_and_nothing_is_sent(app, ticket):
    agent = signed_in(app, "support")
    response = agent.post(f"/staff/tickets/{ticket[0]}/reply", data={"body": "Hello", "next_status": "waiting"}, csrf=False)
    assert response.status_code == 400
    with app.app_context():
        assert db.session.scalar(select(EmailMessage)) is None


def test_internal_note_assign_and_close(app, ticket):
    agent = signed_in(app, "support")
    assert agent.post(f"/staff/tickets/{ticket[0]}/note", data={"body": "Finance checking"}).status_code == 303
    with app.app_context():
        colleague = make_user("support", "colleague@example.test", name="Colleague")
        colleague_id = colleague.id
    assert agent.post(f"/staff/tickets/{ticket[0]}/assign", data={"assignee_id": str(colleague_id)}).status_code == 303
    assert agent.post(f"/staff/tickets/{ticket[0]}/assign", data={"assignee_id": "987654"}).status_code == 303
    assert agent.post(f"/staff/tickets/{ticket[0]}/status", data={"status": "closed"}).status_code == 303
    with app.app_context():
        found = db.session.get(Ticket, ticket[0])
        assert (found.status, found.assignee_id) == ("closed", colleague_id)
        notes = db.session.scalars(select(TicketMessage.body).where(TicketMessage.internal.is_(True))).all()
        assert notes == ["Finance checking", "Assigned to Colleague."]
        assert db.session.scalar(select(EmailMessage)) is None


def test_staff_open_a_ticket_for_a_donor(app):
    with app.app_context():
        donor_id = make_donor(email="caller@example.org").id
    agent = signed_in(app, "support")
    form = agent.get(f"/staff/tickets/new?donor_id={donor_id}")
    assert form.status_code == 200 and b"caller@example.org" in form.data
    unknown = agent.post("/staff/tickets/new", data={"donor_id": "999999", "channel": "phone", "subject": "Hi", "body": "Hello"})
    assert unknown.status_code == 400 and b"There is no donor with that number." in unknown.data
    missing = agent.post("/staff/tickets/new", data={"donor_id": str(donor_id), "channel": "phone", "subject": "", "body": ""})
    assert missing.status_code == 400 and b"Enter a subject." in missing.data
    created = agent.post("/staff/tickets/new", data={"donor_id": str(donor_id), "channel": "phone",
                                                     "subject": "Called about Gift Aid", "body": "Asked whether Gift Aid applies"})
    assert created.status_code == 303
    with app.app_context():
        found = db.session.scalar(select(Ticket))
        assert (found.channel, found.status, found.donor_id) == ("phone", "open", donor_id)


def test_service_levels_are_admin_only_and_validated(app):
    admin = signed_in(app, "admin")
    bad = admin.post("/staff/tickets/settings", data={"first_response_hours": "0", "resolution_hours": "48"})
    assert bad.status_code == 400 and b"Enter between 1 and 720 hours." in bad.data
    assert admin.post("/staff/tickets/settings", data={"first_response_hours": "8", "resolution_hours": "72"}).status_code == 303
    with app.app_context():
        assert (support.settings().first_response_hours, support.settings().resolution_hours) == (8, 72)


def test_task_inbox_work_a_task(app):
    with app.app_context():
        donor = make_donor(email="task@example.org", first_name="Tess")
        overdue = support.create_task("Call Tess back", donor_id=donor.id, assignee_role="support", due_at=utcnow() - timedelta(hours=2))
        support.create_task("Write to Tess", donor_id=donor.id, assignee_role="support", due_at=utcnow() + timedelta(days=2))
        support.create_task("Fundraisers only", assignee_role="fundraiser")
        db.session.commit()
        task_id = overdue.id
    agent = signed_in(app, "support")
    inbox = agent.get("/staff/tasks/?view=team").data.decode()
    assert inbox.index("Call Tess back") < inbox.index("Write to Tess") and "Fundraisers only" not in inbox
    assert "1 overdue" in inbox
    assert agent.get("/staff/tasks/999999").status_code == 404
    assert agent.post(f"/staff/tasks/{task_id}/assign", data={"take": "1"}).status_code == 303
    assert "Call Tess back" in agent.get("/staff/tasks/").data.decode()
    empty = agent.post(f"/staff/tasks/{task_id}/comments", data={"body": ""})
    assert empty.status_code == 400 and b"Write a comment." in empty.data
    assert agent.post(f"/staff/tasks/{task_id}/comments", data={"body": "Rang, no answer"}).status_code == 303
    no_outcome = agent.post(f"/staff/tasks/{task_id}/complete", data={"outcome": "", "note": ""})
    assert no_outcome.status_code == 400 and b"Choose an outcome." in no_outcome.data
    assert agent.post(f"/staff/tasks/{task_id}/complete", data={"outcome": "left_message", "note": "Try Friday"}).status_code == 303
    with app.app_context():
        task = db.session.get(Task, task_id)
        assert (task.status, task.outcome) == ("done", "Left a message: Try Friday")
        assert [c.body for c in task.comments][-1] == "Rang, no answer"
    assert "Call Tess back" in agent.get("/staff/tasks/?status=done").data.decode()


def test_add_a_task_by_hand_and_the_home_tile(app):
    agent = signed_in(app, "fundraiser")
    bad = agent.post("/staff/tasks/new", data={"title": "", "donor_id": "999999"})
    assert bad.status_code == 400 and b"Say what needs doing." in bad.data
    assert agent.post("/staff/tasks/new", data={"title": "Thank the Smiths", "due_on": "2020-01-01"}).status_code == 303
    home = agent.get("/staff/").data.decode()
    assert "Open tasks" in home and "1 overdue" in home and "stat placeholder" not in home
