"""Background jobs on RQ.

Three modes, chosen by config JOBS_MODE:
- "rq": real Redis queues, run by `flask worker` (or `rq worker`) processes.
- "thread": no Redis; one background thread in the web process runs the same jobs against an in-memory
  fakeredis, so job status and progress (job.meta) read the same way.
- "sync": like "thread" but the caller waits for the job (tests).

A job is a function in a domain's tasks.py, passed itself or, from that domain's services (which tasks.py
imports), by its dotted path ("portal.loyalty.tasks.recompute_tiers_job"), as RQ stores it anyway.

Jobs are enqueued only after the transaction that needs them commits. If Redis is down the enqueue is
logged and dropped: every job's work is also findable from the database, and `flask jobs sweep` picks it up.
"""
from __future__ import annotations

import contextlib
import fcntl
import functools
import logging
import queue as stdlib_queue
import threading
import time
import uuid
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

from flask import Flask, current_app, has_app_context
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from rq import Queue, Worker
from rq.job import Job, get_current_job
from rq.worker.base import StopRequested
from sqlalchemy import Engine, event, text
from sqlalchemy.orm import Session

from portal.extensions import db

log = logging.getLogger(__name__)

# In priority order: a worker listening on several queues always takes mail first, so a backlog of
# background work (touchpoint processing, suggestions, reports) never holds up delivery.
QUEUES = ("mail", "default", "index", "reports")
# How long the worker's command thread waits on Redis before it looks at its stop flag again.
COMMAND_POLL_SECONDS = 1.0
_worker_app: Flask | None = None
_app_factory: Callable[[], Flask] | None = None


def set_app_factory(factory: Callable[[], Flask]) -> None:
    """How a worker process builds the app its jobs run in (portal.create_app, set when the package loads)."""
    global _app_factory
    _app_factory = factory


class JobFailed(RuntimeError):
    """Raised in "sync" mode (tests) so a failing job is not silently recorded and forgotten."""


@dataclass
class PendingJob:
    queue: str
    func: Callable | str  # the function, or its dotted path
    args: tuple
    kwargs: dict
    job_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    @property
    def name(self) -> str:
        return self.func if isinstance(self.func, str) else self.func.__name__


def job(func: Callable) -> Callable:
    """Mark a task function: it runs inside an application context wherever it is executed."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        global _worker_app
        if has_app_context():
            return _call(wrapper, func, args, kwargs)
        if _worker_app is None:  # an RQ worker process: one app for all its jobs
            _worker_app = _app_factory()
            with _worker_app.app_context():
                configure_job_engine(db.engine, _worker_app.config["JOB_LOCK_TIMEOUT_SECONDS"])
        with _worker_app.app_context():
            try:
                return _call(wrapper, func, args, kwargs)
            finally:
                db.session.remove()

    return wrapper


# What a periodic job returns when the same job is already running elsewhere.
ALREADY_RUNNING = "already running in another process: this run had nothing to add"


def runs_alone(job_function: Callable, name: str) -> None:
    """Let only one run of this job at a time anywhere (periodic jobs: web processes each running the
    in-process scheduler, a cron run overlapping a slow one). A second run would race the first's
    delete-and-insert and fail on a duplicate key; it is skipped instead, since the first covers it."""
    job_function.runs_alone_as = name


def _call(wrapper: Callable, func: Callable, args: tuple, kwargs: dict) -> Any:
    name = getattr(wrapper, "runs_alone_as", None)
    if name is None:
        return func(*args, **kwargs)
    with exclusive(name) as acquired:
        if not acquired:
            log.info("job %s skipped: %s", name, ALREADY_RUNNING)
            return ALREADY_RUNNING
        return func(*args, **kwargs)


@contextlib.contextmanager
def exclusive(name: str) -> Iterator[bool]:
    """Try to hold the lock called `name` across processes; yields whether it was acquired. PostgreSQL: an
    advisory lock on a connection of its own, so the job's commits do not release it. SQLite (one machine):
    a file lock beside the database."""
    if db.engine.dialect.name == "postgresql":
        key = zlib.crc32(f"portal-job:{name}".encode())
        with db.engine.connect() as connection:
            acquired = connection.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": key})
            try:
                yield bool(acquired)
            finally:
                if acquired:
                    connection.scalar(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
        return
    database = db.engine.url.database
    folder = Path(database).parent if database and database != ":memory:" else Path(current_app.instance_path)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f".job-{name}.lock", "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def configure_job_engine(engine: Engine, lock_timeout_seconds: float) -> None:
    """Every new PostgreSQL connection of a job process waits at most `lock_timeout_seconds` for a row or
    table lock: a job stuck behind someone else's open transaction fails (and is retried by the sweep)
    instead of holding its worker indefinitely."""
    if engine.dialect.name != "postgresql":
        return

    @event.listens_for(engine, "connect")
    def _set_lock_timeout(dbapi_connection, _record) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(f"SET lock_timeout = {int(lock_timeout_seconds * 1000)}")
        cursor.close()
        dbapi_connection.commit()


class PortalWorker(Worker):
    """RQ's forking worker, with a bounded shutdown and a clean database pool in each work-horse.

    On shutdown RQ (2.2 and later) sends UNSUBSCRIBE and then calls the command thread's `stop()`, and the
    thread waits for messages with no timeout (RQ 2.2, 2.3) or `sleep_time=60` (2.4 to 3.0). Since
    redis-py 8.2 `stop()` joins the thread with no bound (8.1 and earlier only cleared its flag); when the
    thread has already read the UNSUBSCRIBE reply it waits that long for a new subscription, so a
    shutdown could hang for a minute (or for good). Polling every COMMAND_POLL_SECONDS bounds the wait
    with any redis-py version, at the cost of one idle wake-up a second."""

    stop_signalled = False

    def subscribe(self) -> None:
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        self.pubsub_thread = self.pubsub.run_in_thread(
            sleep_time=COMMAND_POLL_SECONDS, daemon=True, exception_handler=self._pubsub_exception_handler
        )

    def main_work_horse(self, job: Job, queue: Queue) -> None:
        prepare_work_horse()
        super().main_work_horse(job, queue)

    def request_stop(self, signum, frame) -> None:
        self.stop_signalled = True  # so that keep_running knows this exit was asked for
        super().request_stop(signum, frame)

    def heartbeat(self, timeout: int | None = None, pipeline=None) -> None:
        """RQ calls this before each dequeue and after each job: while Redis is down the worker waits here,
        logging the outage once, instead of logging every retry or quitting. After a Redis restart
        without persistence it registers itself again, so it is listed among the workers."""
        if pipeline is not None or self.is_horse:
            return super().heartbeat(timeout, pipeline)
        try:
            return super().heartbeat(timeout)
        except RedisError:
            wait_for_redis(self.connection, f"worker {self.name}", should_stop=lambda: self.stop_signalled)
        if not self.connection.exists(self.key):
            self.register_birth()
        return super().heartbeat(timeout)

    def _pubsub_exception_handler(self, exc, pubsub, pubsub_thread) -> None:
        if isinstance(exc, RedisConnectionError):
            time.sleep(2.0)  # redis-py resubscribes once Redis answers; the main loop logs the outage
            return
        super()._pubsub_exception_handler(exc, pubsub, pubsub_thread)


REDIS_RETRY_FIRST_SECONDS = 1.0
REDIS_RETRY_MAX_SECONDS = 30.0


def wait_for_redis(connection: Redis, what: str, should_stop: Callable[[], bool] = lambda: False) -> None:
    """Return once Redis answers, trying again after 1 s, 2 s, 4 s ... up to 30 s between tries. An outage
    is logged once when it is noticed and once when it ends, not on every try. Raises StopRequested when
    `should_stop()` says the process was asked to stop meanwhile."""
    delay = REDIS_RETRY_FIRST_SECONDS
    noticed = False
    while True:
        if should_stop():
            raise StopRequested()
        try:
            connection.ping()
        except RedisError as error:
            if not noticed:
                log.warning("%s: Redis unavailable (%s); retrying with backoff up to %g s", what, error,
                            REDIS_RETRY_MAX_SECONDS)
                noticed = True
            time.sleep(delay)
            delay = min(delay * 2, REDIS_RETRY_MAX_SECONDS)
            continue
        if noticed:
            log.warning("%s: Redis is back; resuming", what)
        return


def keep_running(what: str, connection: Redis, run: Callable[[], bool]) -> None:
    """Run a worker's or the scheduler's main loop, `run()`, which returns True when it finished as asked
    (a burst done, a stop signal). When it ends any other way (Redis went away under it and RQ gave up,
    or the loop quit on an error) wait for Redis and run it again, so the process never has to be
    restarted by hand after an outage."""
    while True:
        try:
            if run():
                return
        except (StopRequested, KeyboardInterrupt):
            return
        except RedisError as error:
            log.debug("%s stopped on a Redis error: %s", what, error)
        try:
            wait_for_redis(connection, what)
            time.sleep(REDIS_RETRY_FIRST_SECONDS)  # a loop that keeps failing with Redis up must not spin
        except (StopRequested, KeyboardInterrupt):
            return


# Pools a work-horse inherited: kept referenced until the horse's os._exit, because a driver connection that
# is garbage-collected says goodbye to the server on the socket it shares with the parent worker.
_inherited_pools: list = []


def prepare_work_horse() -> None:
    """In a freshly forked work-horse: set aside the pooled connections inherited from the worker without
    closing them (they are the parent's sockets), so the job opens its own."""
    if has_app_context():
        for engine in db.engines.values():
            _inherited_pools.append(engine.pool)
            engine.dispose(close=False)


class JobRunner:
    def __init__(self, app: Flask):
        self.app = app
        self.mode = app.config["JOBS_MODE"]
        if self.mode == "rq":
            self.connection = Redis.from_url(app.config["REDIS_URL"])
        else:
            # Only in-process mode needs it, and it costs about half a second of every command's start-up.
            import fakeredis

            self.connection = fakeredis.FakeRedis(server=fakeredis.FakeServer())
            self._inbox: stdlib_queue.Queue[PendingJob] = stdlib_queue.Queue()
            self._thread: threading.Thread | None = None
            self._lock = threading.Lock()

    def queue(self, name: str) -> Queue:
        return Queue(name, connection=self.connection, is_async=self.mode == "rq")

    def submit(self, pending: PendingJob) -> None:
        if self.mode == "rq":
            try:
                self.queue(pending.queue).enqueue(
                    pending.func, *pending.args, job_id=pending.job_id, **pending.kwargs
                )
            except RedisError:
                log.warning("Redis unavailable; job %s (%s) left for the sweep", pending.job_id, pending.name)
            return
        if self.mode == "sync":
            # A fresh thread gives the job its own app context and database session, as a worker would.
            outcome: list[Job] = []
            worker = threading.Thread(target=lambda: outcome.append(self._run_one(pending)))
            worker.start()
            worker.join()
            if outcome and outcome[0] is not None and outcome[0].is_failed:
                raise JobFailed(f"{pending.name} failed:\n{outcome[0].latest_result().exc_string}")
            return
        self._inbox.put(pending)
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._drain, name="portal-jobs", daemon=True)
                self._thread.start()

    def _drain(self) -> None:
        while True:
            try:
                pending = self._inbox.get(timeout=30)
            except stdlib_queue.Empty:
                return
            self._run_one(pending)

    def _run_one(self, pending: PendingJob) -> Job | None:
        try:
            # The job runs in this app's context with its own session, which the context's teardown closes.
            with self.app.app_context():
                job = self.queue(pending.queue).enqueue(pending.func, *pending.args, job_id=pending.job_id, **pending.kwargs)
        except Exception:  # a failed in-process job must not kill the runner
            log.exception("in-process job %s failed", pending.job_id)
            return None
        if job.is_failed:
            result = job.latest_result()
            log.error("in-process job %s (%s) failed:\n%s", pending.job_id, pending.name,
                      result.exc_string if result is not None else "no error was recorded")
        return job

    def schedule(self, when: datetime, pending: PendingJob) -> None:
        """Run `pending` at `when` (naive UTC). With Redis, RQ's scheduler (in `flask worker`) enqueues it
        then; in the web process a timer submits it; "sync" (tests) only records it in the queue's
        ScheduledJobRegistry. If this is lost (Redis down, process restarted) the sweep still finds the work."""
        at = when.replace(tzinfo=timezone.utc)
        if self.mode == "thread":
            delay = max(0.0, (at - datetime.now(timezone.utc)).total_seconds())
            timer = threading.Timer(delay, self.submit, args=(pending,))
            timer.daemon = True
            timer.start()
            return
        try:
            self.queue(pending.queue).enqueue_at(at, pending.func, *pending.args, job_id=pending.job_id, **pending.kwargs)
        except RedisError:
            log.warning("Redis unavailable; job %s (%s) due %s left for the sweep", pending.job_id,
                        pending.func.__name__, when)

    def fetch(self, job_id: str) -> Job | None:
        try:
            return Job.fetch(job_id, connection=self.connection)
        except Exception:  # unknown id, expired, or Redis down: the caller shows "waiting"
            return None


def runner() -> JobRunner:
    return current_app.extensions["portal_jobs"]


def enqueue_after_commit(queue: str, func: Callable | str, *args: Any, **kwargs: Any) -> str:
    """Queue func(*args) to run once the current transaction commits; returns the job id."""
    if queue not in QUEUES:
        raise ValueError(f"unknown queue {queue!r}")
    pending = PendingJob(queue, func, args, kwargs)
    db.session.connection()  # begin the transaction now, so a rollback before any SQL still discards the job
    db.session.info.setdefault("pending_jobs", []).append(pending)
    return pending.job_id


def enqueue_now(queue: str, func: Callable | str, *args: Any, **kwargs: Any) -> str:
    pending = PendingJob(queue, func, args, kwargs)
    runner().submit(pending)
    return pending.job_id


def enqueue_at(when: datetime, queue: str, func: Callable, *args: Any, **kwargs: Any) -> str:
    """Run func(*args) at `when` (naive UTC), e.g. a retry at its due time rather than at the next sweep."""
    if queue not in QUEUES:
        raise ValueError(f"unknown queue {queue!r}")
    pending = PendingJob(queue, func, args, kwargs)
    runner().schedule(when, pending)
    return pending.job_id


def report_progress(done: int, total: int, message: str = "") -> None:
    current = get_current_job()
    if current is None:
        return
    current.meta.update({"done": done, "total": total, "message": message})
    current.save_meta()


def job_progress(job_id: str | None) -> dict:
    """What a progress bar needs: status, done, total, percent, message."""
    found = runner().fetch(job_id) if job_id else None
    if found is None:
        return {"status": "queued", "done": 0, "total": 0, "percent": 0, "message": ""}
    meta = found.get_meta(refresh=True) if hasattr(found, "get_meta") else found.meta
    done, total = int(meta.get("done", 0)), int(meta.get("total", 0))
    status = found.get_status(refresh=False)
    return {
        "status": getattr(status, "value", str(status)),
        "done": done,
        "total": total,
        "percent": int(100 * done / total) if total else (100 if str(getattr(status, "value", status)) == "finished" else 0),
        "message": meta.get("message", ""),
    }


@event.listens_for(Session, "after_commit")
def _dispatch_after_commit(session: Session) -> None:
    pending = session.info.pop("pending_jobs", [])
    if not pending:
        return
    jobs_runner = current_app.extensions["portal_jobs"]
    for item in pending:
        jobs_runner.submit(item)


@event.listens_for(Session, "after_rollback")
def _discard_after_rollback(session: Session) -> None:
    session.info.pop("pending_jobs", None)


class HeldJobs:
    """For a job that commits many small transactions (one per email sent, one per workflow step):
    the jobs those commits would enqueue are held, and each distinct one is submitted once when the
    block ends, instead of once per commit. Use `held.commit()` in place of `db.session.commit()`.
    If the process dies first nothing is lost: the held jobs only re-process what the database
    already marks as due, and the sweep finds that too."""

    def __init__(self) -> None:
        self._held: dict[tuple, PendingJob] = {}

    def __enter__(self) -> "HeldJobs":
        return self

    def commit(self) -> None:
        for pending in db.session.info.pop("pending_jobs", []):
            key = (pending.queue, pending.func, repr(pending.args), repr(sorted(pending.kwargs.items())))
            self._held.setdefault(key, pending)
        db.session.commit()

    def __exit__(self, *exc_info) -> None:
        held, self._held = list(self._held.values()), {}
        jobs_runner = runner()
        for pending in held:
            jobs_runner.submit(pending)


@contextlib.contextmanager
def inline() -> Iterator[None]:
    """For a CLI command without Redis: run jobs to completion in this process, because the in-process
    thread would die with the command. With Redis, jobs still go to the workers."""
    app = current_app._get_current_object()
    previous = app.extensions["portal_jobs"]
    if previous.mode != "thread":
        yield
        return
    app.config["JOBS_MODE"] = "sync"
    app.extensions["portal_jobs"] = JobRunner(app)
    try:
        yield
    finally:
        app.config["JOBS_MODE"] = "thread"
        app.extensions["portal_jobs"] = previous


def init_app(app: Flask) -> None:
    app.extensions["portal_jobs"] = JobRunner(app)
