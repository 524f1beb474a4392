import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.journey.models import Touchpoint
from portal.support import services as support
from portal.support.models import Task
from tests.conftest import make_donor

pytestmark = pytest.mark.usefixtures("ctx")


def test_create_task_with_dedupe_key_is_created_once():
    donor = make_donor()
    first = support.create_task("Call about low score", donor_id=donor.id, kind="low_score", dedupe_key="survey:1")
    second = support.create_task("Call about low score", donor_id=donor.id, kind="low_score", dedupe_key="survey:1")
    db.session.commit()
    assert first.id == second.id
    assert db.session.scalar(select(func.count()).select_from(Task)) == 1


def test_ticket_opens_with_touchpoint_and_reply_reopens_closed_ticket():
    donor = make_donor()
    ticket = support.open_ticket(donor.id, "Receipt missing", "I didn't get my receipt for March.")
    assert ticket.status == "new" and ticket.messages[0].from_donor is True
    touchpoint = db.session.scalar(select(Touchpoint).where(Touchpoint.kind == "ticket_opened"))
    assert touchpoint.data == {"ticket_id": ticket.id} and touchpoint.summary == "Receipt missing"
    ticket.status = "closed"
    db.session.commit()
    support.add_donor_reply(ticket, "Still missing, sorry!")
    assert ticket.status == "open" and ticket.reopened_count == 1 and len(ticket.messages) == 2


def test_ticket_needs_subject_and_message():
    donor = make_donor()
    with pytest.raises(support.SupportError) as error:
        support.open_ticket(donor.id, "  ", "body")
    assert error.value.field_name == "subject"
    with pytest.raises(support.SupportError) as error:
        support.open_ticket(donor.id, "Subject", "")
    assert error.value.field_name == "body"
