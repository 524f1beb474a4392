"""`flask retention ...`: the periodic work, for system cron or by hand."""
from __future__ import annotations

import time

import click
from flask.cli import AppGroup

from portal.retention.services import raise_ticket_alerts, recompute_all, run_check_ins

retention_cli = AppGroup("retention", help="Risk scores, alerts and check-ins.")


@retention_cli.command("recompute")
def recompute_command() -> None:
    """Rescore every donor (set-based) and alert those who crossed the threshold."""
    started = time.perf_counter()
    result = recompute_all()
    click.echo(f"{result.donors:,} donors scored, {result.changed:,} changed, {result.alerts:,} new alerts "
               f"({time.perf_counter() - started:.1f}s)")


@retention_cli.command("check-tickets")
def check_tickets_command() -> None:
    """Raise an alert (once) for every ticket past its service level."""
    raised = raise_ticket_alerts()
    click.echo(f"{raised} new ticket alert{'' if raised == 1 else 's'}")


@retention_cli.command("check-ins")
def check_ins_command() -> None:
    """Create the renewal, anniversary and major-donor check-ins that have come due (idempotent)."""
    click.echo(", ".join(f"{reason}: {count}" for reason, count in run_check_ins().items()))
