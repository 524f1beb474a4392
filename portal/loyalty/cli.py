"""`flask loyalty ...`: launching the programme and its periodic work, for system cron or by hand."""
from __future__ import annotations

import click
from flask.cli import AppGroup

from portal.loyalty.services import (add_starter_rewards, award_anniversary_bonuses, award_birthday_bonuses,
                                     backfill_gift_points, expire_inactive_points, recompute_all_tiers)

loyalty_cli = AppGroup("loyalty", help="The loyalty programme's periodic work.")


@loyalty_cli.command("launch")
@click.option("--since", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Only gifts received on or after this date earn points.")
def launch_command(since) -> None:
    """Start the programme: default rules and tiers, a starter rewards catalogue, and points for past
    received gifts (safe to rerun: nothing is awarded or added twice)."""
    click.echo(f"{backfill_gift_points(since=since):,} past gifts earned points; {add_starter_rewards()} starter rewards added")


@loyalty_cli.command("tiers")
def tiers_command() -> None:
    """Recompute every member's tier over the rolling window (nightly)."""
    click.echo(f"{recompute_all_tiers():,} tiers changed")


@loyalty_cli.command("bonuses")
def bonuses_command() -> None:
    """Today's birthday and first-gift anniversary bonuses (daily; each is awarded once a year)."""
    click.echo(f"{award_birthday_bonuses():,} birthday bonuses, {award_anniversary_bonuses():,} anniversary bonuses")


@loyalty_cli.command("expire")
def expire_command() -> None:
    """Expire the points of members inactive for longer than the expiry policy (daily; off by default)."""
    click.echo(f"{expire_inactive_points():,} balances expired")
