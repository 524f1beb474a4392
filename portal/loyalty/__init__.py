"""The loyalty programme: points rules, ledger, tiers, rewards and redemptions.

Owns loyalty_rules, loyalty_tiers, loyalty_accounts, points_entries, loyalty_rewards, loyalty_redemptions.
Offers segment fields, template tokens and an 'award points' workflow step through engagement.
"""
import click
from flask import Flask
from flask.cli import AppGroup

loyalty_cli = AppGroup("loyalty", help="The loyalty programme's periodic work.")


@loyalty_cli.command("launch")
@click.option("--since", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Only gifts received on or after this date earn points.")
def launch_command(since) -> None:
    """Start the programme: default rules and tiers, a starter rewards catalogue, and points for past
    received gifts (safe to rerun: nothing is awarded or added twice)."""
    from portal.loyalty.services import add_starter_rewards, backfill_gift_points

    click.echo(f"{backfill_gift_points(since=since):,} past gifts earned points; {add_starter_rewards()} starter rewards added")


@loyalty_cli.command("tiers")
def tiers_command() -> None:
    """Recompute every member's tier over the rolling window (nightly)."""
    from portal.loyalty.services import recompute_all_tiers

    click.echo(f"{recompute_all_tiers():,} tiers changed")


@loyalty_cli.command("bonuses")
def bonuses_command() -> None:
    """Today's birthday and first-gift anniversary bonuses (daily; each is awarded once a year)."""
    from portal.loyalty.services import award_anniversary_bonuses, award_birthday_bonuses

    click.echo(f"{award_birthday_bonuses():,} birthday bonuses, {award_anniversary_bonuses():,} anniversary bonuses")


@loyalty_cli.command("expire")
def expire_command() -> None:
    """Expire the points of members inactive for longer than the expiry policy (daily; off by default)."""
    from portal.loyalty.services import expire_inactive_points

    click.echo(f"{expire_inactive_points():,} balances expired")


def init_app(app: Flask) -> None:
    from portal.loyalty import donor_records
    from portal import schedule, web
    from portal.journey import reactors
    from portal.loyalty import services, tasks
    from portal.loyalty.views import bp, donor_ledger_panel

    app.register_blueprint(bp)
    app.cli.add_command(loyalty_cli)
    reactors.register("loyalty", services.on_touchpoint, kinds=["gift_received", "gift_refunded"])
    schedule.register("loyalty-tiers", tasks.recompute_tiers_job, "30 2 * * *", description="Recompute loyalty tiers")
    schedule.register("loyalty-birthdays", tasks.birthday_bonuses_job, "0 7 * * *", description="Birthday bonus points")
    schedule.register("loyalty-anniversaries", tasks.anniversary_bonuses_job, "5 7 * * *", description="Giving anniversary bonus points")
    schedule.register("loyalty-expiry", tasks.expire_points_job, "0 3 * * *", description="Expire points after inactivity")
    web.add_staff_nav(app, "loyalty.index", "Loyalty", ("fundraiser", "support"))
    web.add_panel(app, "staff_donor_main", donor_ledger_panel)
    _connect_to_engagement()
    donor_records.register()


def _connect_to_engagement() -> None:
    """Segments can select on points and tier, templates can say them, workflows can award points."""
    from portal.engagement import services as engagement
    from portal.loyalty import services

    engagement.register_field("loyalty_points", "Loyalty points balance", "number", services.balance_expression,
                             group="Loyalty")
    engagement.register_field("loyalty_tier", "Loyalty tier", "choice", services.tier_expression, group="Loyalty",
                             choices=lambda: [(tier.name, tier.name) for tier in services.tiers()])
    engagement.register_token_provider("loyalty", services.template_tokens)
    engagement.register_step("award_points", "Award loyalty points", services.award_points_step,
                             options=[engagement.StepOption("points", "Points", "number")],
                             describe=lambda config: f"Award {config.get('points')} points")
