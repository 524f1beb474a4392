"""Health endpoints for load balancers and the administrators' queues and jobs page, on real Redis."""
from __future__ import annotations

import pytest
from redis import Redis
from rq import Queue, SimpleWorker
from rq.registry import FailedJobRegistry

from portal import jobs, sweep
from portal.kb import services as kb
from tests.conftest import free_port


@jobs.job
def fail_on_purpose() -> None:
    raise ValueError("the printer is on fire")


def test_healthz_answers_without_touching_anything(app, client, monkeypatch):
    monkeypatch.setattr("portal.ops.services.readiness", lambda: pytest.fail("healthz must not check anything"))
    response = client.get("/healthz")
    assert (response.status_code, response.get_json()) == (200, {"status": "ok"})


@pytest.fixture
def index_built(app):
    with app.app_context():
        kb.sync_directory(kb.default_content_dir(), queue_index=False)
        kb.reindex_everything()


def test_readyz_reports_each_check_with_its_latency(app, client, index_built):
    response = client.get("/readyz")
    body = response.get_json()
    assert response.status_code == 200 and body["status"] == "ready"
    assert set(body["checks"]) == {"database", "search_index"}  # no Redis configured in this mode
    assert all(check["ok"] and check["latency_ms"] >= 0 for check in body["checks"].values())
    assert body["checks"]["search_index"]["detail"].endswith(" articles")


def test_readyz_is_503_when_redis_is_configured_and_down(app, client, index_built, monkeypatch):
    monkeypatch.setitem(app.config, "JOBS_MODE", "rq")
    monkeypatch.setitem(app.config, "REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    monkeypatch.setitem(app.extensions, "portal_jobs", jobs.JobRunner(app))
    response = client.get("/readyz")
    body = response.get_json()
    assert response.status_code == 503 and body["status"] == "unavailable"
    assert body["checks"]["redis"]["ok"] is False and "ConnectionError" in body["checks"]["redis"]["detail"]
    assert body["checks"]["database"]["ok"] is True


def test_readyz_is_503_when_the_index_is_missing(app, client, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "KB_INDEX_DIR", str(tmp_path / "nowhere"))
    body = client.get("/readyz").get_json()
    assert body["checks"]["search_index"] == {"ok": False, "latency_ms": body["checks"]["search_index"]["latency_ms"],
                                              "detail": f"IndexUnavailable: no index in {tmp_path / 'nowhere'}"}


@pytest.fixture
def on_redis(app, redis_url, monkeypatch):
    monkeypatch.setitem(app.config, "JOBS_MODE", "rq")
    monkeypatch.setitem(app.config, "REDIS_URL", redis_url)
    monkeypatch.setitem(app.extensions, "portal_jobs", jobs.JobRunner(app))
    return Redis.from_url(redis_url)


def test_only_administrators_see_the_queues_page(staff_client):
    assert staff_client("fundraiser").get("/staff/admin/jobs").status_code == 403
    assert staff_client("support").get("/staff/admin/jobs").status_code == 403


@pytest.mark.redis
def test_queues_page_shows_depths_workers_failed_jobs_and_schedules(app, staff_client, on_redis):
    admin = staff_client("admin")
    for _ in range(3):
        Queue("default", connection=on_redis).enqueue(sweep.sweep_due_work)
    failing = Queue("reports", connection=on_redis).enqueue(fail_on_purpose)
    SimpleWorker([Queue("reports", connection=on_redis)], connection=on_redis).work(burst=True)

    page = admin.get("/staff/admin/jobs").get_data(as_text=True)
    assert "Default queue</div>\n    <div class=\"value\">3</div>" in page
    assert "ValueError: the printer is on fire" in page and failing.id in page
    assert "sweep" in page and "*/10 * * * *" in page

    assert admin.post(f"/staff/admin/jobs/failed/{failing.id}/retry").status_code == 303
    assert failing.id in Queue("reports", connection=on_redis).job_ids
    assert FailedJobRegistry(queue=Queue("reports", connection=on_redis)).count == 0

    SimpleWorker([Queue("reports", connection=on_redis)], connection=on_redis).work(burst=True)
    assert admin.post(f"/staff/admin/jobs/failed/{failing.id}/delete").status_code == 303
    assert FailedJobRegistry(queue=Queue("reports", connection=on_redis)).count == 0
    assert "No failed jobs" in admin.get("/staff/admin/jobs").get_data(as_text=True)


@pytest.mark.redis
def test_retrying_needs_the_csrf_token(app, staff_client, on_redis):
    failing = Queue("reports", connection=on_redis).enqueue(fail_on_purpose)
    SimpleWorker([Queue("reports", connection=on_redis)], connection=on_redis).work(burst=True)
    assert staff_client("admin").post(f"/staff/admin/jobs/failed/{failing.id}/retry", csrf=False).status_code == 400
    assert FailedJobRegistry(queue=Queue("reports", connection=on_redis)).count == 1


@pytest.mark.redis
def test_a_running_worker_is_listed_from_rqs_registry(app, staff_client, on_redis):
    worker = jobs.PortalWorker([Queue(name, connection=on_redis) for name in jobs.QUEUES], connection=on_redis)
    worker.register_birth()
    try:
        page = staff_client("admin").get("/staff/admin/jobs").get_data(as_text=True)
    finally:
        worker.register_death()
    assert worker.name in page and "mail, default, index, reports" in page and "1 alive" in page
