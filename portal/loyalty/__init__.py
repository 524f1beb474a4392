"""The loyalty programme: points rules, ledger, tiers, rewards and redemptions.

Owns loyalty_rules, loyalty_tiers, loyalty_accounts, points_entries, loyalty_rewards, loyalty_redemptions.
Offers segment fields, template tokens and an 'award points' workflow step through engagement.
"""
from flask import Flask

from portal import schedule, web


def init_app(app: Flask) -> None:
    # Here, not at the top: importing the package for its models must not load its pages, services and jobs.
    from portal.engagement import services as engagement
    from portal.journey import reactors
    from portal.loyalty import donor_records, services, tasks
    from portal.loyalty.cli import loyalty_cli
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
    _connect_to_engagement(engagement, services)
    donor_records.register()


def _connect_to_engagement(engagement, services) -> None:
    """Segments can select on points and tier, templates can say them, workflows can award points."""
    engagement.register_field("loyalty_points", "Loyalty points balance", "number", services.balance_expression,
                             group="Loyalty")
    engagement.register_field("loyalty_tier", "Loyalty tier", "choice", services.tier_expression, group="Loyalty",
                             choices=lambda: [(tier.name, tier.name) for tier in services.tiers()])
    engagement.register_token_provider("loyalty", services.template_tokens)
    engagement.register_step("award_points", "Award loyalty points", services.award_points_step,
                             options=[engagement.StepOption("points", "Points", "number")],
                             describe=lambda config: f"Award {config.get('points')} points")
