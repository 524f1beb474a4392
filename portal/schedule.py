"""Periodic work. Domains register jobs here; `flask scheduler` runs them on RQ's cron, and each one
is also a `flask` command so system cron can drive them instead."""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Callable

from croniter import croniter
from flask import Flask
from rq import Queue
from rq.cron import CronScheduler

from portal import jobs, sweep
from portal.timeutil import utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Periodic:
    name: str
    func: Callable  # an @jobs.job function taking no arguments
    cron: str  # crontab expression, UTC
    queue: str = "default"
    description: str = ""
    at_start: bool = False  # pages show its results: run it when workers start, not first at its cron time


_PERIODIC: dict[str, Periodic] = {}
START_UP_LOCK_SECONDS = 600


def register(name: str, func: Callable, cron: str, *, queue: str = "default", description: str = "",
             at_start: bool = False) -> None:
    _PERIODIC[name] = Periodic(name, func, cron, queue, description, at_start)
    jobs.runs_alone(func, name)


def registered() -> list[Periodic]:
    return sorted(_PERIODIC.values(), key=lambda p: p.name)


def at_start() -> list[Periodic]:
    """Jobs whose results pages show (risk scores and alerts, headline numbers): a fresh installation
    computes them at once instead of showing empty pages until their nightly time."""
    return [periodic for periodic in registered() if periodic.at_start]


def enqueue_at_start(connection) -> list[str]:
    """Queue the at-start jobs on Redis when a worker starts. Workers starting together queue them once:
    the first one takes a short-lived lock (the jobs are idempotent, so a second run would only cost time)."""
    if not connection.set("portal:start-up-jobs", utcnow().isoformat(), nx=True, ex=START_UP_LOCK_SECONDS):
        return []
    for periodic in at_start():
        Queue(periodic.queue, connection=connection).enqueue(periodic.func)
    return [periodic.name for periodic in at_start()]


def cron_scheduler(connection) -> CronScheduler:
    """RQ's own cron with every registered job: it only enqueues; workers run the jobs."""
    scheduler = CronScheduler(connection=connection)
    for periodic in registered():
        scheduler.register(periodic.func, queue_name=periodic.queue, cron=periodic.cron, name=periodic.name)
    return scheduler


def due_between(periodic: Periodic, after: datetime, until: datetime) -> bool:
    """Whether the cron expression fires in (after, until]; both naive UTC."""
    return croniter(periodic.cron, after).get_next(datetime) <= until


class InProcessScheduler:
    """Without Redis (JOBS_MODE "thread"), a daemon thread of the web process enqueues each registered
    job when its cron time comes; the in-process job runner then runs it. It is the same list of jobs
    `flask scheduler` hands to RQ's cron. Several web processes may each run one: a periodic job runs
    one at a time anywhere (`jobs.runs_alone`), and is idempotent, so a later run finds nothing left to do."""

    def __init__(self, app: Flask):
        self.app = app
        self.thread: threading.Thread | None = None
        self.lock = threading.Lock()
        self.last_run: dict[str, datetime] = {}  # name -> when this process last enqueued it

    def start(self) -> None:
        with self.lock:
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._loop, name="portal-scheduler", daemon=True)
                self.thread.start()

    def tick(self, after: datetime, until: datetime) -> list[str]:
        fired = []
        with self.app.app_context():
            for periodic in registered():
                if due_between(periodic, after, until):
                    jobs.enqueue_now(periodic.queue, periodic.func)
                    fired.append(periodic.name)
                    self.last_run[periodic.name] = until
        return fired

    def run_at_start(self) -> list[str]:
        with self.app.app_context():
            for periodic in at_start():
                jobs.enqueue_now(periodic.queue, periodic.func)
        return [periodic.name for periodic in at_start()]

    def _loop(self) -> None:
        last = utcnow()
        try:
            self.run_at_start()
        except Exception:
            log.exception("in-process start-up jobs failed")
        while True:
            time.sleep(max(1.0, 60 - utcnow().second))
            now = utcnow()
            try:
                self.tick(last, now)
            except Exception:  # a failing tick must not stop the next one
                log.exception("in-process scheduler tick failed")
            last = now


@dataclass(frozen=True)
class PeriodicRun:
    periodic: Periodic
    last_run: datetime | None
    next_run: datetime


def runs(app: Flask, connection) -> list[PeriodicRun]:
    """Each registered job with its last and next run: from RQ's cron scheduler's own record when one is
    running (`flask scheduler`), else from the web process's in-process scheduler."""
    last: dict[str, datetime] = {}
    upcoming: dict[str, datetime] = {}
    if app.config["JOBS_MODE"] == "rq":
        for scheduler in CronScheduler.all(connection):
            for cron_job in scheduler.get_jobs():
                if cron_job.latest_enqueue_time:
                    stamp = cron_job.latest_enqueue_time.replace(tzinfo=None)
                    last[cron_job.name] = max(stamp, last.get(cron_job.name, stamp))
                if cron_job.next_enqueue_time:
                    upcoming[cron_job.name] = cron_job.next_enqueue_time.replace(tzinfo=None)
    elif "portal_scheduler" in app.extensions:
        last = dict(app.extensions["portal_scheduler"].last_run)
    now = utcnow()
    return [PeriodicRun(p, last.get(p.name), upcoming.get(p.name) or croniter(p.cron, now).get_next(datetime))
            for p in registered()]


def run_in_process(app: Flask) -> None:
    """Start the in-process scheduler with the first request, so CLI commands never start one."""
    scheduler = InProcessScheduler(app)
    app.extensions["portal_scheduler"] = scheduler
    app.before_request(scheduler.start)


def init_app(app: Flask) -> None:
    register("sweep", sweep.sweep_due_work, "*/10 * * * *",
             description="Re-enqueue work the database says is due but no queue holds.")
    if app.config["JOBS_MODE"] == "thread":
        run_in_process(app)
