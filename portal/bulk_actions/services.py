"""Bulk actions on a list of donors: tag or untag, assign a relationship manager, add to a workflow, create a
task for each, export.

A selection is the rows ticked on the donor list, every donor matching the list's filters ("all N
matching"), or a segment's members. Up to INLINE_LIMIT donors the action runs while staff wait; above it a
job runs it in chunks and reports progress. Either way the action is one audit entry with the count.
Every action can be repeated safely (a job retried after a crash does nothing twice): tags and managers are
set, not added; workflow runs and tasks carry a key made once per action.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Select, delete, func, select
from werkzeug.datastructures import MultiDict

from portal import jobs

from portal import bulk_insert
from portal.audit import services as audit
from portal.auth.models import User
from portal.auth.services import staff_users
from portal.donors.models import Donor, Tag, donor_tags
from portal.donors.services import DonorError, matching_ids, parse_filters, split_tags, tags_by_name
from portal.engagement import services as engagement
from portal.engagement.models import Segment, Workflow
from portal.extensions import db
from portal.params import parse_id, query_id
from portal.retention.services import RetentionError, set_manager_many
from portal.settings.services import organisation
from portal.support.services import create_tasks
from portal.timeutil import local_date_to_utc

ACTIONS = {
    "tag": "Add a tag",
    "untag": "Remove a tag",
    "manager": "Assign a relationship manager",
    "workflow": "Add to a workflow",
    "task": "Create a task for each",
    "export": "Export to CSV",
}
INLINE_LIMIT = 1000
CHUNK = 5000
FILTER_NAMES = ("q", "kind", "tag", "recurring", "gave_within", "lifetime_min", "lifetime_max")


@dataclass
class Selection:
    """Which donors: ticked ids, all matching the list's filters, or a segment's members."""

    ids: list[int] = field(default_factory=list)
    all_matching: bool = False
    filters: dict[str, str] = field(default_factory=dict)
    segment_id: int | None = None

    @classmethod
    def from_form(cls, form) -> "Selection":
        segment = form.get("segment", type=query_id)
        filters = {name: form.get(f"filter_{name}", "") for name in FILTER_NAMES if form.get(f"filter_{name}")}
        ids = sorted({number for number in map(parse_id, form.getlist("ids")) if number is not None})
        return cls(ids=ids, all_matching=form.get("all_matching") == "1" or segment is not None, filters=filters,
                   segment_id=segment)

    def as_dict(self) -> dict:
        return {"ids": self.ids, "all_matching": self.all_matching, "filters": self.filters, "segment_id": self.segment_id}

    def query(self) -> Select:
        if self.segment_id is not None:
            segment = db.session.get(Segment, self.segment_id)
            if segment is None:
                raise DonorError("That segment no longer exists.")
            return engagement.members_select(segment)
        if self.all_matching:
            return matching_ids(parse_filters(MultiDict(self.filters)))
        return select(Donor.id).where(Donor.id.in_(self.ids))

    def donor_ids(self) -> list[int]:
        found = select(Donor.id).where(Donor.id.in_(self.query()), Donor.erased_at.is_(None)).order_by(Donor.id)
        return list(db.session.scalars(found))

    def count(self) -> int:
        return db.session.scalar(select(func.count()).select_from(
            select(Donor.id).where(Donor.id.in_(self.query()), Donor.erased_at.is_(None)).subquery()))

    def describe(self) -> str:
        if self.segment_id is not None:
            return f"segment #{self.segment_id}"
        if self.all_matching:
            return "all matching the donor list" + (" (" + ", ".join(f"{k}={v}" for k, v in sorted(self.filters.items())) + ")" if self.filters else "")
        return "ticked on the donor list"


@dataclass
class Outcome:
    action: str
    count: int
    job_id: str | None = None


def check_params(action: str, params: dict) -> dict:
    """The action's parameters, cleaned; DonorError names the field that is wrong."""
    if action not in ACTIONS:
        raise DonorError("Choose what to do with the selected donors.", "action")
    if action in ("tag", "untag"):
        names = split_tags(params.get("tag_name"))
        if len(names) != 1 or len(names[0]) > 60:
            raise DonorError("Enter one tag, up to 60 characters.", "tag_name")
        return {"tag_name": names[0].lower()}
    if action == "manager":
        user_id = params.get("manager_id")
        if parse_id(user_id) not in {u.id for u in staff_users() if u.active}:
            raise DonorError("Choose an active staff member.", "manager_id")
        return {"manager_id": parse_id(user_id)}
    if action == "workflow":
        workflow_id = params.get("workflow_id")
        if parse_id(workflow_id) is None or db.session.get(Workflow, parse_id(workflow_id)) is None:
            raise DonorError("Choose a workflow.", "workflow_id")
        return {"workflow_id": parse_id(workflow_id)}
    if action == "task":
        title = (params.get("task_title") or "").strip()
        if not title or len(title) > 200:
            raise DonorError("Give the task a title (up to 200 characters).", "task_title")
        due = (params.get("task_due") or "").strip()
        if due:
            try:
                datetime.strptime(due, "%Y-%m-%d")
            except ValueError:
                raise DonorError("Enter the due date as a date, such as 2027-01-31.", "task_due") from None
        return {"task_title": title, "task_due": due, "task_role": params.get("task_role") if params.get("task_role") in ("fundraiser", "support") else "fundraiser"}
    return {}


def start(action: str, params: dict, selection: Selection, *, actor) -> Outcome:
    """Run the action now (small selections) or as a job (large ones). Export is not one of these: the
    caller streams the file and calls record_export."""
    params = check_params(action, params)
    if action not in _APPLY:
        raise DonorError("Choose what to do with the selected donors.", "action")
    count = selection.count()
    if count == 0:
        raise DonorError("No donors are selected.", "ids")
    key = uuid.uuid4().hex[:12]
    if count <= INLINE_LIMIT:
        return Outcome(action, perform(action, params, selection.as_dict(), getattr(actor, "id", None), key))
    job_id = jobs.enqueue_now("default", run_job, action, params, selection.as_dict(), getattr(actor, "id", None), key)
    return Outcome(action, count, job_id)


@jobs.job
def run_job(action: str, params: dict, selection: dict, actor_id: int | None, key: str) -> int:
    return perform(action, params, selection, actor_id, key)


def perform(action: str, params: dict, selection: dict, actor_id: int | None, key: str) -> int:
    """Apply the action to the selection, a chunk at a time with progress; one audit entry. Commits."""
    actor = db.session.get(User, actor_id) if actor_id else None
    chosen = Selection(**selection)
    ids = chosen.donor_ids()
    apply = _APPLY[action]
    done = 0
    for start_at in range(0, len(ids), CHUNK):
        chunk = ids[start_at:start_at + CHUNK]
        apply(chunk, params, actor, key)
        db.session.commit()
        done += len(chunk)
        jobs.report_progress(done, len(ids), ACTIONS[action])
    audit.record(f"donor.bulk_{action}", actor=actor, summary=f"{ACTIONS[action]}: {len(ids):,} donors ({chosen.describe()})"[:300],
                 detail={"count": len(ids), "params": params, "selection": chosen.describe()})
    db.session.commit()
    return len(ids)


def _tag(ids: list[int], params: dict, actor, key: str) -> None:
    [tag] = tags_by_name([params["tag_name"]])
    db.session.flush()
    tagged = set(db.session.scalars(select(donor_tags.c.donor_id).where(donor_tags.c.tag_id == tag.id, donor_tags.c.donor_id.in_(ids))))
    bulk_insert.insert_rows(donor_tags, [{"donor_id": donor_id, "tag_id": tag.id} for donor_id in ids if donor_id not in tagged])


def _untag(ids: list[int], params: dict, actor, key: str) -> None:
    tag_id = db.session.scalar(select(Tag.id).where(Tag.name == params["tag_name"]))
    if tag_id is not None:
        db.session.execute(delete(donor_tags).where(donor_tags.c.tag_id == tag_id, donor_tags.c.donor_id.in_(ids)))


def _manager(ids: list[int], params: dict, actor, key: str) -> None:
    try:
        set_manager_many(ids, params["manager_id"])
    except RetentionError as exc:
        raise DonorError(str(exc), "manager_id") from exc


def _workflow(ids: list[int], params: dict, actor, key: str) -> None:
    try:
        engagement.enter_many(db.session.get(Workflow, params["workflow_id"]), ids, f"bulk:{key}")
    except engagement.WorkflowError as exc:
        raise DonorError(str(exc), "workflow_id") from exc


def _task(ids: list[int], params: dict, actor, key: str) -> None:
    due = local_date_to_utc(datetime.strptime(params["task_due"], "%Y-%m-%d").date(), organisation().timezone) if params["task_due"] else None
    create_tasks([{"title": params["task_title"], "donor_id": donor_id, "assignee_role": params["task_role"], "due_at": due,
                   "source": "bulk", "dedupe_key": f"bulk:{key}:{donor_id}", "created_by": actor} for donor_id in ids])


_APPLY = {"tag": _tag, "untag": _untag, "manager": _manager, "workflow": _workflow, "task": _task}


def record_export(selection: Selection, *, actor) -> int:
    """One audit entry for a bulk export, with the count. Commits."""
    count = selection.count()
    audit.record("donor.bulk_export", actor=actor, summary=f"Exported {count:,} donors ({selection.describe()})"[:300],
                 detail={"count": count, "selection": selection.describe()})
    db.session.commit()
    return count
