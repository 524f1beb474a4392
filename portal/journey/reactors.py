"""Things that react to touchpoints: loyalty points, workflows, risk scores, article suggestions.

Every touchpoint is processed exactly once: the processing transaction first claims it
(processed_at IS NULL -> now) and then runs each reactor's writes, and commits both together.
A crash rolls back the claim too, so the sweep finds the touchpoint again. Reactors must only
write to the database session (and enqueue jobs after commit), never send anything directly.
"""
from __future__ import annotations

import logging
from typing import Callable, Iterable

from sqlalchemy import event, select, update
from sqlalchemy.orm import Session

from portal import jobs
from portal.extensions import db
from portal.journey.models import Touchpoint
from portal.timeutil import utcnow

log = logging.getLogger(__name__)
Reactor = Callable[[Touchpoint], None]
_REACTORS: list[tuple[frozenset[str] | None, str, Reactor]] = []
BATCH = 500


def register(name: str, reactor: Reactor, kinds: Iterable[str] | None = None) -> None:
    """Call reactor(touchpoint) for touchpoints of these kinds (all kinds when None)."""
    if any(existing == name for _, existing, _ in _REACTORS):
        return
    _REACTORS.append((frozenset(kinds) if kinds is not None else None, name, reactor))


def _wanted_kinds() -> set[str] | None:
    kinds: set[str] = set()
    for reactor_kinds, _, _ in _REACTORS:
        if reactor_kinds is None:
            return None
        kinds |= reactor_kinds
    return kinds


def process_one(touchpoint_id: int) -> bool:
    """Claim and process one touchpoint in one transaction. False if someone else already did."""
    claimed = db.session.execute(
        update(Touchpoint).where(Touchpoint.id == touchpoint_id, Touchpoint.processed_at.is_(None))
        .values(processed_at=utcnow())
    ).rowcount
    if not claimed:
        db.session.rollback()
        return False
    touchpoint = db.session.get(Touchpoint, touchpoint_id)
    try:
        for kinds, _, reactor in _REACTORS:
            if kinds is None or touchpoint.kind in kinds:
                reactor(touchpoint)
        db.session.commit()
    except Exception:
        db.session.rollback()
        log.exception("touchpoint %s (%s) could not be processed; it stays for the next sweep", touchpoint_id, touchpoint.kind)
        return False
    return True


def pending_ids(limit: int = BATCH, after_id: int = 0) -> list[int]:
    return list(db.session.scalars(
        select(Touchpoint.id).where(Touchpoint.processed_at.is_(None), Touchpoint.id > after_id)
        .order_by(Touchpoint.id).limit(limit)
    ))


@jobs.job
def process_pending() -> int:
    """Work through unprocessed touchpoints oldest first; kinds no reactor wants are just marked."""
    processed, last_id = 0, 0
    while True:
        ids = pending_ids(after_id=last_id)
        if not ids:
            return processed
        wanted = _wanted_kinds()
        if wanted is not None:
            kinds = dict(db.session.execute(select(Touchpoint.id, Touchpoint.kind).where(Touchpoint.id.in_(ids))).all())
            idle = [i for i in ids if kinds[i] not in wanted]
            if idle:
                db.session.execute(update(Touchpoint).where(Touchpoint.id.in_(idle), Touchpoint.processed_at.is_(None))
                                   .values(processed_at=utcnow()))
                db.session.commit()
            ids = [i for i in ids if kinds[i] in wanted]
        for touchpoint_id in ids:
            processed += process_one(touchpoint_id)
        last_id = max(last_id, *(ids or [last_id]))
        if len(ids) < BATCH and not pending_ids(limit=1, after_id=last_id):
            return processed


def schedule_processing() -> None:
    """Once per transaction that wrote touchpoints: process them after it commits."""
    if not db.session.info.get(_SCHEDULED):
        db.session.info[_SCHEDULED] = True
        jobs.enqueue_after_commit("default", process_pending)


_SCHEDULED = "touchpoints_scheduled"  # set in a session's info while its transaction has processing queued


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _transaction_ended(session: Session) -> None:
    session.info.pop(_SCHEDULED, None)


def sweep() -> int:
    count = len(pending_ids(limit=BATCH))
    if count:
        jobs.enqueue_now("default", process_pending)
    return count
