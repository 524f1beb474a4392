"""The staff side of tickets (replies, notes, status, timers) and the task inbox."""
from datetime import datetime, timedelta

import pytest
import time_machine
from sqlalchemy import select

from portal.engagement.models import EmailMessage
from portal.extensions import db
from portal.journey.models import Touchpoint
from portal.support import services as support
from portal.support.models import Task, TicketMessage
from tests.conftest import make_donor, make_user

pytestmark = pytest.mark.usefixtures("ctx")
NOW = datetime(2026, 6, 15, 9, 0)


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def kinds(donor_id: int) -> list[str]:
    return list(db.session.scalars(select(Touchpoint.kind).where(Touchpoint.donor_id == donor_id).order_by(Touchpoint.id)))


def test_staff_reply_emails_the_donor_stops_the_clock_and_is_on_the_timeline(clock):
    donor = make_donor(email="ada@example.org", first_name="Ada")
    agent = make_user("support", "grace@example.test", name="Grace Lindqvist")
    ticket = support.open_ticket(donor.id, "Gift Aid form", "Where do I send my Gift Aid form?")
    assert (ticket.status, ticket.awaiting_reply_since, ticket.first_response_at) == ("new", NOW, None)
    clock.move_to(NOW + timedelta(hours=3))
    message = support.staff_reply(ticket, "You can post it to us, or upload it in the portal.", actor=agent)
    assert (ticket.status, ticket.first_response_at, ticket.awaiting_reply_since, ticket.assignee_id) == (
        "waiting", NOW + timedelta(hours=3), None, agent.id)
    email = db.session.scalar(select(EmailMessage).where(EmailMessage.purpose == "ticket_reply"))
    assert (email.to_email, email.subject, email.category, email.idempotency_key) == (
        "ada@example.org", f"Re: Gift Aid form [ticket #{ticket.id}]", "transactional", f"ticket_reply:{message.id}")
    assert "Dear Ada" in email.text_body and "upload it in the portal" in email.text_body and "Grace Lindqvist" in email.text_body
    assert kinds(donor.id)[-3:] == ["ticket_opened", "ticket_replied", "email_sent"]


def test_internal_note_is_never_emailed(clock):
    donor = make_donor(email="b@example.org")
    agent = make_user("support", "agent@example.test")
    ticket = support.open_ticket(donor.id, "Address", "New address")
    note = support.add_internal_note(ticket, "Check the old address first", actor=agent)
    assert note.internal is True
    assert db.session.scalar(select(EmailMessage).where(EmailMessage.purpose == "ticket_reply")) is None
    assert ticket.awaiting_reply_since == NOW  # a note is not an answer


def test_close_records_ticket_closed_and_donor_reply_reopens(clock):
    donor = make_donor(email="c@example.org")
    agent = make_user("support", "agent@example.test")
    ticket = support.open_ticket(donor.id, "Statement", "Need my statement")
    support.change_ticket_status(ticket, "closed", actor=agent)
    assert (ticket.status, ticket.closed_at) == ("closed", NOW)
    support.add_donor_reply(ticket, "Actually I still need it")
    assert (ticket.status, ticket.reopened_count, ticket.awaiting_reply_since) == ("open", 1, NOW)
    assert kinds(donor.id)[-3:] == ["ticket_opened", "ticket_closed", "ticket_reopened"]
    with pytest.raises(support.SupportError):
        support.change_ticket_status(ticket, "new", actor=agent)


def test_staff_open_a_ticket_from_a_call(clock):
    donor = make_donor(email="d@example.org")
    agent = make_user("support", "agent@example.test")
    ticket = support.open_ticket(donor.id, "Called about direct debit", "Wants to move the date to the 15th",
                                 channel="phone", opened_by_staff=agent, assignee_id=agent.id)
    assert (ticket.status, ticket.channel, ticket.first_response_at, ticket.awaiting_reply_since) == ("open", "phone", NOW, None)
    assert ticket.messages[0].from_donor is False and ticket.messages[0].author_user_id == agent.id
    first, resolution = support.sla_timers(ticket)
    assert (first.due_at, first.met_at, resolution.due_at) == (None, NOW, NOW + timedelta(hours=120))


def test_timers_use_the_configured_hours_and_breaches_are_listed(clock):
    support.update_settings(first_response_hours=4, resolution_hours=48)
    donor = make_donor(email="e@example.org")
    ticket = support.open_ticket(donor.id, "Help", "Please help")
    first, resolution = support.sla_timers(ticket, now=NOW + timedelta(hours=3))
    assert (first.due_at, first.breached, resolution.due_at) == (NOW + timedelta(hours=4), False, NOW + timedelta(hours=48))
    assert support.sla_breaches(NOW + timedelta(hours=3)) == []
    breaches = support.sla_breaches(NOW + timedelta(hours=49))
    assert [(b.ticket_id, b.timer) for b in breaches] == [(ticket.id, "first_response"), (ticket.id, "resolution")]
    with pytest.raises(support.SupportError):
        support.update_settings(first_response_hours=10, resolution_hours=5)


def test_task_inbox_overdue_first_mine_and_team(clock):
    agent = make_user("support", "agent@example.test")
    colleague = make_user("support", "colleague@example.test")
    fundraiser = make_user("fundraiser", "fund@example.test")
    later = support.create_task("Later", assignee_role="support", due_at=NOW + timedelta(days=2))
    overdue = support.create_task("Overdue", assignee_role="support", due_at=NOW - timedelta(hours=1))
    undated = support.create_task("Undated", assignee_role="support")
    mine = support.create_task("Mine", assignee_id=agent.id, assignee_role="support", due_at=NOW + timedelta(days=1))
    support.create_task("Colleague's", assignee_id=colleague.id, assignee_role="support", due_at=NOW - timedelta(days=1))
    support.create_task("Fundraising", assignee_role="fundraiser", due_at=NOW - timedelta(days=3))
    db.session.commit()
    team = support.task_inbox(agent, view="team")
    assert [t.title for t in team.tasks] == ["Overdue", "Mine", "Later", "Undated"]
    assert (team.total, team.overdue) == (4, 1)
    assert [t.title for t in support.task_inbox(agent, view="mine").tasks] == ["Mine"]
    assert [t.title for t in support.task_inbox(fundraiser, view="team").tasks] == ["Fundraising"]
    assert support.open_task_counts(agent) == {"open": 4, "overdue": 1}
    assert {later.id, overdue.id, undated.id, mine.id} == {t.id for t in team.tasks}


def test_assign_comment_and_complete_with_an_outcome(clock):
    agent = make_user("support", "agent@example.test", name="Agent")
    donor = make_donor(email="f@example.org")
    task = support.create_task("Call back", donor_id=donor.id, assignee_role="support", due_at=NOW)
    db.session.commit()
    support.assign_task(task, agent.id, actor=agent)
    support.comment_on_task(task, "Left a voicemail", actor=agent)
    with pytest.raises(support.SupportError):
        support.complete_task(task, "made_up", actor=agent)
    support.complete_task(task, "contacted", note="All sorted", actor=agent)
    assert (task.status, task.outcome, task.completed_at) == ("done", "Spoke with the donor: All sorted", NOW)
    assert [c.body for c in task.comments] == ["Assigned to Agent.", "Left a voicemail"]
    with pytest.raises(support.SupportError):
        support.complete_task(task, "contacted", actor=agent)
    support.reopen_task(task, actor=agent)
    assert task.status == "open" and task.completed_at is None
    assert support.task_inbox(agent, view="mine", status="open").tasks == [task]


def test_unassigning_returns_the_task_to_its_team_or_refuses(clock):
    agent = make_user("support", "agent@example.test")
    team_task = support.create_task("Team", assignee_id=agent.id, assignee_role="support")
    orphan = support.create_task("Orphan", assignee_id=agent.id)
    db.session.commit()
    support.assign_task(team_task, None, actor=agent)
    assert team_task.assignee_id is None and team_task in support.task_inbox(agent, view="team").tasks
    with pytest.raises(support.SupportError, match="no team"):
        support.assign_task(orphan, None, actor=agent)
    inactive = make_user("support", "left@example.test")
    inactive.active = False
    db.session.commit()
    with pytest.raises(support.SupportError):
        support.assign_task(team_task, inactive.id, actor=agent)


def test_task_sources_describe_their_cause(clock):
    donor = make_donor(email="g@example.org")
    ticket = support.open_ticket(donor.id, "Receipt", "Please")
    assert support.source_label(f"ticket:{ticket.id}") == "Support ticket"
    from flask import current_app

    with current_app.test_request_context():
        assert support.describe_source(f"ticket:{ticket.id}") == (f"Ticket #{ticket.id}: Receipt", f"/staff/tickets/{ticket.id}")
    assert support.describe_source("unknown:1") is None
    assert db.session.scalar(select(TicketMessage.body)) == "Please"
    assert db.session.scalar(select(Task)) is None
