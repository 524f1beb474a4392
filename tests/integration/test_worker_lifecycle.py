"""A worker's life on real Redis: it stops promptly, and each work-horse starts with database
connections of its own, limited in how long they wait for a lock."""
from __future__ import annotations

import threading
import time
from datetime import timezone

import pytest
from redis import Redis
from rq import Queue
from sqlalchemy import create_engine, text

from portal import jobs, sweep
from portal.extensions import db
from tests.processes import finish, flask_environment, start_flask

pytestmark = pytest.mark.usefixtures("ctx")


@pytest.mark.redis
def test_worker_stops_within_seconds_when_its_command_thread_already_saw_the_unsubscribe(redis_url):
    """The shutdown that used to hang for a minute: the command thread reads the UNSUBSCRIBE reply before
    the main thread asks it to stop, and then waits for a subscription that will never come."""
    connection = Redis.from_url(redis_url)
    worker = jobs.PortalWorker([Queue("default", connection=connection)], connection=connection)
    worker.subscribe()
    worker.pubsub.unsubscribe()
    deadline = time.monotonic() + 10
    while worker.pubsub.subscribed and time.monotonic() < deadline:  # the command thread handles the reply
        time.sleep(0.01)
    assert not worker.pubsub.subscribed

    stopping = threading.Thread(target=worker.unsubscribe, daemon=True)
    stopping.start()
    stopping.join(timeout=5)
    assert not stopping.is_alive(), "the worker's shutdown is still waiting for its command thread"
    assert not worker.pubsub_thread.is_alive()


@pytest.mark.redis
def test_burst_worker_exits_within_seconds_of_its_last_job(app, redis_url, tmp_path):
    queue = Queue("default", connection=Redis.from_url(redis_url))
    queued = queue.enqueue(sweep.sweep_due_work)
    process = start_flask(flask_environment(app, redis_url, tmp_path), "worker", "--queues", "default", "--burst",
                          "--no-scheduler")
    finish(process, timeout=90)
    exited_at = time.time()
    queued.refresh()
    assert queued.is_finished
    ended_at = queued.ended_at.replace(tzinfo=timezone.utc).timestamp()
    # Seconds, not the minute a shutdown could take; the margin is for a machine busy with other work.
    assert exited_at - ended_at < 10, f"the worker took {exited_at - ended_at:.1f} s to exit after its last job"


def test_a_work_horse_forgets_the_inherited_pool_without_closing_its_connections(app):
    inherited = db.engine.raw_connection()
    driver_connection = inherited.driver_connection
    inherited.close()  # back into the pool the work-horse inherits from the worker
    pool_before = db.engine.pool

    jobs.prepare_work_horse()

    assert db.engine.pool is not pool_before
    fresh = db.engine.raw_connection()
    try:
        assert fresh.driver_connection is not driver_connection
    finally:
        fresh.close()
    assert driver_connection.execute(text("SELECT 1").text).fetchone()[0] == 1  # still the worker's, still open
    assert jobs._inherited_pools[-1] is pool_before  # kept referenced: never finalised by the horse
    jobs._inherited_pools.pop().dispose()


@pytest.mark.postgres
def test_job_sessions_on_postgresql_give_up_waiting_for_a_lock(app):
    engine = create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    try:
        jobs.configure_job_engine(engine, 2.5)
        with engine.connect() as connection:
            assert connection.scalar(text("SHOW lock_timeout")) == "2500ms"
    finally:
        engine.dispose()


@pytest.mark.redis
def test_a_worker_on_every_queue_takes_mail_before_a_backlog_of_background_jobs(app, redis_url, tmp_path):
    from portal.engagement.delivery import outbox

    connection = Redis.from_url(redis_url)
    backlog = [Queue("default", connection=connection).enqueue(sweep.sweep_due_work) for _ in range(3)]
    mail = Queue("mail", connection=connection).enqueue(outbox.deliver_messages, [])  # queued last
    finish(start_flask(flask_environment(app, redis_url, tmp_path), "worker", "--burst", "--no-scheduler"), timeout=120)
    for job in (*backlog, mail):
        job.refresh()
    assert mail.is_finished and all(job.is_finished for job in backlog)
    assert mail.ended_at <= min(job.started_at for job in backlog)
