"""Connects tax relief to the rest of the app through the existing registries (no other domain imports it).

Loaded only by the package's init_app, when the app is built, so it imports the pages, jobs and commands at the top."""
from __future__ import annotations

from flask import Flask

from portal import schedule, web
from portal.engagement import services as engagement
from portal.journey import reactors
from portal.journey.services import KINDS, Kind
from portal.support.services import register_source
from portal.taxrelief import claims, import_columns, services, tasks, views
from portal.taxrelief.cli import gift_aid_cli

INVITE_TEMPLATE = {
    "key": "gift_aid_invite", "name": "Gift Aid invitation", "category": "marketing",
    "description": "Asks a UK donor without a Gift Aid declaration to make one, in a minute, online.",
    "subject": "Make your gifts worth 25% more, {{ first_name }}",
    "html_body": """<p>Dear {{ first_name }},</p>
<p>Thank you for your gift to {{ organisation_name }}.</p>
<p>If you pay UK income tax, Gift Aid lets us claim 25p from HMRC for every £1 you give, at no cost to you. It takes a minute to say yes, and you can cancel at any time.</p>
<p><a href="{{ portal_url }}gift-aid">Make a Gift Aid declaration</a></p>
<p>With thanks,<br>Everyone at {{ organisation_name }}</p>""",
    "text_body": """Dear {{ first_name }},

Thank you for your gift to {{ organisation_name }}.

If you pay UK income tax, Gift Aid lets us claim 25p from HMRC for every £1 you give, at no cost to you. It takes a minute to say yes, and you can cancel at any time:
{{ portal_url }}gift-aid

With thanks,
Everyone at {{ organisation_name }}""",
}
UNDECLARED_SEGMENT = (
    "gift_aid_undeclared", "No Gift Aid declaration", "Individuals who can be emailed and have no Gift Aid declaration.",
    {"match": "all", "conditions": [{"field": "kind", "op": "eq", "value": "individual"},
                                    {"field": "gift_aid_declared", "op": "false"},
                                    {"field": "marketing_ok", "op": "true"}]},
)
INVITE_WORKFLOW = (
    "gift_aid_invite", "Gift Aid invitation",
    "Three days after a gift from a donor without a declaration: an invitation to make one (marketing consent "
    "needed; once a year at most). Switch it on with Gift Aid.",
    "gift_received", None, "gift_aid_undeclared", 365, False,
    [(3, "send_email", {"template": "gift_aid_invite"})],
)


def init_app(app: Flask) -> None:
    KINDS.setdefault("gift_aid_declared", Kind("Gift Aid declaration made", "giving", "£"))
    KINDS.setdefault("gift_aid_cancelled", Kind("Gift Aid declaration cancelled", "giving", "£"))
    reactors.register("gift-aid-benefits", services.on_redemption, kinds=["points_redeemed"])
    reactors.register("gift-aid-refunds", claims.on_refund, kinds=["gift_refunded"])
    app.register_blueprint(views.staff_bp)
    app.register_blueprint(views.me_bp)
    app.cli.add_command(gift_aid_cli)
    web.add_staff_nav(app, "giftaid.index", "Gift Aid", ("fundraiser",))
    web.add_panel(app, "staff_donor_main", views.donor_panel)
    web.add_panel(app, "me_home", views.me_home_panel)
    web.add_panel(app, "me_give", views.me_give_panel)
    web.add_panel(app, "me_receipt", views.receipt_panel)
    web.add_panel(app, "me_statement", views.receipt_panel)
    web.add_panel(app, "insights_index", views.insights_panel)
    web.add_home_tiles(app, views.home_tiles)
    register_source("gift-aid-confirmation", "Gift Aid declaration", views.describe_declaration)
    register_source("gift-aid-benefits", "Gift Aid benefits", views.describe_benefits)
    schedule.register("gift-aid-figures", tasks.refresh_figures_job, "40 3 * * *", queue="reports",
                      description="Gift Aid claimed and eligible-but-unclaimed by month")
    _connect_to_engagement()
    import_columns.register()


def _connect_to_engagement() -> None:
    """Segments can select on declarations and unclaimed gifts; a shipped workflow invites donors to declare."""
    engagement.register_field("gift_aid_declared", "Has a Gift Aid declaration", "boolean",
                            services.has_declaration_expression, group="Gift Aid",
                            help="A declaration in force for future gifts")
    engagement.register_field("gift_aid_unclaimed", "Has eligible gifts unclaimed", "boolean",
                            services.unclaimed_eligible_expression, group="Gift Aid",
                            help="A declaration in force and gifts of the last 4 years on no claim")
    engagement.declare_token("gift_aid_declared", "Has a Gift Aid declaration (yes/no)", example="yes", fallback="no")
    engagement.register_token_provider("gift_aid", services.template_tokens)
    engagement.ship(template=INVITE_TEMPLATE, workflow=INVITE_WORKFLOW, segment=UNDECLARED_SEGMENT)
