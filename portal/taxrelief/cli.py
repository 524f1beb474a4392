"""`flask gift-aid ...`: choose the scheme, and give the demo charity some declarations."""
from __future__ import annotations

import click
from flask.cli import AppGroup

from portal.taxrelief.claims import refresh_month_figures
from portal.taxrelief.services import seed_demo_declarations, update_settings

gift_aid_cli = AppGroup("gift-aid", help="Gift Aid and other tax relief schemes.")


@gift_aid_cli.command("scheme")
@click.argument("scheme_key", type=click.Choice(["none", "uk_gift_aid", "us_irs"]))
def scheme_command(scheme_key: str) -> None:
    """Set the organisation's tax relief scheme."""
    update_settings(scheme_key=scheme_key)
    click.echo(f"Tax relief scheme: {scheme_key}")


@gift_aid_cli.command("demo")
@click.option("--share", default=60, show_default=True, help="Percent of individual donors given a paper declaration.")
def demo_command(share: int) -> None:
    """Switch UK Gift Aid on and record paper declarations for a share of the demo donors (once)."""
    click.echo(f"{seed_demo_declarations(share):,} demo declarations added")


@gift_aid_cli.command("figures")
def figures_command() -> None:
    """Recompute Gift Aid claimed and eligible-but-unclaimed by month (nightly)."""
    click.echo(f"{refresh_month_figures()} months computed")
