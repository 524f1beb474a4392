"""`flask insights ...`: the periodic work, for system cron or by hand."""
from __future__ import annotations

import time

import click
from flask.cli import AppGroup

from portal.extensions import db
from portal.insights import milestones, services

insights_cli = AppGroup("insights", help="Insight reports.")


@insights_cli.command("milestones")
@click.option("--all", "everything", is_flag=True, help="Recompute every donor, not only those whose history changed.")
def milestones_command(everything: bool) -> None:
    """Bring donors' journey milestones up to date (after a bulk load, or nightly)."""
    started = time.perf_counter()
    count = milestones.rebuild_all() if everything else milestones.refresh()
    click.echo(f"{count:,} donors' milestones rebuilt in {time.perf_counter() - started:.1f}s")


@insights_cli.command("headline")
def headline_command() -> None:
    """Compute today's headline numbers for the back-office home."""
    snapshot = services.request(services.REPORTS["headline"], services.headline_params(), force=True)
    # Without a worker the job would run in a thread of this short-lived process: run it here instead
    # (a second run of the same snapshot's job changes nothing).
    services.run_snapshot(snapshot.id)
    db.session.refresh(snapshot)
    click.echo(f"headline: {snapshot.status}, computed in {snapshot.duration_ms} ms")
