"""`flask` commands: database set-up, demo data, workers and the periodic jobs cron can drive."""
from __future__ import annotations

import os
import time

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue

from portal import jobs, schedule, sweep
from portal.auth.services import create_user
from portal.extensions import db
from portal.giving.services import mark_lapsed_plans, rebuild_all_stats

jobs_cli = AppGroup("jobs", help="Background work.")
giving_cli = AppGroup("giving", help="Gifts and rollups.")


@click.command("demo-data")
@click.option("--donors", default=600, show_default=True, help="How many donors to create.")
@click.option("--seed", default=7, show_default=True)
@click.option("--bench", is_flag=True, help="Bulk mode for the benchmark data set (no logins, fewer extras).")
def demo_data_command(donors: int, seed: int, bench: bool) -> None:
    """Load realistic demo donors, gifts, plans and touchpoints (idempotent: refuses a non-empty database)."""
    # Start-up cost: demo data needs Faker, which every other `flask` command would otherwise load.
    from portal import demo

    if bench:
        counts = demo.generate_bulk(donors, seed=seed, echo=click.echo)
    else:
        counts = demo.load_demo(donors=donors, seed=seed)
    click.echo(", ".join(f"{v:,} {k}" for k, v in counts.items()))


@click.command("create-user")
@click.option("--email", required=True)
@click.option("--role", type=click.Choice(["admin", "fundraiser", "support"]), default="admin")
@click.option("--name", default="")
@click.password_option()
def create_user_command(email: str, role: str, name: str, password: str) -> None:
    """Create a staff user."""
    create_user(email, password, role, name=name)
    click.echo(f"Created {role} {email}")


@click.command("worker")
@click.option("--queues", default="mail,default,index,reports", show_default=True,
              help="Queues in priority order: each job is taken from the first queue that has one.")
@click.option("--with-scheduler/--no-scheduler", default=True, show_default=True)
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
def worker_command(queues: str, with_scheduler: bool, burst: bool) -> None:
    """Run an RQ worker for this app (needs REDIS_URL)."""
    if not current_app.config.get("REDIS_URL"):
        raise click.UsageError("Set REDIS_URL to run a worker; without it jobs run inside the web process.")
    jobs.configure_job_engine(db.engine, current_app.config["JOB_LOCK_TIMEOUT_SECONDS"])
    connection = Redis.from_url(current_app.config["REDIS_URL"])

    def work() -> bool:
        started = schedule.enqueue_at_start(connection)  # once per deployment: the first worker to start
        if started:
            click.echo(f"Queued the start-up jobs: {', '.join(started)}")
        worker = jobs.PortalWorker([Queue(name, connection=connection) for name in queues.split(",")],
                                   connection=connection)
        try:
            worker.work(with_scheduler=with_scheduler, burst=burst)
        except RedisError:
            if worker.stop_signalled:  # stopping during an outage: its death cannot be recorded, nothing else
                return True
            raise
        return worker.stop_signalled or (burst and _redis_answers(connection))

    jobs.keep_running("worker", connection, work)


def _redis_answers(connection) -> bool:
    try:
        return bool(connection.ping())
    except RedisError:
        return False


@jobs_cli.command("sweep")
def sweep_command() -> None:
    """Re-enqueue work the database says is due but no queue holds."""
    for name, count in sweep.run_all().items():
        click.echo(f"{name}: {count}")


@jobs_cli.command("periodic")
def periodic_command() -> None:
    """List the periodic jobs `flask scheduler` runs (each can be run by hand with `flask jobs run NAME`)."""
    for periodic in schedule.registered():
        click.echo(f"{periodic.name:32} {periodic.cron:16} {periodic.queue:8} {periodic.description}")


@jobs_cli.command("run")
@click.argument("name")
def run_periodic_command(name: str) -> None:
    """Run one periodic job now, in this process (what system cron calls instead of `flask scheduler`)."""
    found = {periodic.name: periodic for periodic in schedule.registered()}
    if name not in found:
        raise click.UsageError(f"No periodic job called {name!r}. Known: {', '.join(sorted(found))}")
    with jobs.inline():
        result = found[name].func()
    click.echo(f"{name}: {result}")


@jobs_cli.command("warm-up")
def warm_up_command() -> None:
    """Run the jobs whose results pages show (risk scores, alerts, headline numbers) now, in this process:
    what a new installation or freshly loaded demo data needs before anyone opens the back office."""
    for periodic in schedule.at_start():
        with jobs.inline():
            result = periodic.func()
        click.echo(f"{periodic.name}: {result}")


@click.command("scheduler")
def scheduler_command() -> None:
    """Run RQ's cron scheduler over every periodic job (needs REDIS_URL; workers do the work)."""
    if not current_app.config.get("REDIS_URL"):
        raise click.UsageError("Set REDIS_URL to run the scheduler; without it the web process runs periodic jobs itself.")
    # RQ reads cron expressions in the process's local time; ours are written in UTC.
    os.environ["TZ"] = "UTC"
    time.tzset()
    connection = Redis.from_url(current_app.config["REDIS_URL"])

    def run() -> bool:
        schedule.cron_scheduler(connection).start()
        return True  # start() returns only when asked to stop; a Redis error raises

    jobs.keep_running("scheduler", connection, run)


@giving_cli.command("rebuild-stats")
def rebuild_stats_command() -> None:
    """Recompute every donor's giving rollup (nightly: moves the 12-month windows)."""
    lapsed = mark_lapsed_plans()
    click.echo(f"{lapsed} plans marked lapsed; {rebuild_all_stats():,} rollups rebuilt")


def init_app(app: Flask) -> None:
    for command in (demo_data_command, create_user_command, worker_command, scheduler_command):
        app.cli.add_command(command)
    app.cli.add_command(jobs_cli)
    app.cli.add_command(giving_cli)
