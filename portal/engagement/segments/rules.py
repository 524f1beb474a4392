"""Segment rules: validating a rules document into a tree of conditions, and describing it to people.

Rules are JSON: {"match": "all" | "any", "conditions": [condition | group]} where a condition is
{"field": key, "op": operator, "value": ...} and a group is a nested {"match", "conditions"} (one
level deep, which is as far as people reason about AND/OR without getting lost).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from portal.engagement.models import Segment
from portal.engagement.segments.fields import DAYS_OPERATORS, FIELDS, NO_VALUE, SegmentField
from portal.money import MoneyError, format_money, parse_amount
from portal.settings.services import organisation

MAX_CONDITIONS = 40


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


def tree_of(segment_or_rules: Segment | dict | Group) -> Group:
    if isinstance(segment_or_rules, Group):
        return segment_or_rules
    rules = segment_or_rules.rules if isinstance(segment_or_rules, Segment) else segment_or_rules
    return parse_rules(rules)


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
        value = format_money(value, organisation().currency, whole=value % 100 == 0)
    elif item.value_type in ("choice", "set"):
        value = dict(item.choices()).get(value, value)
    if "…" in op_label:
        return f"{item.label} {op_label.replace('…', str(value))}"
    return f"{item.label} {op_label} {value}"


def describe(segment_or_rules) -> list[str]:
    """One line per condition, groups as "(a or b)": for lists, workflow pages and the bulk-send summary."""
    tree = tree_of(segment_or_rules)

    def text(node) -> str:
        if isinstance(node, Group):
            joiner = " and " if node.match == "all" else " or "
            return "(" + joiner.join(text(child) for child in node.conditions) + ")"
        return describe_condition(node)
    return [text(child) for child in tree.conditions] or ["Every donor"]
