"""The touchpoint log: writing it, reading a donor's timeline, and naming journey stages."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, bindparam, func, insert, or_, select, update

from portal import bulk_insert, jobs
from portal.extensions import db
from portal.journey import reactors
from portal.journey.models import Touchpoint
from portal.timeutil import utcnow


@dataclass(frozen=True)
class Kind:
    label: str
    group: str  # giving | contact | digital | plan | profile
    icon: str


KINDS: dict[str, Kind] = {
    "donor_created": Kind("Became a supporter", "profile", "✦"),
    "profile_updated": Kind("Profile updated", "profile", "✎"),
    "consent_changed": Kind("Email preferences changed", "profile", "✉"),
    "gift_received": Kind("Gift received", "giving", "♥"),
    "gift_pledged": Kind("Gift pledged", "giving", "♡"),
    "gift_refunded": Kind("Gift refunded", "giving", "↺"),
    "plan_started": Kind("Regular giving started", "plan", "⟳"),
    "plan_amount_changed": Kind("Regular gift amount changed", "plan", "⟳"),
    "plan_paused": Kind("Regular giving paused", "plan", "❚❚"),
    "plan_resumed": Kind("Regular giving resumed", "plan", "▶"),
    "plan_cancelled": Kind("Regular giving cancelled", "plan", "✕"),
    "plan_renewed": Kind("Sponsorship renewed", "plan", "⟳"),
    "inquiry": Kind("Inquiry", "contact", "?"),
    "call": Kind("Phone call", "contact", "☎"),
    "meeting": Kind("Meeting", "contact", "☺"),
    "note": Kind("Note", "contact", "✎"),
    "event_attended": Kind("Attended an event", "contact", "★"),
    "email_sent": Kind("Email sent", "digital", "✉"),
    "email_opened": Kind("Email opened", "digital", "✉"),
    "email_clicked": Kind("Email link clicked", "digital", "↗"),
    "portal_login": Kind("Signed in to the portal", "digital", "→"),
    "kb_search": Kind("Searched the help centre", "digital", "⌕"),
    "kb_article_viewed": Kind("Read a help article", "digital", "❑"),
    "kb_helpful_vote": Kind("Rated a help article", "digital", "✓"),
    "survey_answered": Kind("Answered a survey", "contact", "✓"),
    "ticket_opened": Kind("Opened a support ticket", "contact", "✉"),
    "ticket_closed": Kind("Support ticket closed", "contact", "✓"),
    "ticket_replied": Kind("Support replied", "contact", "↩"),
    "ticket_reopened": Kind("Support ticket reopened", "contact", "↺"),
    "tier_changed": Kind("Loyalty tier changed", "profile", "★"),
    "points_redeemed": Kind("Redeemed loyalty points", "profile", "★"),
    "portal_invited": Kind("Invited to the donor portal", "digital", "✉"),
    "portal_account_created": Kind("Created a portal account", "digital", "✦"),
    "donors_merged": Kind("Duplicate record merged in", "profile", "⇄"),
}
INTERACTION_KINDS = ("inquiry", "call", "meeting", "note", "event_attended")
TIMELINE_GROUPS = {"giving": "Gifts", "plan": "Regular giving", "contact": "Conversations", "digital": "Online", "profile": "Profile"}


def kind_label(kind: str) -> str:
    return KINDS[kind].label if kind in KINDS else kind.replace("_", " ").capitalize()


def record(donor_id: int, kind: str, summary: str = "", *, data: dict[str, Any] | None = None,
           channel: str = "", actor=None, occurred_at: datetime | None = None) -> Touchpoint:
    """Add a touchpoint to the current transaction; the caller's commit writes it with its cause."""
    touchpoint = Touchpoint(
        donor_id=donor_id,
        kind=kind,
        summary=summary[:300],
        data=data,
        channel=channel,
        occurred_at=occurred_at or utcnow(),
        actor_user_id=getattr(actor, "id", None),
        actor_label=(getattr(actor, "name", "") or getattr(actor, "email", "")) if actor is not None else "",
    )
    db.session.add(touchpoint)
    reactors.schedule_processing()
    return touchpoint


def record_many(entries: list[dict[str, Any]], *, channel: str = "", actor=None) -> None:
    """record() for thousands of touchpoints at once (imports), written in bulk in the current transaction.
    Each entry has donor_id and kind, and may have summary, data and occurred_at.

    These are history brought in from another system, so they are written as already processed:
    importing three years of gifts must not send thank-you emails or welcome series for them."""
    if not entries:
        return
    now = utcnow()
    actor_id = getattr(actor, "id", None)
    actor_label = (getattr(actor, "name", "") or getattr(actor, "email", "")) if actor is not None else ""
    bulk_insert.insert_rows(Touchpoint, [
        {"donor_id": entry["donor_id"], "kind": entry["kind"], "summary": entry.get("summary", "")[:300],
         "data": entry.get("data"), "channel": channel, "occurred_at": entry.get("occurred_at") or now,
         "actor_user_id": actor_id, "actor_label": actor_label, "processed_at": now} for entry in entries])


class TouchpointWriter:
    """Many touchpoints written on the caller's own connection and transaction, one prepared statement each,
    no ORM unit of work: email delivery commits each message's outcome with its touchpoint on a connection
    of its own. Unlike record_many() these are new events, so the reactors process them: call
    process_written() once the batch is done."""

    _INSERT = insert(Touchpoint.__table__)

    def __init__(self, connection: Connection):
        self.connection = connection
        self.written = 0

    def record(self, donor_id: int, kind: str, summary: str = "", *, channel: str = "", data: dict[str, Any] | None = None,
               occurred_at: datetime | None = None) -> None:
        self.connection.execute(self._INSERT, {
            "donor_id": donor_id, "kind": kind, "summary": summary[:300], "channel": channel,
            "occurred_at": occurred_at or utcnow(), "actor_label": "", "data": data})
        self.written += 1

    def process_written(self) -> None:
        """The sweep would find them too; this saves it the wait."""
        if self.written:
            jobs.enqueue_now("default", reactors.process_pending)


def earliest_activity(donor_ids: list[int]) -> dict[int, datetime]:
    """Each donor's first touchpoint (a gift, an inquiry, anything) other than their record being created."""
    rows = db.session.execute(select(Touchpoint.donor_id, func.min(Touchpoint.occurred_at)).where(
        Touchpoint.donor_id.in_(donor_ids), Touchpoint.kind != "donor_created").group_by(Touchpoint.donor_id))
    return {donor_id: first for donor_id, first in rows}


def move_journey_start(starts: dict[int, datetime]) -> None:
    """Date each donor's "Became a supporter" touchpoint to when they became one (no commit)."""
    if starts:
        touchpoints = Touchpoint.__table__
        db.session.execute(update(touchpoints).where(touchpoints.c.donor_id == bindparam("b_donor"),
                                                     touchpoints.c.kind == "donor_created")
                           .values(occurred_at=bindparam("b_when")),
                           [{"b_donor": donor_id, "b_when": when} for donor_id, when in starts.items()])


@dataclass
class TimelinePage:
    items: list[Touchpoint]
    next_cursor: str | None
    repeats: dict[int, int] = field(default_factory=dict)  # touchpoint id -> how many it stands for


# Kinds that happen in bursts (a donor signing in four times in a minute): one timeline entry stands for
# a run of them within this window, with the count.
GROUPED_KINDS = {"portal_login"}
GROUP_WINDOW = timedelta(hours=1)


def group_repeats(rows: list[Touchpoint]) -> tuple[list[Touchpoint], dict[int, int]]:
    """Collapse runs of the same grouped kind (newest first) into their newest entry and a count."""
    kept: list[Touchpoint] = []
    repeats: dict[int, int] = {}
    for row in rows:
        head = kept[-1] if kept else None
        if (head is not None and row.kind in GROUPED_KINDS and head.kind == row.kind
                and head.occurred_at - row.occurred_at <= GROUP_WINDOW):
            repeats[head.id] = repeats.get(head.id, 1) + 1
            continue
        kept.append(row)
    return kept, repeats


def timeline(donor_id: int, *, group: str | None = None, cursor: str | None = None, limit: int = 20) -> TimelinePage:
    """Newest first, keyset-paged by (occurred_at, id) so deep scrolling stays fast."""
    query = select(Touchpoint).where(Touchpoint.donor_id == donor_id)
    if group in TIMELINE_GROUPS:
        query = query.where(Touchpoint.kind.in_([k for k, v in KINDS.items() if v.group == group]))
    position = _parse_cursor(cursor)
    if position:
        at, last_id = position
        query = query.where(or_(Touchpoint.occurred_at < at, and_(Touchpoint.occurred_at == at, Touchpoint.id < last_id)))
    rows = db.session.scalars(
        query.order_by(Touchpoint.occurred_at.desc(), Touchpoint.id.desc()).limit(limit + 1)
    ).all()
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = f"{last.occurred_at.isoformat()}_{last.id}"
    items, repeats = group_repeats(list(rows))
    return TimelinePage(items, next_cursor, repeats)


def _parse_cursor(cursor: str | None) -> tuple[datetime, int] | None:
    if not cursor or "_" not in cursor:
        return None
    stamp, _, ident = cursor.rpartition("_")
    try:
        return datetime.fromisoformat(stamp), int(ident)
    except ValueError:
        return None


STAGES = {
    "prospect": "Prospect",
    "first_gift": "First-time donor",
    "repeat": "Repeat donor",
    "regular": "Regular donor",
    "lapsed": "Lapsed",
}


def journey_stage(stats, *, now: datetime | None = None) -> str:
    """Where a donor stands today, from their rollup. Lapsed means no gift for 18 months."""
    now = now or utcnow()
    if stats is None or not stats.gift_count:
        return "prospect"
    if stats.last_gift_at and stats.last_gift_at < now - timedelta(days=548) and not stats.has_active_plan:
        return "lapsed"
    if stats.has_active_plan or stats.gift_count >= 3:
        return "regular"
    if stats.gift_count == 2:
        return "repeat"
    return "first_gift"


def log_interaction(donor_id: int, kind: str, summary: str, *, details: str = "", occurred_at: datetime | None = None,
                    actor=None) -> Touchpoint:
    """Staff record an inquiry, call, meeting, note or event attendance."""
    if kind not in INTERACTION_KINDS:
        raise ValueError("Choose the kind of interaction.")
    if not summary.strip():
        raise ValueError("Write a short summary.")
    touchpoint = record(donor_id, kind, summary.strip(), actor=actor, occurred_at=occurred_at, channel="staff",
                        data={"details": details.strip()} if details.strip() else None)
    db.session.commit()
    return touchpoint
