"""Segment fields: what a condition can look at, with its operators, from a registry other domains add to.

    register_field(key, label, value_type, expression_factory, group=..., choices=...)

`expression_factory()` returns a SQL expression evaluated per donor in a query whose FROM is
`donors LEFT OUTER JOIN donor_stats`: it may use Donor and DonorStats columns directly, and
anything else as a correlated scalar subquery on `Donor.id`. For value_type "set" it returns
instead a SELECT of (donor_id, value) rows, and the operators test membership.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Callable

from sqlalchemy import and_, case, exists, false, func, select

from portal.donors.models import CHANNELS, DONOR_KINDS, Donor, Tag, donor_interests, donor_tags
from portal.engagement.models import EmailMessage
from portal.extensions import db
from portal.giving.models import PLAN_KINDS, DonorStats, Gift, RecurringPlan
from portal.journey.models import Touchpoint
from portal.timeutil import utcnow

# ---------------------------------------------------------------- value types and their operators

OPERATORS: dict[str, dict[str, str]] = {
    "number": {"gte": "is at least", "lte": "is at most", "eq": "is", "ne": "is not", "gt": "is more than", "lt": "is less than"},
    "money": {"gte": "is at least", "lte": "is at most", "eq": "is", "gt": "is more than", "lt": "is less than"},
    "date": {"within_last": "in the last … days", "before_last": "more than … days ago", "within_next": "in the next … days",
             "before": "before", "on_or_after": "on or after", "empty": "is empty", "present": "is set"},
    "text": {"eq": "is", "ne": "is not", "contains": "contains", "starts": "starts with", "empty": "is empty", "present": "is set"},
    "choice": {"eq": "is", "ne": "is not"},
    "boolean": {"true": "yes", "false": "no"},
    "set": {"has": "includes", "lacks": "does not include"},
}
NO_VALUE = {"empty", "present", "true", "false"}
DAYS_OPERATORS = {"within_last", "before_last", "within_next"}


@dataclass(frozen=True)
class SegmentField:
    key: str
    label: str
    value_type: str
    expression_factory: Callable[[], Any]
    group: str = "Other"
    choices: Callable[[], list[tuple[str, str]]] | None = None
    help: str = ""

    @property
    def operators(self) -> dict[str, str]:
        return OPERATORS[self.value_type]


FIELDS: dict[str, SegmentField] = {}


def register_field(key: str, label: str, value_type: str, expression_factory: Callable[[], Any], *, group: str = "Other",
                   choices: Callable[[], list[tuple[str, str]]] | None = None, help: str = "") -> None:
    """Add a field to the rule builder. See the module docstring for what expression_factory returns."""
    if value_type not in OPERATORS:
        raise ValueError(f"unknown value type {value_type!r}; use one of {', '.join(OPERATORS)}")
    if value_type in ("choice", "set") and choices is None:
        raise ValueError(f"a {value_type} field needs choices")
    FIELDS[key] = SegmentField(key, label, value_type, expression_factory, group, choices, help)


def fields_by_group() -> dict[str, list[SegmentField]]:
    groups: dict[str, list[SegmentField]] = {}
    for item in FIELDS.values():
        groups.setdefault(item.group, []).append(item)
    return groups


# ---------------------------------------------------------------- the built-in fields

def _stat(column):
    return lambda: func.coalesce(column, 0)


def _tag_choices(table) -> Callable[[], list[tuple[str, str]]]:
    def choices() -> list[tuple[str, str]]:
        used = select(table.c.tag_id).distinct()
        return [(name, name) for name in db.session.scalars(select(Tag.name).where(Tag.id.in_(used)).order_by(Tag.name))]
    return choices


def _tag_set(table):
    return lambda: select(table.c.donor_id, Tag.name).join(Tag, Tag.id == table.c.tag_id)


def can_receive_marketing():
    return and_(Donor.email.is_not(None), Donor.marketing_opt_in.is_(True), Donor.unsubscribed_at.is_(None))


def _years_given(years: int):
    """How many of the last `years` 365-day periods had a received gift (0..years)."""
    def expression():
        now = utcnow()
        windows = []
        for k in range(years):
            start, end = now - timedelta(days=365 * (k + 1)), now - timedelta(days=365 * k)
            gave = exists().where(Gift.donor_id == Donor.id, Gift.status == "received",
                                  Gift.received_at >= start, Gift.received_at < end)
            windows.append(case((gave, 1), else_=0))
        return sum(windows[1:], windows[0])
    return expression


def _next_renewal():
    return (select(func.min(RecurringPlan.renews_on))
            .where(RecurringPlan.donor_id == Donor.id, RecurringPlan.status == "active",
                   RecurringPlan.kind.in_(("sponsorship", "membership")))
            .scalar_subquery())


# Emails we send and staff notes are not the donor doing anything.
PASSIVE_KINDS = ("email_sent", "note", "tier_changed")


def last_activity_expression():
    return (select(func.max(Touchpoint.occurred_at))
            .where(Touchpoint.donor_id == Donor.id, Touchpoint.kind.not_in(PASSIVE_KINDS))
            .scalar_subquery())


def _last_opened():
    return select(func.max(EmailMessage.opened_at)).where(EmailMessage.donor_id == Donor.id).scalar_subquery()


def _active_plan_kinds():
    return select(RecurringPlan.donor_id, RecurringPlan.kind).where(RecurringPlan.status == "active")


for _key, _label, _type, _factory, _group, _choices, _help in (
    ("kind", "Donor type", "choice", lambda: Donor.kind, "Donor", lambda: list(DONOR_KINDS.items()), ""),
    ("city", "Town or city", "text", lambda: Donor.city, "Donor", None, ""),
    ("region", "County or region", "text", lambda: Donor.region, "Donor", None, ""),
    ("postcode", "Postcode", "text", lambda: Donor.postcode, "Donor", None, "“starts with” finds a postcode area, e.g. YO21"),
    ("country", "Country", "text", lambda: Donor.country, "Donor", None, ""),
    ("source", "Source", "text", lambda: Donor.source, "Donor", None, ""),
    ("preferred_channel", "Preferred channel", "choice", lambda: Donor.preferred_channel, "Donor", lambda: list(CHANNELS.items()), ""),
    ("created_at", "Became a supporter", "date", lambda: func.coalesce(Donor.supporter_since, Donor.created_at), "Donor",
     None, ""),
    ("birthday", "Birthday", "date", lambda: Donor.birthday, "Donor", None, ""),
    ("has_email", "Has an email address", "boolean", lambda: Donor.email.is_not(None), "Consent", None, ""),
    ("marketing_ok", "Can receive marketing email", "boolean", can_receive_marketing, "Consent", None,
     "Opted in, not unsubscribed, with an email address"),
    ("unsubscribed", "Unsubscribed", "boolean", lambda: Donor.unsubscribed_at.is_not(None), "Consent", None, ""),
    ("tags", "Tags", "set", _tag_set(donor_tags), "Tags and interests", _tag_choices(donor_tags), ""),
    ("interests", "Interests", "set", _tag_set(donor_interests), "Tags and interests", _tag_choices(donor_interests), ""),
    ("lifetime", "Lifetime giving", "money", _stat(DonorStats.lifetime_minor), "Giving", None, ""),
    ("gift_count", "Number of gifts", "number", _stat(DonorStats.gift_count), "Giving", None, ""),
    ("first_gift", "First gift", "date", lambda: DonorStats.first_gift_at, "Giving", None, ""),
    ("last_gift", "Last gift", "date", lambda: DonorStats.last_gift_at, "Giving", None, ""),
    ("last_12m", "Given in the last 12 months", "money", _stat(DonorStats.last_12m_minor), "Giving", None, ""),
    ("prev_12m", "Given in the 12 months before", "money", _stat(DonorStats.prev_12m_minor), "Giving", None,
     "Compare with the last 12 months to find lapsing donors"),
    ("average_gift", "Average gift", "money", _stat(DonorStats.average_minor), "Giving", None, ""),
    ("largest_gift", "Largest gift", "money", _stat(DonorStats.largest_minor), "Giving", None, ""),
    ("years_given", "Years with a gift, of the last 3", "number", _years_given(3), "Giving", None,
     "3 means they gave in each of the last three years"),
    ("has_active_plan", "Has an active recurring gift or sponsorship", "boolean",
     lambda: func.coalesce(DonorStats.has_active_plan, false()), "Regular giving", None, ""),
    ("active_plan_kinds", "Active regular giving", "set", _active_plan_kinds, "Regular giving",
     lambda: list(PLAN_KINDS.items()), ""),
    ("next_renewal", "Next sponsorship or membership renewal", "date", _next_renewal, "Regular giving", None, ""),
    ("last_activity", "Last activity (any touchpoint)", "date", last_activity_expression, "Engagement", None,
     "Gifts, replies, visits, logins, email opens and clicks; not the emails we send"),
    ("last_email_opened", "Last opened one of our emails", "date", _last_opened, "Engagement", None,
     "Only known when open tracking is switched on"),
):
    register_field(_key, _label, _type, _factory, group=_group, choices=_choices, help=_help)
