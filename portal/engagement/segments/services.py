"""Segments: a tree of conditions over donor fields and rollups, compiled to ONE SQL query.

The fields a condition can use are in fields.py (a registry other domains add to), the rules document and its
validation in rules.py; this module compiles rules to SQL, lists and exports members, and saves segments.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Iterator

from sqlalchemy import Date, DateTime, Select, and_, exists, func, not_, or_, select, true
from sqlalchemy.sql.elements import ColumnElement

from portal import csvfile
from portal.donors.models import Donor
from portal.engagement.models import Segment, Workflow
from portal.engagement.segments.fields import (DAYS_OPERATORS, FIELDS, NO_VALUE, OPERATORS, PASSIVE_KINDS, SegmentField,
                                               can_receive_marketing, fields_by_group, last_activity_expression,
                                               register_field)
from portal.engagement.segments.rules import (MAX_CONDITIONS, Condition, Group, RuleError, describe, describe_condition,
                                              parse_rules, to_rules, tree_of)
from portal.extensions import db
from portal.giving.models import DonorStats
from portal.money import format_money
from portal.settings.services import organisation
from portal.timeutil import local_midnight, utcnow

__all__ = [
    "DAYS_OPERATORS", "FIELDS", "NO_VALUE", "OPERATORS", "PASSIVE_KINDS", "SegmentField", "fields_by_group",
    "last_activity_expression", "register_field",
    "MAX_CONDITIONS", "Condition", "Group", "RuleError", "describe", "describe_condition", "parse_rules", "to_rules",
    "members_select", "count_members", "is_member", "members_page", "export_csv",
    "SegmentError", "save_segment", "delete_segment", "all_segments", "workflows_using",
    "READY_MADE", "seed_ready_made", "segment_by_key",
]


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
        bound = day if _is_date_only(expression) else local_midnight(day, organisation().timezone)
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


def _members(segment_or_rules, columns, now: datetime | None) -> Select:
    condition = _group_sql(tree_of(segment_or_rules), now or utcnow())
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
    tree = tree_of(segment_or_rules)
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
    tree = tree_of(segment_or_rules)
    now = utcnow()
    buffer = io.StringIO()
    writer = csvfile.writer(buffer)
    writer.writerow(EXPORT_COLUMNS)
    columns = [Donor.id, Donor.kind, Donor.first_name, Donor.last_name, Donor.organisation_name, Donor.email,
               Donor.city, Donor.postcode, Donor.country, can_receive_marketing(),
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


# ---------------------------------------------------------------- saving

class SegmentError(ValueError):
    def __init__(self, message: str, field_name: str | None = None, rule_errors: dict[str, str] | None = None):
        super().__init__(message)
        self.field_name = field_name
        self.rule_errors = rule_errors or {}


def save_segment(segment: Segment | None, *, name: str, description: str, rules: dict, actor=None) -> Segment:
    """Create or update a segment and commit; an invalid rule or a duplicate name is refused, the transaction is
    rolled back and nothing is saved."""
    try:
        tree = _checked(segment, name, rules)
    except SegmentError:
        db.session.rollback()
        raise
    if segment is None:
        segment = Segment(created_by_id=getattr(actor, "id", None))
        db.session.add(segment)
    segment.name, segment.description, segment.rules = name.strip()[:120], description.strip()[:300], to_rules(tree)
    db.session.commit()
    return segment


def _checked(segment: Segment | None, name: str, rules: dict) -> Group:
    name = name.strip()
    if not name:
        raise SegmentError("Give the segment a name.", "name")
    clash = select(Segment.id).where(func.lower(Segment.name) == name.lower())
    if segment is not None and segment.id:
        clash = clash.where(Segment.id != segment.id)
    if db.session.scalar(clash.limit(1)):
        raise SegmentError("Another segment already has this name.", "name")
    try:
        return parse_rules(rules)
    except RuleError as exc:
        raise SegmentError("Some conditions need attention.", rule_errors=exc.errors) from exc


def delete_segment(segment: Segment) -> None:
    """Workflows that used it keep running without the condition (their segment is cleared)."""
    db.session.delete(segment)
    db.session.commit()


def all_segments() -> list[Segment]:
    return list(db.session.scalars(select(Segment).order_by(Segment.name)))


def workflows_using(segment: Segment) -> list[Workflow]:
    return list(db.session.scalars(select(Workflow).where(Workflow.segment_id == segment.id).order_by(Workflow.name)))


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
