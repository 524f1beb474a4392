"""What operations need to know: whether this node can serve (readiness), and the state of the job
queues, workers, failed jobs and periodic jobs, read from RQ's own registries."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime

from flask import current_app
from redis.exceptions import RedisError
from rq import Worker
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.registry import FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry
from sqlalchemy import text

from portal import jobs, schedule
from portal.extensions import db
from portal.kb import services as kb


@dataclass
class Check:
    name: str
    ok: bool
    latency_ms: float
    detail: str = ""


def _timed(name: str, probe) -> Check:
    started = time.perf_counter()
    try:
        detail = probe()
    except Exception as error:  # any failure means "not ready"; the detail says which
        return Check(name, False, round((time.perf_counter() - started) * 1000, 2),
                     f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"[:300])
    return Check(name, True, round((time.perf_counter() - started) * 1000, 2), detail or "")


def readiness() -> list[Check]:
    """Database, Redis (when this node uses it) and the search index, each with its latency."""
    def database() -> str:
        db.session.execute(text("SELECT 1"))
        db.session.rollback()
        return ""

    checks = [_timed("database", database)]
    if current_app.config["JOBS_MODE"] == "rq":
        checks.append(_timed("redis", lambda: "" if jobs.runner().connection.ping() else "no answer"))
    checks.append(_timed("search_index", lambda: f"{kb.index_readable()} articles"))
    return checks


@dataclass
class QueueState:
    name: str
    queued: int
    running: int
    scheduled: int
    failed: int


@dataclass
class WorkerState:
    name: str
    state: str
    queues: list[str]
    last_heartbeat: datetime | None
    current_job: str | None


@dataclass
class FailedJob:
    id: str
    queue: str
    function: str
    ended_at: datetime | None
    error: str

    @property
    def error_summary(self) -> str:
        lines = [line for line in self.error.strip().splitlines() if line.strip()]
        return lines[-1] if lines else "No error recorded"


@dataclass
class Overview:
    queues: list[QueueState] = field(default_factory=list)
    workers: list[WorkerState] = field(default_factory=list)
    failed: list[FailedJob] = field(default_factory=list)
    periodic: list[schedule.PeriodicRun] = field(default_factory=list)
    error: str = ""


def _naive(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=None) if value is not None else None


def overview(failed_limit: int = 50) -> Overview:
    runner = jobs.runner()
    result = Overview()
    try:
        for name in jobs.QUEUES:
            queue = runner.queue(name)
            result.queues.append(QueueState(name, queue.count, StartedJobRegistry(queue=queue).count,
                                            ScheduledJobRegistry(queue=queue).count, FailedJobRegistry(queue=queue).count))
            failed = FailedJobRegistry(queue=queue)
            for job in Job.fetch_many(failed.get_job_ids(0, failed_limit - 1), connection=runner.connection):
                if job is not None:
                    outcome = job.latest_result()
                    result.failed.append(FailedJob(job.id, name, job.func_name, _naive(job.ended_at),
                                                   (outcome.exc_string if outcome else "") or ""))
        for worker in Worker.all(connection=runner.connection):
            result.workers.append(WorkerState(worker.name, str(getattr(worker.get_state(), "value", worker.get_state())),
                                              worker.queue_names(), _naive(worker.last_heartbeat),
                                              worker.get_current_job_id()))
        result.periodic = schedule.runs(current_app, runner.connection)
    except RedisError as error:
        result.error = f"Redis is not answering ({error}); the queues cannot be read just now."
    result.failed.sort(key=lambda job: job.ended_at or datetime.min, reverse=True)
    result.workers.sort(key=lambda worker: worker.name)
    return result


def _failed_job(job_id: str) -> tuple[FailedJobRegistry, Job] | None:
    runner = jobs.runner()
    try:
        job = Job.fetch(job_id, connection=runner.connection)
    except NoSuchJobError:
        return None
    registry = FailedJobRegistry(queue=runner.queue(job.origin))
    return (registry, job) if job.id in registry.get_job_ids() else None


def retry_failed(job_id: str) -> bool:
    """Put a failed job back on its queue; False if there is no such failed job (any more)."""
    found = _failed_job(job_id)
    if found is None:
        return False
    registry, job = found
    registry.requeue(job)
    return True


def delete_failed(job_id: str) -> bool:
    found = _failed_job(job_id)
    if found is None:
        return False
    registry, job = found
    registry.remove(job, delete_job=True)
    return True
