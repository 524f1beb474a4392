"""The rule builder's form state: reading conditions from posted fields, and adding/removing them.

Field names follow the condition's path: `match` for the top level, `2.match` for group 2,
`0.field`/`0.op`/`0.value` for a condition at the top, `2.1.field` for the second condition of
group 2. Every action re-renders the builder from the posted state, so it works with or without
JavaScript (buttons submit the whole form).
"""
from __future__ import annotations

import re
from typing import Any

from portal.engagement.segments.fields import FIELDS
from portal.money import minor_to_input

_KEY = re.compile(r"^(\d{1,3})(?:\.(\d{1,3}))?\.(field|op|value|match)$")
EMPTY_CONDITION = {"field": "", "op": "", "value": ""}


def from_form(form) -> dict[str, Any]:
    """Raw (unvalidated) rules from posted fields, in the order they appear."""
    nodes: dict[int, dict] = {}
    for key in form.keys():
        found = _KEY.match(key)
        if not found:
            continue
        top, inner, part = int(found.group(1)), found.group(2), found.group(3)
        node = nodes.setdefault(top, {})
        if inner is None:
            node[part] = form.get(key, "")
        else:
            node.setdefault("children", {}).setdefault(int(inner), {})[part] = form.get(key, "")
    conditions = []
    for top in sorted(nodes):
        node = nodes[top]
        if "match" in node:
            children = node.get("children", {})
            conditions.append({"match": node["match"], "conditions": [_condition(children[i]) for i in sorted(children)]})
        else:
            conditions.append(_condition(node))
    match = form.get("match", "all")
    return {"match": match if match in ("all", "any") else "all", "conditions": conditions}


def _condition(raw: dict) -> dict:
    field_key = raw.get("field", "")
    op = raw.get("op", "")
    spec = FIELDS.get(field_key)
    if spec is not None and op not in spec.operators:
        op = next(iter(spec.operators))  # the field changed: start from its first comparison
    return {"field": field_key, "op": op, "value": raw.get("value", "")}


def apply(rules: dict[str, Any], action: str) -> dict[str, Any]:
    """add | add:<group> | group | remove:<path>; anything else leaves the rules as they are."""
    conditions = rules["conditions"]
    if action == "add":
        conditions.append(dict(EMPTY_CONDITION))
    elif action == "group":
        conditions.append({"match": "any", "conditions": [dict(EMPTY_CONDITION), dict(EMPTY_CONDITION)]})
    elif action.startswith("add:") and action[4:].isdigit():
        index = int(action[4:])
        if index < len(conditions) and "conditions" in conditions[index]:
            conditions[index]["conditions"].append(dict(EMPTY_CONDITION))
    elif action.startswith("remove:"):
        path = [int(p) for p in action[7:].split(".") if p.isdigit()]
        if len(path) == 1 and path[0] < len(conditions):
            del conditions[path[0]]
        elif len(path) == 2 and path[0] < len(conditions) and "conditions" in conditions[path[0]]:
            inner = conditions[path[0]]["conditions"]
            if path[1] < len(inner):
                del inner[path[1]]
            if not inner:
                del conditions[path[0]]
    return rules


def rows(rules: dict[str, Any]) -> list[dict]:
    """What the template draws: each top-level item with its path, a group with its conditions.
    Saved money values are minor units; they are shown as typed amounts."""
    def shown(condition: dict, path: str) -> dict:
        spec = FIELDS.get(condition.get("field", ""))
        value = condition.get("value")
        if spec is not None and spec.value_type == "money" and isinstance(value, int):
            value = minor_to_input(value)
        return {**condition, "path": path, "value": value}

    drawn = []
    for index, item in enumerate(rules.get("conditions", [])):
        if "conditions" in item:
            drawn.append({"group": True, "path": str(index), "match": item.get("match", "any"),
                          "conditions": [shown(child, f"{index}.{j}") for j, child in enumerate(item["conditions"])]})
        else:
            drawn.append({"group": False, **shown(item, str(index))})
    return drawn


def path_label(rules: dict[str, Any], path: str) -> str:
    """How people refer to a condition: "Condition 2", "Group 3", "Group 3, condition 1"."""
    parts = [int(p) for p in path.split(".") if p.isdigit()]
    if not parts:
        return "The segment"
    items = rules.get("conditions", [])
    is_group = parts[0] < len(items) and "conditions" in items[parts[0]]
    if len(parts) == 1:
        return f"{'Group' if is_group else 'Condition'} {parts[0] + 1}"
    return f"Group {parts[0] + 1}, condition {parts[1] + 1}"
