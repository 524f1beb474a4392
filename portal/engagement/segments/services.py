"""Segments: a tree of conditions over donor fields and rollups, compiled to ONE SQL query.

Rules are JSON: {"match": "all" | "any", "conditions": [condition | group]} where a condition is
{"field": key, "op": operator, "value": ...} and a group is a nested {"match", "conditions"} (one
level deep, which is as far as people reason about AND/OR without getting lost).

Fields come from a registry so other domains can add theirs:

    register_field(key, label, value_type, expression_factory, group=..., choices=...)

`expression_factory()` returns a SQL expression evaluated per donor in a query whose FROM is
`donors LEFT OUTER JOIN donor_stats`: it may use Donor and DonorStats columns directly, and
anything else as a correlated scalar subquery on `Donor.id`. For value_type "set" it returns
instead a SELECT of (donor_id, value) rows, and the operators test membership.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Callable, Iterator

from sqlalchemy import Date, DateTime, Select, and_, case, exists, false, func, not_, or_, select, true
from sqlalchemy.sql.elements import ColumnElement

from portal import csvfile
from portal.donors.models import CHANNELS, DONOR_KINDS, Donor, Tag, donor_interests, donor_tags
from portal.engagement.models import EmailMessage, Segment
from portal.extensions import db
from portal.giving.models import PLAN_KINDS, DonorStats, Gift, RecurringPlan
from portal.journey.models import Touchpoint
from portal.money import MoneyError, format_money, parse_amount
from portal.timeutil import local_midnight, utcnow

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
MAX_CONDITIONS = 40


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


def _can_receive_marketing():
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
    ("marketing_ok", "Can receive marketing email", "boolean", _can_receive_marketing, "Consent", None,
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


# ---------------------------------------------------------------- validation

class RuleError(ValueError):
    """Problems keyed by the condition's path ("0", "2.1") or "" for the whole rule."""

    def __init__(self, errors: dict[str, str]):
        super().__init__(next(iter(errors.values())) if errors else "Invalid rule.")
        self.errors = errors


@dataclass
class Condition:
    field: str = ""
    op: str = ""
    value: Any = None


@dataclass
class Group:
    match: str = "all"
    conditions: list[Condition | Group] = field(default_factory=list)


# A number in a condition is compared in SQL: one beyond 64 bits cannot be sent, and none this large means anything.
NUMBER_LIMIT = 10**12


def _within_limit(number: int) -> int:
    if abs(number) > NUMBER_LIMIT:
        raise ValueError(f"Enter a number no larger than {NUMBER_LIMIT:,}.")
    return number


def _parse_value(item: SegmentField, op: str, raw: Any) -> Any:
    """The stored form of a value, or ValueError with a message for the person typing it.
    Typed values arrive as strings; stored rules hold numbers (money in minor units) and are kept."""
    if op in NO_VALUE:
        return None
    if isinstance(raw, int) and not isinstance(raw, bool) and item.value_type in ("number", "money"):
        return _within_limit(raw)
    text = "" if raw is None else str(raw).strip()
    if not text:
        raise ValueError("Enter a value.")
    if item.value_type == "date":
        if op in DAYS_OPERATORS:
            if not text.isdigit() or not 0 <= int(text) <= 36500:
                raise ValueError("Enter a number of days, such as 30.")
            return int(text)
        try:
            return date.fromisoformat(text).isoformat()
        except ValueError:
            raise ValueError("Enter a date as YYYY-MM-DD, such as 2026-01-31.") from None
    if item.value_type == "number":
        try:
            number = int(text.replace(",", ""))
        except ValueError:
            raise ValueError("Enter a whole number, such as 5.") from None
        return _within_limit(number)
    if item.value_type == "money":
        if text.replace(".", "").strip("0") == "":
            return 0
        try:
            return _within_limit(parse_amount(text))
        except MoneyError as exc:
            raise ValueError(str(exc)) from None
    if item.value_type in ("choice", "set"):
        allowed = {key for key, _ in item.choices()}
        if text not in allowed:
            raise ValueError("Choose one of the listed values.")
        return text
    return text[:200]


def parse_rules(data: Any) -> Group:
    """Validate a rules document into a tree; RuleError lists every problem by condition path."""
    errors: dict[str, str] = {}
    count = 0

    def parse_group(raw: Any, path: str, depth: int) -> Group:
        nonlocal count
        if not isinstance(raw, dict):
            errors[path] = "This group is not a set of conditions."
            return Group()
        match = raw.get("match", "all")
        if match not in ("all", "any"):
            errors[path] = "Choose whether all or any of the conditions must match."
        group = Group(match if match in ("all", "any") else "all")
        items = raw.get("conditions") or []
        if not isinstance(items, list):
            errors[path] = "This group is not a set of conditions."
            return group
        if depth and not items:
            errors[path] = "Add a condition to this group, or remove the group."
        for index, item in enumerate(items):
            child = f"{path}.{index}" if path else str(index)
            if isinstance(item, dict) and "conditions" in item:
                if depth >= 1:
                    errors[child] = "Groups can only be one level deep."
                    continue
                group.conditions.append(parse_group(item, child, depth + 1))
                continue
            count += 1
            group.conditions.append(parse_condition(item, child))
        return group

    def parse_condition(raw: Any, path: str) -> Condition:
        if not isinstance(raw, dict):
            errors[path] = "This condition is incomplete."
            return Condition()
        key, op = raw.get("field") or "", raw.get("op") or ""
        condition = Condition(key, op, raw.get("value"))
        item = FIELDS.get(key)
        if item is None:
            errors[path] = "Choose what to look at." if not key else f"There is no field called “{key}”."
            return condition
        if op not in item.operators:
            errors[path] = "Choose how to compare."
            return condition
        try:
            condition.value = _parse_value(item, op, raw.get("value"))
        except ValueError as exc:
            errors[path] = str(exc)
        return condition

    tree = parse_group(data, "", 0)
    if count > MAX_CONDITIONS:
        errors[""] = f"A segment can have at most {MAX_CONDITIONS} conditions."
    if errors:
        raise RuleError(errors)
    return tree


def to_rules(tree: Group) -> dict:
    def dump(node):
        if isinstance(node, Group):
            return {"match": node.match, "conditions": [dump(child) for child in node.conditions]}
        return {"field": node.field, "op": node.op, "value": node.value}
    return dump(tree)


# ---------------------------------------------------------------- compiling to SQL

def _is_date_only(expression) -> bool:
    return isinstance(expression.type, Date) and not isinstance(expression.type, DateTime)


def _date_bound(expression, moment: datetime):
    return moment.date() if _is_date_only(expression) else moment


def _condition_sql(condition: Condition, now: datetime) -> ColumnElement:
    item = FIELDS[condition.field]
    op, value = condition.op, condition.value
    if item.value_type == "set":
        rows = item.expression_factory().subquery()
        donor_column, value_column = list(rows.c)[:2]
        member = exists().where(donor_column == Donor.id, value_column == value)
        return member if op == "has" else not_(member)
    expression = item.expression_factory()
    if item.value_type == "boolean":
        return expression if op == "true" else not_(expression)
    if op == "empty":
        return expression.is_(None) if item.value_type == "date" else func.coalesce(expression, "") == ""
    if op == "present":
        return expression.is_not(None) if item.value_type == "date" else func.coalesce(expression, "") != ""
    if item.value_type == "date":
        if op == "within_last":
            return expression >= _date_bound(expression, now - timedelta(days=value))
        if op == "before_last":
            return expression < _date_bound(expression, now - timedelta(days=value))
        if op == "within_next":
            return and_(expression >= _date_bound(expression, now), expression <= _date_bound(expression, now + timedelta(days=value)))
        # A calendar day starts at the organisation's midnight, as in the reports a segment may come from.
        day = date.fromisoformat(value)
        bound = day if _is_date_only(expression) else local_midnight(day, _timezone())
        return expression < bound if op == "before" else expression >= bound
    if item.value_type == "text":
        lowered, needle = func.lower(func.coalesce(expression, "")), str(value).lower()
        if op == "eq":
            return lowered == needle
        if op == "ne":
            return lowered != needle
        escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%" if op == "contains" else f"{escaped}%"
        return lowered.like(pattern, escape="\\")
    comparisons = {"eq": expression == value, "ne": expression != value, "gt": expression > value,
                   "gte": expression >= value, "lt": expression < value, "lte": expression <= value}
    return comparisons[op]


def _group_sql(group: Group, now: datetime) -> ColumnElement:
    parts = [_group_sql(child, now) if isinstance(child, Group) else _condition_sql(child, now)
             for child in group.conditions]
    if not parts:
        return true()
    return and_(*parts) if group.match == "all" else or_(*parts)


def _rules_of(segment_or_rules: Segment | dict | Group) -> Group:
    if isinstance(segment_or_rules, Group):
        return segment_or_rules
    rules = segment_or_rules.rules if isinstance(segment_or_rules, Segment) else segment_or_rules
    return parse_rules(rules)


def _members(segment_or_rules, columns, now: datetime | None) -> Select:
    condition = _group_sql(_rules_of(segment_or_rules), now or utcnow())
    return (select(*columns).select_from(Donor).outerjoin(DonorStats, DonorStats.donor_id == Donor.id)
            .where(condition))


def members_select(segment_or_rules: Segment | dict | Group, *, now: datetime | None = None) -> Select:
    """The donor ids of a segment as one SELECT, for other queries to use: `Donor.id.in_(members_select(s))`.
    It never correlates with an enclosing query, so it can sit inside one over donors."""
    return _members(segment_or_rules, [Donor.id], now).correlate(None)


def count_members(segment_or_rules, *, now: datetime | None = None) -> int:
    inner = _members(segment_or_rules, [Donor.id], now).subquery()
    return db.session.scalar(select(func.count()).select_from(inner)) or 0


def is_member(segment_or_rules, donor_id: int, *, now: datetime | None = None) -> bool:
    query = _members(segment_or_rules, [Donor.id], now).where(Donor.id == donor_id).limit(1)
    return db.session.scalar(query) is not None


@dataclass
class MemberPage:
    donors: list
    total: int
    page: int
    pages: int


def members_page(segment_or_rules, *, page: int = 1, per_page: int = 25, now: datetime | None = None) -> MemberPage:
    tree = _rules_of(segment_or_rules)
    total = count_members(tree, now=now)
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    rows = db.session.scalars(
        _members(tree, [Donor], now).order_by(Donor.name_key, Donor.id).limit(per_page).offset((page - 1) * per_page)
    ).unique().all()
    return MemberPage(list(rows), total, page, pages)


EXPORT_COLUMNS = ("id", "type", "first_name", "last_name", "organisation_name", "email", "city", "postcode", "country",
                  "marketing_ok", "gift_count", "lifetime_total", "first_gift", "last_gift")


def export_csv(segment_or_rules, *, currency: str) -> Iterator[str]:
    """Stream the members as CSV, a thousand rows per query (keyset on id), never all in memory."""
    tree = _rules_of(segment_or_rules)
    now = utcnow()
    buffer = io.StringIO()
    writer = csvfile.writer(buffer)
    writer.writerow(EXPORT_COLUMNS)
    columns = [Donor.id, Donor.kind, Donor.first_name, Donor.last_name, Donor.organisation_name, Donor.email,
               Donor.city, Donor.postcode, Donor.country, _can_receive_marketing(),
               DonorStats.gift_count, DonorStats.lifetime_minor, DonorStats.first_gift_at, DonorStats.last_gift_at]
    last_id = 0
    while True:
        yield _drain(buffer)
        rows = db.session.execute(_members(tree, columns, now).where(Donor.id > last_id).order_by(Donor.id).limit(1000)).all()
        if not rows:
            return
        for row in rows:
            writer.writerow([row[0], row[1], row[2], row[3], row[4], row[5] or "", row[6], row[7], row[8],
                             "yes" if row[9] else "no", row[10] or 0, format_money(row[11] or 0, currency),
                             row[12].date().isoformat() if row[12] else "", row[13].date().isoformat() if row[13] else ""])
        last_id = rows[-1][0]


def _drain(buffer: io.StringIO) -> str:
    value = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return value


# ---------------------------------------------------------------- describing rules to people

def describe_condition(condition: Condition) -> str:
    item = FIELDS.get(condition.field)
    if item is None:
        return condition.field
    op_label = item.operators.get(condition.op, condition.op)
    value = condition.value
    if condition.op in NO_VALUE:
        return f"{item.label}: {op_label}"
    if item.value_type == "money":
        value = format_money(value, _currency(), whole=value % 100 == 0)
    elif item.value_type in ("choice", "set"):
        value = dict(item.choices()).get(value, value)
    if "…" in op_label:
        return f"{item.label} {op_label.replace('…', str(value))}"
    return f"{item.label} {op_label} {value}"


def describe(segment_or_rules) -> list[str]:
    """One line per condition, groups as "(a or b)": for lists, workflow pages and the bulk-send summary."""
    tree = _rules_of(segment_or_rules)

    def text(node) -> str:
        if isinstance(node, Group):
            joiner = " and " if node.match == "all" else " or "
            return "(" + joiner.join(text(child) for child in node.conditions) + ")"
        return describe_condition(node)
    return [text(child) for child in tree.conditions] or ["Every donor"]


def _currency() -> str:
    from portal.settings.services import organisation

    return organisation().currency


def _timezone() -> str:
    from portal.settings.services import organisation

    return organisation().timezone


# ---------------------------------------------------------------- saving

class SegmentError(ValueError):
    def __init__(self, message: str, field_name: str | None = None, rule_errors: dict[str, str] | None = None):
        super().__init__(message)
        self.field_name = field_name
        self.rule_errors = rule_errors or {}


def save_segment(segment: Segment | None, *, name: str, description: str, rules: dict, actor=None) -> Segment:
    """Create or update a segment; an invalid rule or a duplicate name is refused and nothing is saved."""
    name = name.strip()
    if not name:
        raise SegmentError("Give the segment a name.", "name")
    clash = select(Segment.id).where(func.lower(Segment.name) == name.lower())
    if segment is not None and segment.id:
        clash = clash.where(Segment.id != segment.id)
    if db.session.scalar(clash.limit(1)):
        raise SegmentError("Another segment already has this name.", "name")
    try:
        tree = parse_rules(rules)
    except RuleError as exc:
        raise SegmentError("Some conditions need attention.", rule_errors=exc.errors) from exc
    if segment is None:
        segment = Segment(created_by_id=getattr(actor, "id", None))
        db.session.add(segment)
    segment.name, segment.description, segment.rules = name[:120], description.strip()[:300], to_rules(tree)
    db.session.commit()
    return segment


def delete_segment(segment: Segment) -> None:
    """Workflows that used it keep running without the condition (their segment is cleared)."""
    db.session.delete(segment)
    db.session.commit()


def all_segments() -> list[Segment]:
    return list(db.session.scalars(select(Segment).order_by(Segment.name)))


# ---------------------------------------------------------------- ready-made segments

READY_MADE = (
    ("new_donors", "New donors", "First gift in the last 30 days.",
     {"match": "all", "conditions": [{"field": "first_gift", "op": "within_last", "value": 30}]}),
    ("loyal", "Loyal donors", "Gave in each of the last three years, or have made five or more gifts.",
     {"match": "any", "conditions": [{"field": "years_given", "op": "gte", "value": 3},
                                     {"field": "gift_count", "op": "gte", "value": 5}]}),
    ("major", "Major donors", "Lifetime giving of at least £1,000; change the threshold to suit.",
     {"match": "all", "conditions": [{"field": "lifetime", "op": "gte", "value": 100000}]}),
    ("lapsing", "Lapsing (LYBUNT)", "Gave in the previous 12 months but not in the last 12.",
     {"match": "all", "conditions": [{"field": "prev_12m", "op": "gt", "value": 0},
                                     {"field": "last_12m", "op": "eq", "value": 0}]}),
    ("lapsed", "Lapsed donors", "No gift for 18 months and no active regular gift.",
     {"match": "all", "conditions": [{"field": "last_gift", "op": "before_last", "value": 548},
                                     {"field": "has_active_plan", "op": "false", "value": None}]}),
    ("inactive_180", "Inactive for 180 days", "No gift, reply, visit or click for 180 days.",
     {"match": "all", "conditions": [{"field": "last_activity", "op": "before_last", "value": 180}]}),
    ("sponsors_renewing", "Sponsors up for renewal", "An active sponsorship that renews in the next 30 days.",
     {"match": "all", "conditions": [{"field": "active_plan_kinds", "op": "has", "value": "sponsorship"},
                                     {"field": "next_renewal", "op": "within_next", "value": 30}]}),
)


def seed_ready_made() -> int:
    """Add the ready-made segments that are missing (by key); staff edits to existing ones are kept."""
    existing = set(db.session.scalars(select(Segment.key).where(Segment.key.is_not(None))))
    names = {n.lower() for n in db.session.scalars(select(Segment.name))}
    added = 0
    for key, name, description, rules in READY_MADE:
        if key in existing:
            continue
        parse_rules(rules)
        db.session.add(Segment(key=key, name=name if name.lower() not in names else f"{name} (ready-made)",
                               description=description, rules=rules))
        added += 1
    db.session.commit()
    return added


def segment_by_key(key: str) -> Segment | None:
    return db.session.scalar(select(Segment).where(Segment.key == key))
