"""Delivery for real: a real aiosmtpd server on loopback, real Redis, and real `flask worker` processes,
one of them killed with SIGKILL in the middle of a batch. Messages are counted by Message-ID."""
from __future__ import annotations

import subprocess
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from portal import jobs
from portal.engagement.delivery import outbox
from portal.engagement.models import EmailMessage
from portal.extensions import db
from portal.timeutil import utcnow
from tests.processes import finish, flask_environment, kill_with_children, start_flask

pytestmark = [pytest.mark.usefixtures("ctx"), pytest.mark.redis, pytest.mark.smtp]


@pytest.fixture
def rq_mode(app, redis_url):
    """The app enqueues onto real Redis, as in production, for the duration of the test."""
    app.config.update(JOBS_MODE="rq", REDIS_URL=redis_url)
    original = app.extensions["portal_jobs"]
    app.extensions["portal_jobs"] = jobs.JobRunner(app)
    yield redis_url
    app.extensions["portal_jobs"] = original
    app.config.update(JOBS_MODE="sync", REDIS_URL=None)


def _environment(app, redis_url: str, mail_url: str, tmp_path) -> dict:
    return flask_environment(app, redis_url, tmp_path, MAIL_URL=mail_url)


def _worker(env: dict) -> subprocess.Popen:
    return start_flask(env, "worker", "--queues", "mail", "--burst", "--no-scheduler")


def _queue(count: int, prefix: str) -> list[EmailMessage]:
    messages = [outbox.queue_email(f"{prefix}{i}@example.org", f"Message {i}", "Hello", idempotency_key=f"{prefix}:{i}")
                for i in range(count)]
    db.session.commit()
    return messages


def _statuses() -> Counter:
    db.session.expire_all()
    return Counter(db.session.scalars(select(EmailMessage.status)))


def test_worker_killed_mid_batch_and_restarted_delivers_every_message_exactly_once(app, rq_mode, smtp_server, tmp_path):
    smtp_server.delay, smtp_server.signal_at = 0.05, 15
    messages = _queue(40, "crash")  # one transaction: one delivery job holding all 40
    expected = {m.message_id for m in messages}
    env = _environment(app, rq_mode, smtp_server.url, tmp_path)

    first = _worker(env)
    try:
        assert smtp_server.reached.wait(60), "the worker never reached the 15th message"
    finally:
        kill_with_children(first.pid)
        first.communicate(timeout=10)
        smtp_server.released.set()
    assert len(smtp_server.messages) == 14
    assert _statuses() == Counter({"sent": 14, "sending": 26})  # the dead worker's claim still holds the rest

    # Nothing re-sends while the lease is fresh; once it has run out, the sweep (run by cron or the
    # scheduler) hands the rest to a new worker.
    assert outbox.sweep_due_messages() == 0
    # The lease runs out: the claim is dated just beyond CLAIM_TIMEOUT ago (a value computed here, since
    # date arithmetic in SQL would store a number on SQLite).
    expired = utcnow() - outbox.CLAIM_TIMEOUT - timedelta(seconds=1)
    db.session.execute(update(EmailMessage).where(EmailMessage.status == "sending").values(claimed_at=expired))
    db.session.commit()
    assert set(db.session.scalars(select(EmailMessage.claimed_at).where(EmailMessage.status == "sending"))) == {expired}
    smtp_server.delay = 0
    finish(start_flask(env, "jobs", "sweep"))
    finish(_worker(env))

    counts = smtp_server.counts()
    assert set(counts) == expected and max(counts.values()) == 1
    assert _statuses() == Counter({"sent": 40})


def test_worker_retries_a_4xx_later_and_marks_a_5xx_permanent(app, rq_mode, smtp_server, tmp_path):
    smtp_server.reply = {"busy@example.org": "451 4.3.0 Mailbox busy, try later", "gone@example.org": "550 5.1.1 No such user"}
    ok = outbox.queue_email("ok@example.org", "Fine", "x", idempotency_key="r:ok")
    busy = outbox.queue_email("busy@example.org", "Busy", "x", idempotency_key="r:busy")
    gone = outbox.queue_email("gone@example.org", "Gone", "x", idempotency_key="r:gone")
    after = outbox.queue_email("after@example.org", "After", "x", idempotency_key="r:after")
    db.session.commit()
    env = _environment(app, rq_mode, smtp_server.url, tmp_path)
    finish(_worker(env))

    db.session.expire_all()
    rows = {m.to_email: m for m in db.session.scalars(select(EmailMessage))}
    assert (rows["ok@example.org"].status, rows["after@example.org"].status) == ("sent", "sent")
    assert rows["gone@example.org"].status == "failed" and "550" in rows["gone@example.org"].last_error
    waiting = rows["busy@example.org"]
    assert waiting.status == "pending" and "451" in waiting.last_error and waiting.attempts == 1
    assert waiting.next_attempt_at > waiting.created_at + timedelta(minutes=1)
    assert outbox.sweep_due_messages() == 0  # not due yet: backing off

    smtp_server.reply = {}
    db.session.execute(update(EmailMessage).where(EmailMessage.id == busy.id).values(next_attempt_at=EmailMessage.created_at))
    db.session.commit()
    finish(start_flask(env, "jobs", "sweep"))
    finish(_worker(env))
    db.session.expire_all()
    assert db.session.get(EmailMessage, busy.id).status == "sent"
    assert db.session.get(EmailMessage, gone.id).status == "failed"
    assert smtp_server.counts() == Counter({ok.message_id: 1, after.message_id: 1, busy.message_id: 1})


def test_redis_down_leaves_messages_for_the_sweep(app, smtp_server):
    app.config.update(JOBS_MODE="rq", REDIS_URL="redis://127.0.0.1:1/0", MAIL_URL=smtp_server.url)
    original = app.extensions["portal_jobs"]
    app.extensions["portal_jobs"] = jobs.JobRunner(app)
    try:
        message = _queue(1, "down")[0]  # the commit succeeds although the enqueue fails
    finally:
        app.extensions["portal_jobs"] = original
        app.config.update(JOBS_MODE="sync", REDIS_URL=None)
    assert _statuses() == Counter({"pending": 1}) and smtp_server.messages == []
    from portal import sweep

    try:
        assert sweep.run_all()["mail"] == 1
    finally:
        app.config["MAIL_URL"] = None
    assert _statuses() == Counter({"sent": 1})
    assert smtp_server.counts() == Counter({message.message_id: 1})
