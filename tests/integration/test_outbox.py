"""The outbox against a real SMTP server on loopback."""
from datetime import datetime, timezone

import pytest
from rq.registry import ScheduledJobRegistry
from sqlalchemy import select

from portal import jobs
from portal.engagement.delivery import outbox
from portal.engagement.models import EmailMessage
from portal.extensions import db
from portal.journey.models import Touchpoint
from tests.conftest import make_donor

pytestmark = [pytest.mark.usefixtures("ctx"), pytest.mark.smtp]


def test_queued_message_is_delivered_after_commit_with_stable_message_id(smtp_server):
    donor = make_donor(email="grace@example.org")
    message = outbox.queue_email("grace@example.org", "Thank you", "Dear Grace,\nThank you.", donor_id=donor.id,
                                 idempotency_key="thanks:1")
    assert smtp_server.messages == []  # nothing leaves before the transaction commits
    db.session.commit()
    db.session.expire_all()
    assert [m["Subject"] for m in smtp_server.messages] == ["Thank you"]
    assert smtp_server.message_ids() == [message.message_id]
    stored = db.session.get(EmailMessage, message.id)
    assert stored.status == "sent" and stored.attempts == 1
    assert db.session.scalar(select(Touchpoint.summary).where(Touchpoint.kind == "email_sent")) == "Thank you"


def test_same_idempotency_key_queues_once(smtp_server):
    first = outbox.queue_email("a@example.org", "Hello", "Hi", idempotency_key="welcome:7")
    second = outbox.queue_email("a@example.org", "Hello", "Hi", idempotency_key="welcome:7")
    db.session.commit()
    assert first.id == second.id
    assert len(smtp_server.messages) == 1


def test_temporary_failure_is_retried_later_and_permanent_failure_is_marked(smtp_server):
    smtp_server.reply = {"busy@example.org": "451 4.3.0 try again later", "gone@example.org": "550 5.1.1 no such user"}
    busy = outbox.queue_email("busy@example.org", "One", "x", idempotency_key="k1")
    gone = outbox.queue_email("gone@example.org", "Two", "x", idempotency_key="k2")
    db.session.commit()
    db.session.expire_all()
    busy, gone = db.session.get(EmailMessage, busy.id), db.session.get(EmailMessage, gone.id)
    assert busy.status == "pending" and busy.next_attempt_at > busy.created_at and "451" in busy.last_error
    assert gone.status == "failed" and "550" in gone.last_error
    assert smtp_server.messages == []


def test_without_mail_server_messages_are_stored_for_the_mail_log(app):
    message = outbox.queue_email("a@example.org", "Stored", "x", idempotency_key="k3")
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(EmailMessage, message.id).status == "stored"


def test_smtp_down_leaves_message_pending_for_the_sweep(app):
    from tests.conftest import free_port

    app.config["MAIL_URL"] = f"smtp://127.0.0.1:{free_port()}"
    try:
        message = outbox.queue_email("a@example.org", "Later", "x", idempotency_key="k4")
        db.session.commit()
    finally:
        app.config["MAIL_URL"] = None
    db.session.expire_all()
    stored = db.session.get(EmailMessage, message.id)
    assert stored.status == "pending" and "cannot connect" in stored.last_error


@pytest.fixture
def nothing_scheduled():
    jobs.runner().connection.flushdb()  # the in-memory Redis of the test app's job runner lives for the session


def _scheduled_mail_jobs(app) -> list[tuple[datetime, list[int]]]:
    """What the job runner holds for later: (due time as naive UTC, message ids) of each delivery job."""
    queue = jobs.runner().queue("mail")
    registry = ScheduledJobRegistry(queue=queue)
    found = []
    for job_id in registry.get_job_ids():
        job = queue.fetch_job(job_id)
        assert job.func is outbox.deliver_messages or job.func_name.endswith("deliver_messages")
        due = registry.get_scheduled_time(job).astimezone(timezone.utc).replace(tzinfo=None)
        found.append((due, job.args[0]))
    return found


def test_a_deferred_message_is_retried_at_its_due_time_and_says_which_attempt_it_was(app, smtp_server, nothing_scheduled):
    smtp_server.reply = {"busy@example.org": "451 4.3.0 try again later", "slow@example.org": "452 4.2.2 mailbox full"}
    busy = outbox.queue_email("busy@example.org", "One", "x", idempotency_key="due:1")
    slow = outbox.queue_email("slow@example.org", "Two", "x", idempotency_key="due:2")
    db.session.commit()
    db.session.expire_all()
    busy, slow = db.session.get(EmailMessage, busy.id), db.session.get(EmailMessage, slow.id)
    assert busy.last_error == "451 4.3.0 try again later (attempt 1 of 8; will retry)"
    assert slow.last_error.endswith("(attempt 1 of 8; will retry)")
    [(due, ids)] = _scheduled_mail_jobs(app)
    assert sorted(ids) == sorted([busy.id, slow.id])
    assert due.replace(microsecond=0) == max(busy.next_attempt_at, slow.next_attempt_at).replace(microsecond=0)


def test_every_message_deferred_because_the_server_is_down_says_which_attempt_it_was(app, nothing_scheduled):
    from tests.conftest import free_port

    app.config["MAIL_URL"] = f"smtp://127.0.0.1:{free_port()}"
    try:
        ids = [outbox.queue_email(f"m{i}@example.org", "Later", "x", idempotency_key=f"down:{i}").id for i in range(3)]
        db.session.commit()
    finally:
        app.config["MAIL_URL"] = None
    db.session.expire_all()
    messages = [db.session.get(EmailMessage, message_id) for message_id in ids]
    assert [m.status for m in messages] == ["pending"] * 3
    assert all(m.last_error.endswith("(attempt 1 of 8; will retry)") for m in messages), [m.last_error for m in messages]
    [(due, scheduled)] = _scheduled_mail_jobs(app)
    assert sorted(scheduled) == sorted(ids)
