"""The donor journey in engagement segments: fields for when a donor's journey began and which steps they
reached, and turning a funnel drop-off list into a segment built from those fields.

A segment made from a drop-off list is a rule ("journey began in the range, reached the step before,
not this one"), not a frozen list of ids: it still compiles to one SQL query, and donors leave it when
they take the next step, which is what a follow-up campaign wants. The fields read the journey
milestones, which are brought up to date hourly and whenever a report or drop-off list is opened.
"""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import exists, select

from portal.donors.models import Donor
from portal.engagement import services as engagement
from portal.engagement.models import Segment
from portal.extensions import db
from portal.insights import funnel, milestones
from portal.insights.filters import ReportParams
from portal.insights.models import DonorMilestones as M
from portal.params import parse_id
from portal.timeutil import utcnow

GROUP = "Journey"
STEP_FIELDS = {
    "first_gift": ("journey_first_gift", "Made a first gift"),
    "second_gift": ("journey_second_gift", "Gave a second time"),
    "regular": ("journey_regular", "Became a regular giver"),
    "renewed": ("journey_renewed", "Renewed a year after becoming regular"),
    "lapsed": ("journey_lapsed", "Lapsed (18 months without a gift)"),
    "reactivated": ("journey_reactivated", "Came back after lapsing"),
}
BEGAN_FIELD = "journey_began"


def register_fields() -> None:
    engagement.register_field(
        BEGAN_FIELD, "Journey began", "date",
        lambda: select(M.entered_at).where(M.donor_id == Donor.id).scalar_subquery(), group=GROUP,
        help="The earliest of being added, a first inquiry and a first gift (the donor journey report's cohort)")
    for key, (field_key, label) in STEP_FIELDS.items():
        engagement.register_field(field_key, label, "boolean",
                                 lambda key=key: exists().where(M.donor_id == Donor.id, funnel.reached(key, utcnow())),
                                 group=GROUP, help=funnel.STEPS[key].definition)


class NotExpressible(ValueError):
    """The list can't be written as one segment rule; the message is for the user."""


def dropped_rules(params: ReportParams, key: str, scope_rules: dict | None = None) -> dict:
    """Segment rules that select the donors on the drop-off list for step `key` of the cohort in `params`.

    Segment dates compare at midnight UTC, the funnel's range at the organisation's midnight: in a time
    zone ahead of UTC the two differ for donors who came in during that offset on the range's first or
    last day."""
    conditions: list[dict] = [
        {"field": BEGAN_FIELD, "op": "on_or_after", "value": params.range.start.isoformat()},
        {"field": BEGAN_FIELD, "op": "before", "value": (params.range.end + timedelta(days=1)).isoformat()},
    ]
    previous = funnel.previous_step(key)
    if previous:
        conditions.append({"field": STEP_FIELDS[previous][0], "op": "true"})
    conditions.append({"field": STEP_FIELDS[key][0], "op": "true" if key == "lapsed" else "false"})
    rules = {"match": "all", "conditions": conditions}
    if scope_rules and scope_rules.get("conditions"):
        if scope_rules.get("match", "all") == "all":
            rules["conditions"] += scope_rules["conditions"]
        elif any("conditions" in item for item in scope_rules["conditions"]):
            raise NotExpressible("The segment this list is narrowed to has groups of “any” conditions, which can't be "
                                 "nested once more. Open the list without the segment, or simplify that segment.")
        else:
            rules["conditions"].append({"match": "any", "conditions": scope_rules["conditions"]})
    return rules


def _free_name(base: str) -> str:
    taken = {name.lower() for name in db.session.scalars(select(Segment.name).where(Segment.name.like(f"{base[:100]}%")))}
    if base.lower() not in taken:
        return base
    number = 2
    while f"{base} ({number})".lower() in taken:
        number += 1
    return f"{base} ({number})"


def create_dropped_segment(params: ReportParams, key: str, *, scope: str = "all", actor=None) -> Segment:
    """Save the drop-off list for step `key` as a segment named after the step and the cohort. `scope` is
    the list's own narrowing ("all" or "segment:<id>"), whose conditions the new segment takes on."""
    prefix, _, identifier = scope.partition(":")
    number = parse_id(identifier) if prefix == "segment" else None
    scope_segment = db.session.get(Segment, number) if number is not None else None
    milestones.refresh()
    step = funnel.STEPS[key]
    rules = dropped_rules(params, key, scope_segment.rules if scope_segment is not None else None)
    cohort = f"came in {params.range.start:%-d %b %Y} to {params.range.end:%-d %b %Y}"
    name = _free_name(f"{step.dropped_label}, {cohort}"[:110])
    description = f"From the donor journey report: donors who {cohort}"
    if scope_segment is not None:
        description += f", in “{scope_segment.name}”"
    description += f". {step.dropped_label}; donors leave the segment when they take that step."
    try:
        return engagement.save_segment(None, name=name, description=description[:300], rules=rules, actor=actor)
    except engagement.SegmentError as exc:  # e.g. the narrowing segment brings the rule past the condition limit
        db.session.rollback()
        problems = "; ".join(exc.rule_errors.values()) or str(exc)
        raise NotExpressible(f"This list can't be saved as one segment: {problems}") from exc
