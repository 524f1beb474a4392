"""`flask engagement ...`: seeding the shipped templates, segments and workflows."""
from __future__ import annotations

import click
from flask.cli import AppGroup

from portal import jobs
from portal.engagement import defaults
from portal.engagement.workflows import services as workflows

engagement_cli = AppGroup("engagement", help="Segments, email templates and workflows.")


@engagement_cli.command("seed")
@click.option("--demo", is_flag=True, help="Switch the shipped workflows on and start them once for the demo data.")
def seed_command(demo: bool) -> None:
    """Add the shipped email templates, ready-made segments and workflows that are missing."""
    counts = defaults.seed(enable_workflows=demo)
    click.echo(", ".join(f"{count} {name} added" for name, count in counts.items()))
    if demo:
        with jobs.inline():
            entered = workflows.enter_scheduled_workflows()
        click.echo(f"{entered:,} donors entered scheduled workflows" if isinstance(entered, int) else f"Scheduled workflows: {entered}")
