"""`flask feedback ...`: the periodic survey work, for system cron or by hand."""
from __future__ import annotations

import click
from flask.cli import AppGroup

from portal.feedback.services import run_due

feedback_cli = AppGroup("feedback", help="Surveys.")


@feedback_cli.command("send-surveys")
def send_surveys_command() -> None:
    """Send delayed invitations, invite after lapsed plans, and run periodic surveys (idempotent)."""
    counts = run_due()
    click.echo(", ".join(f"{name.replace('_', ' ')}: {count}" for name, count in counts.items()))
