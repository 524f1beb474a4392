"""Write to, search and export the audit trail, and purge the read log past its retention."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Iterator, Mapping

from flask import current_app, has_request_context, request
from sqlalchemy import Select, delete, func, or_, select

from portal.audit.models import AuditEvent
from portal.extensions import db
from portal.params import parse_id
from portal.timeutil import utcnow

# Actions that record someone reading, not changing: kept for AUDIT_READ_LOG_DAYS, then purged.
READ_ACTIONS = ("donor.view",)
PER_PAGE = 50
EXPORT_COLUMNS = ("when_utc", "action", "user", "user_id", "donor_id", "summary", "detail", "ip_address")


def record(action: str, *, actor: Any = None, actor_label: str = "", donor_id: int | None = None,
           summary: str = "", detail: dict | None = None, ip_address: str = "") -> AuditEvent:
    """Add one event to the current session, so it commits (or rolls back) with the change it records.

    `actor` is a user (anything with `id` and `email`); `actor_label` names a caller that is not one,
    such as the email address a failed sign-in tried. Never pass secrets or erased personal data.
    Inside a request the address defaults to the request's."""
    if not ip_address and has_request_context():
        ip_address = request.remote_addr or ""
    event = AuditEvent(action=action, actor_user_id=getattr(actor, "id", None),
                       actor_label=actor_label or _label(actor), donor_id=donor_id,
                       summary=summary[:300], detail=detail, ip_address=ip_address[:45])
    db.session.add(event)
    return event


def _label(actor: Any) -> str:
    """Staff are named by their address; a donor by their record's number, since the trail outlives an erasure
    of their personal data and must not keep their address."""
    if actor is None:
        return ""
    if getattr(actor, "role", None) == "donor":
        return f"donor #{actor.donor_id}" if getattr(actor, "donor_id", None) else "a donor"
    return getattr(actor, "email", "") or ""


def record_export(action: str, list_name: str, rows: int, *, actor: Any, detail: dict | None = None) -> AuditEvent:
    """Who exported which list and how many rows. An export changes nothing, so its event commits on its
    own, before the file is sent: a download cut off half way is still on record."""
    event = record(action, actor=actor, summary=f"Exported {list_name}: {rows:,} row{'' if rows == 1 else 's'}",
                   detail={"list": list_name, "rows": rows, **(detail or {})})
    db.session.commit()
    return event


def snapshot(row: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    """A settings row's values before a change, for `changes()`."""
    return {name: getattr(row, name) for name in fields}


def changes(before: Mapping[str, Any], row: Any) -> dict[str, list]:
    """{field: [old, new]} for each field that changed, as JSON-safe values."""
    def plain(value: Any) -> Any:
        return value if value is None or isinstance(value, (bool, int, float, str)) else str(value)

    return {name: [plain(old), plain(getattr(row, name))] for name, old in before.items() if getattr(row, name) != old}


def record_settings_change(settings: str, before: Mapping[str, Any], row: Any, *, actor: Any) -> AuditEvent | None:
    """One `settings.update` event naming the settings page and what changed on it; nothing when nothing did."""
    changed = changes(before, row)
    if not changed:
        return None
    return record("settings.update", actor=actor, summary=f"{settings}: changed {', '.join(sorted(changed))}",
                  detail={"settings": settings, "changes": changed})


def events_for(*, action: str | None = None, actor_user_id: int | None = None, donor_id: int | None = None,
               limit: int = 100) -> list[AuditEvent]:
    """The newest events first, optionally narrowed to one action, actor or donor."""
    query = db.select(AuditEvent)
    if action:
        query = query.where(AuditEvent.action == action)
    if actor_user_id is not None:
        query = query.where(AuditEvent.actor_user_id == actor_user_id)
    if donor_id is not None:
        query = query.where(AuditEvent.donor_id == donor_id)
    return list(db.session.scalars(query.order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc()).limit(limit)))


# ---------------------------------------------------------------- search for administrators

@dataclass
class AuditFilter:
    user: str = ""  # an email address or its beginning, or a user id
    donor: int | None = None
    action: str = ""  # an action, or its domain ("donor" matches donor.view, donor.export, ...)
    start: date | None = None
    end: date | None = None
    errors: dict[str, str] | None = None

    @property
    def active(self) -> bool:
        return bool(self.user or self.donor or self.action or self.start or self.end)


def parse_filters(args: Mapping[str, str]) -> AuditFilter:
    filters = AuditFilter(user=(args.get("user") or "").strip()[:254], action=(args.get("action") or "").strip()[:60],
                          errors={})
    raw_donor = (args.get("donor") or "").strip()
    if raw_donor:
        filters.donor = parse_id(raw_donor)
        if filters.donor is None:
            filters.errors["donor"] = "Enter a donor number, such as 1042."
    for name in ("start", "end"):
        raw = (args.get(name) or "").strip()
        if raw:
            try:
                setattr(filters, name, date.fromisoformat(raw))
            except ValueError:
                filters.errors[name] = "Enter a date as YYYY-MM-DD, such as 2026-01-31."
    if filters.start and filters.end and filters.end < filters.start:
        filters.errors["end"] = "The end date is before the start date."
    return filters


def _query(filters: AuditFilter) -> Select:
    query = select(AuditEvent)
    if filters.user:
        user_id = parse_id(filters.user)
        text = filters.user.lower()
        query = query.where(or_(AuditEvent.actor_user_id == user_id, func.lower(AuditEvent.actor_label).startswith(text, autoescape=True))
                            if user_id is not None else func.lower(AuditEvent.actor_label).startswith(text, autoescape=True))
    if filters.donor is not None:
        query = query.where(AuditEvent.donor_id == filters.donor)
    if filters.action:
        query = query.where(or_(AuditEvent.action == filters.action,
                                AuditEvent.action.startswith(filters.action.rstrip(".") + ".", autoescape=True)))
    if filters.start:
        query = query.where(AuditEvent.occurred_at >= datetime.combine(filters.start, datetime.min.time()))
    if filters.end:
        query = query.where(AuditEvent.occurred_at < datetime.combine(filters.end + timedelta(days=1), datetime.min.time()))
    return query


@dataclass
class AuditPage:
    events: list[AuditEvent]
    total: int
    page: int
    pages: int


def search(filters: AuditFilter, *, page: int = 1) -> AuditPage:
    query = _query(filters)
    total = db.session.scalar(select(func.count()).select_from(query.with_only_columns(AuditEvent.id).subquery())) or 0
    pages = max(1, -(-total // PER_PAGE))
    page = min(max(1, page), pages)
    rows = db.session.scalars(query.order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc())
                              .limit(PER_PAGE).offset((page - 1) * PER_PAGE)).all()
    return AuditPage(list(rows), total, page, pages)


def actions() -> list[str]:
    """Every action on record, for the filter's suggestions."""
    return list(db.session.scalars(select(AuditEvent.action).distinct().order_by(AuditEvent.action)))


def count(filters: AuditFilter) -> int:
    return db.session.scalar(select(func.count()).select_from(_query(filters).with_only_columns(AuditEvent.id).subquery())) or 0


def export_rows(filters: AuditFilter) -> Iterator[list]:
    """The matching events, oldest first, a thousand per query; the header row first."""
    yield list(EXPORT_COLUMNS)
    last_id = 0
    while True:
        batch = db.session.scalars(_query(filters).where(AuditEvent.id > last_id).order_by(AuditEvent.id).limit(1000)).all()
        if not batch:
            return
        for event in batch:
            yield [event.occurred_at.isoformat(sep=" ", timespec="seconds"), event.action, event.actor_label,
                   event.actor_user_id or "", event.donor_id or "", event.summary,
                   json.dumps(event.detail, sort_keys=True) if event.detail else "", event.ip_address]
        last_id = batch[-1].id


# ---------------------------------------------------------------- retention of the read log

def read_log_days() -> int:
    return int(current_app.config.get("AUDIT_READ_LOG_DAYS", 90))


def purge_read_log(*, now: datetime | None = None) -> int:
    """Delete read events older than the retention; the only deletion the app makes in the trail."""
    cutoff = (now or utcnow()) - timedelta(days=read_log_days())
    result = db.session.execute(delete(AuditEvent).where(AuditEvent.action.in_(READ_ACTIONS), AuditEvent.occurred_at < cutoff)
                                .execution_options(synchronize_session=False, audit_read_log_purge=True))
    db.session.commit()
    return result.rowcount or 0
