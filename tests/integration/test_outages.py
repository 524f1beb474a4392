"""Outages of the services the app depends on: the database restarting or unreachable, Redis stopping and
coming back. Pages answer something useful meanwhile, and everything recovers without a restart."""
from __future__ import annotations

import logging
import signal
import threading
from datetime import timedelta

import psycopg
import pytest
from redis import Redis
from rq import Queue

from portal import create_app, sweep
from portal.config import TestConfig
from portal.extensions import db, limiter
from portal.timeutil import utcnow
from tests.conftest import PASSWORD, CSRFClient, free_port, login, make_donor, make_gift, make_user
from tests.processes import PrivateRedis, flask_environment, kill_with_children, start_flask, wait_until


@pytest.fixture
def amelia(app):
    with app.app_context():
        donor = make_donor(first_name="Amelia", last_name="Clarke", email="amelia@example.org")
        make_user("donor", "amelia@example.org", donor_id=donor.id, name="Amelia")
        make_gift(donor.id, 2500, utcnow() - timedelta(days=20), fund="Lifeboat crews")
    client = app.test_client()
    assert login(client, "amelia@example.org").status_code == 303
    return client


def terminate_every_connection_of_this_database(app) -> int:
    """What a PostgreSQL restart does to the app: every server connection it holds is cut."""
    url = app.config["SQLALCHEMY_DATABASE_URI"].replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as admin:
        return admin.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                             "WHERE datname = current_database() AND pid <> pg_backend_pid()").fetchone()[0]


@pytest.mark.postgres
def test_donor_pages_recover_at_once_after_the_database_cuts_every_connection(app, amelia, monkeypatch):
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)  # a failure is answered as in production
    for path in ("/me", "/me/giving", "/me", "/me/giving"):  # stored pages, read through the account reader
        assert amelia.get(path).status_code == 200
    try:
        assert terminate_every_connection_of_this_database(app) >= 1
        statuses = [amelia.get(path).status_code for path in ("/me", "/me/giving") * 5]
    finally:
        with app.app_context():
            db.engine.dispose()  # the test's own pooled connections were cut too
    assert statuses[0] in (200, 503) and statuses[1:] == [200] * 9, statuses


@pytest.fixture
def unreachable_database_app(app, tmp_path):
    """The app as it is while its PostgreSQL server is down: nothing listens on the configured port."""
    overrides = {"SQLALCHEMY_DATABASE_URI": f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/harbour",
                 "SQLALCHEMY_ENGINE_OPTIONS": {}, "KB_INDEX_DIR": str(tmp_path / "kb-index"),
                 "ORGANISATION_NAME": "Friends of the Lighthouse"}
    down = create_app(type("DatabaseDownConfig", (TestConfig,), overrides))
    down.test_client_class = CSRFClient
    yield down
    limiter.init_app(app)  # the limiter is one object: give the suite's app its own storage back


@pytest.mark.parametrize("method, path", [("GET", "/me"), ("GET", "/staff/"), ("GET", "/login"), ("POST", "/login"),
                                          ("GET", "/help"), ("GET", "/no-such-page")])
def test_every_page_answers_503_with_the_friendly_page_while_the_database_is_unreachable(
        unreachable_database_app, caplog, method, path):
    client = unreachable_database_app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = "1:a-session-key"  # a signed-in visitor, as after the outage began
    with caplog.at_level(logging.ERROR, logger="portal.web"):
        if method == "POST":
            response = client.post(path, data={"email": "a@example.org", "password": PASSWORD})
        else:
            response = client.get(path)
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) > 0  # ours, or the sign-in limiter's own on its routes
    page = response.get_data(as_text=True)
    assert "Friends of the Lighthouse will be back shortly" in page and "<title>Back shortly" in page
    assert [r.getMessage().split(":")[0] for r in caplog.records] == [f"database unavailable, answered 503 for {method} {path}"]


def test_the_503_answer_is_json_for_clients_asking_for_json(unreachable_database_app):
    client = unreachable_database_app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = "1:a-session-key"
    response = client.get("/me", headers={"Accept": "application/json"})
    assert response.status_code == 503 and response.headers["Retry-After"] == "30"
    assert response.get_json() == {"error": "The service is unavailable; try again shortly."}


def test_postgresql_connections_give_up_after_the_connect_timeout(unreachable_database_app):
    options = unreachable_database_app.config["SQLALCHEMY_ENGINE_OPTIONS"]
    assert options["connect_args"]["connect_timeout"] == TestConfig.DB_CONNECT_TIMEOUT_SECONDS == 5


@pytest.fixture
def private_redis(tmp_path):
    server = PrivateRedis(tmp_path)
    try:
        server.start()
    except Exception as exc:  # no redis-server binary, or it could not start
        from tests.conftest import require_service

        require_service("redis-server", False, str(exc))
    yield server
    server.stop()


@pytest.mark.redis
def test_sign_in_works_and_rate_limits_hold_while_the_rate_limit_redis_is_down(app, private_redis, tmp_path):
    overrides = {"RATELIMIT_STORAGE_URI": private_redis.url, "LOGIN_RATE_LIMIT": "3 per minute",
                 "KB_INDEX_DIR": str(tmp_path / "kb-index"), "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"]}
    limited = create_app(type("SharedLimitsConfig", (TestConfig,), overrides))
    limited.test_client_class = CSRFClient
    with limited.app_context():
        make_user("donor", "limits@example.org")
    client = limited.test_client()
    try:
        assert client.post("/password/forgot", data={"email": "limits@example.org"}).status_code == 200  # counted in Redis
        private_redis.stop()
        signed_in = login(limited.test_client(), "limits@example.org").status_code
        resets = [client.post("/password/forgot", data={"email": "limits@example.org"}).status_code for _ in range(4)]
    finally:
        with limited.app_context():
            db.session.remove()
            db.engine.dispose()
        limiter.init_app(app)  # the limiter is one object: give the suite's app its own storage back
    assert signed_in == 303
    assert resets == [200, 200, 200, 429]  # the process's own counters: the limit holds


class Output:
    """A subprocess's output lines, read as they come."""

    def __init__(self, process):
        self.lines: list[str] = []
        self.thread = threading.Thread(target=self._read, args=(process,), daemon=True)
        self.thread.start()

    def _read(self, process) -> None:
        for line in process.stdout:
            self.lines.append(line.decode(errors="replace"))

    def wait_for_exit(self, process, timeout: float = 30) -> str:
        """The process's exit code, once it has exited and all its output has been read."""
        try:
            process.wait(timeout=timeout)
        except Exception:
            kill_with_children(process.pid)
            raise
        finally:
            self.thread.join(timeout=10)
            process.stdout.close()
        return "".join(self.lines)[-3000:]

    def count(self, text: str) -> int:
        return sum(text in line for line in self.lines)


def _finished(job) -> bool:
    try:
        return job.get_status(refresh=True) == "finished"
    except Exception:  # the job's hash is gone with the restarted Redis, or Redis is down
        return False


@pytest.mark.redis
def test_a_worker_waits_through_a_redis_outage_and_resumes_by_itself(app, private_redis, tmp_path):
    env = flask_environment(app, private_redis.url, tmp_path)
    worker = start_flask(env, "worker", "--queues", "default", "--no-scheduler")
    output = Output(worker)
    try:
        before = Queue("default", connection=Redis.from_url(private_redis.url)).enqueue(sweep.sweep_due_work)
        wait_until(lambda: _finished(before), 90, "the job queued before the outage")

        private_redis.stop()
        wait_until(lambda: output.count("Redis unavailable") == 1, 60, "the worker to notice the outage")
        assert worker.poll() is None, "".join(output.lines)[-3000:]

        private_redis.start()
        after = Queue("default", connection=Redis.from_url(private_redis.url)).enqueue(sweep.sweep_due_work)
        wait_until(lambda: _finished(after), 90, "the job queued after the outage")
        assert output.count("Redis is back; resuming") == 1
        assert output.count("Redis unavailable") == 1, "".join(output.lines)[-3000:]
        assert len(Queue("default", connection=Redis.from_url(private_redis.url)).connection.smembers("rq:workers")) == 1
    finally:
        worker.send_signal(signal.SIGTERM)
    printed = output.wait_for_exit(worker)
    assert worker.returncode == 0, printed


@pytest.mark.redis
def test_the_scheduler_started_during_a_redis_outage_waits_and_starts_by_itself(app, private_redis, tmp_path):
    private_redis.stop()
    scheduler = start_flask(flask_environment(app, private_redis.url, tmp_path), "scheduler")
    output = Output(scheduler)
    try:
        wait_until(lambda: output.count("Redis unavailable") == 1, 60, "the scheduler to notice the outage")
        assert scheduler.poll() is None, "".join(output.lines)[-3000:]
        private_redis.start()
        connection = Redis.from_url(private_redis.url)
        wait_until(lambda: connection.keys("rq:cron_scheduler:*"), 90, "the scheduler to register")
        assert output.count("Redis is back; resuming") == 1
        assert output.count("Redis unavailable") == 1, "".join(output.lines)[-3000:]
    finally:
        scheduler.send_signal(signal.SIGTERM)
    printed = output.wait_for_exit(scheduler)
    assert scheduler.returncode == 0, printed
