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
import functools
import logging
import queue as stdlib_queue
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from flask import Flask, current_app, has_app_context
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue
from rq.job import Job, get_current_job
from sqlalchemy import event
from sqlalchemy.orm import Session

from portal.extensions import db

log = logging.getLogger(__name__)

QUEUES = ("default", "mail", "index", "reports")
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
            return func(*args, **kwargs)
        if _worker_app is None:  # an RQ worker process: one app for all its jobs
            _worker_app = _app_factory()
        with _worker_app.app_context():
            try:
                return func(*args, **kwargs)
            finally:
                db.session.remove()

    return wrapper


class JobRunner:
    def __init__(self, app: Flask):
        self.app = app
        self.mode = app.config["JOBS_MODE"]
        if self.mode == "rq":
            self.connection = Redis.from_url(app.config["REDIS_URL"])
        else:
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
            log.error("in-process job %s (%s) failed", pending.job_id, pending.name)
        return job

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
