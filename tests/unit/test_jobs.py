import pytest
from rq import Queue, SimpleWorker
from redis import Redis

from portal import jobs
from portal.extensions import db
from portal.journey.models import Touchpoint
from tests.conftest import make_donor

pytestmark = pytest.mark.usefixtures("ctx")
CALLS: list[int] = []


@jobs.job
def remember(value: int) -> int:
    CALLS.append(value)
    jobs.report_progress(1, 2, "halfway")
    return value


@jobs.job
def explode() -> None:
    raise ValueError("boom")


def test_job_runs_only_after_commit_and_not_after_rollback():
    CALLS.clear()
    jobs.enqueue_after_commit("default", remember, 1)
    db.session.rollback()
    assert CALLS == []
    job_id = jobs.enqueue_after_commit("default", remember, 2)
    assert CALLS == []
    db.session.commit()
    assert CALLS == [2]
    progress = jobs.job_progress(job_id)
    assert (progress["status"], progress["done"], progress["total"], progress["message"]) == ("finished", 1, 2, "halfway")


def test_unknown_queue_is_refused():
    with pytest.raises(ValueError):
        jobs.enqueue_after_commit("nope", remember, 1)


def test_failing_job_is_reported_in_sync_mode():
    jobs.enqueue_after_commit("default", explode)
    with pytest.raises(jobs.JobFailed, match="boom"):
        db.session.commit()


@pytest.mark.redis
def test_jobs_go_through_real_redis_to_a_worker(app, redis_url):
    """RQ mode: enqueue after commit onto real Redis, a worker runs it against the same database."""
    CALLS.clear()
    app.config.update(JOBS_MODE="rq", REDIS_URL=redis_url)
    original = app.extensions["portal_jobs"]
    app.extensions["portal_jobs"] = jobs.JobRunner(app)
    try:
        make_donor(email="rq@example.org")  # its touchpoint job goes to the default queue
        job_id = jobs.enqueue_after_commit("default", remember, 7)
        db.session.commit()
        connection = Redis.from_url(redis_url)
        queue = Queue("default", connection=connection)
        assert job_id in queue.job_ids and CALLS == []
        SimpleWorker([queue], connection=connection).work(burst=True)
        assert CALLS == [7]
        assert db.session.query(Touchpoint).filter(Touchpoint.processed_at.is_(None)).count() == 0
    finally:
        app.extensions["portal_jobs"] = original
        app.config.update(JOBS_MODE="sync", REDIS_URL=None)


def test_redis_down_drops_enqueue_but_the_sweep_finds_the_work(app):
    app.config.update(JOBS_MODE="rq", REDIS_URL="redis://127.0.0.1:1/0")
    original = app.extensions["portal_jobs"]
    app.extensions["portal_jobs"] = jobs.JobRunner(app)
    try:
        make_donor(email="down@example.org")  # commit succeeds although the enqueue fails
    finally:
        app.extensions["portal_jobs"] = original
        app.config.update(JOBS_MODE="sync", REDIS_URL=None)
    assert db.session.query(Touchpoint).filter(Touchpoint.processed_at.is_(None)).count() == 1
    from portal import sweep

    assert sweep.run_all()["touchpoints"] == 1
    assert db.session.query(Touchpoint).filter(Touchpoint.processed_at.is_(None)).count() == 0


def test_thread_mode_runs_jobs_in_the_background_and_reports_progress(app):
    import time

    CALLS.clear()
    app.config["JOBS_MODE"] = "thread"
    original = app.extensions["portal_jobs"]
    app.extensions["portal_jobs"] = jobs.JobRunner(app)
    try:
        job_id = jobs.enqueue_after_commit("default", remember, 5)
        db.session.commit()
        deadline = time.monotonic() + 10
        while jobs.job_progress(job_id)["status"] != "finished" and time.monotonic() < deadline:
            time.sleep(0.02)
        assert jobs.job_progress(job_id)["status"] == "finished"
        assert CALLS == [5]
    finally:
        app.extensions["portal_jobs"] = original
        app.config["JOBS_MODE"] = "sync"


def test_thread_mode_logs_a_failed_job_with_its_error(app, caplog):
    import time

    app.config["JOBS_MODE"] = "thread"
    original = app.extensions["portal_jobs"]
    app.extensions["portal_jobs"] = jobs.JobRunner(app)
    try:
        job_id = jobs.enqueue_after_commit("default", explode)
        db.session.commit()
        deadline = time.monotonic() + 10
        while not any("boom" in record.getMessage() for record in caplog.records) and time.monotonic() < deadline:
            time.sleep(0.02)
        failures = [record.getMessage() for record in caplog.records if record.levelname == "ERROR"]
        assert len(failures) == 1 and failures[0].startswith(f"in-process job {job_id} (")
        assert "ValueError: boom" in failures[0]
    finally:
        app.extensions["portal_jobs"] = original
        app.config["JOBS_MODE"] = "sync"


def test_a_periodic_job_already_running_elsewhere_is_skipped_not_run_twice(app):
    """Two runs of the risk rescore at once failed on a duplicate key (each deleted and re-inserted every
    score); web processes each running the in-process scheduler started them together."""
    from portal.retention import tasks
    from portal.retention.models import RiskScore

    make_donor(email="lapsing@example.org")
    db.session.commit()
    with jobs.exclusive("risk_scores") as acquired:  # another process is part-way through it
        assert acquired
        assert tasks.recompute_risk() == jobs.ALREADY_RUNNING
        assert db.session.query(RiskScore).count() == 0
    assert tasks.recompute_risk()["donors"] == 1
    assert db.session.query(RiskScore).count() == 1


def test_a_job_lock_is_held_once_and_released_however_the_job_ends():
    with jobs.exclusive("example") as first:
        with jobs.exclusive("example") as second, jobs.exclusive("another") as other:
            assert (first, second, other) == (True, False, True)
    with pytest.raises(ValueError):
        with jobs.exclusive("example") as again:
            assert again
            raise ValueError("the job failed")
    with jobs.exclusive("example") as after_failure:
        assert after_failure
