from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.giving.models import DonorStats
from portal.journey import services as journey
from portal.journey.models import Touchpoint
from tests.conftest import make_donor

pytestmark = pytest.mark.usefixtures("ctx")


def test_timeline_is_newest_first_and_pages_without_gaps_or_repeats():
    donor = make_donor()
    base = datetime(2026, 1, 1, 12)
    for i in range(45):
        # Pairs share a timestamp so the id tiebreak is exercised.
        journey.record(donor.id, "note", f"note {i}", occurred_at=base + timedelta(hours=i // 2))
    db.session.commit()
    seen, cursor = [], None
    while True:
        page = journey.timeline(donor.id, group="contact", cursor=cursor, limit=20)
        seen += [t.summary for t in page.items]
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    assert len(seen) == 45 and len(set(seen)) == 45
    assert seen[0] == "note 44" and seen[-1] == "note 0"


def test_timeline_group_filter_and_bad_cursor():
    donor = make_donor()
    journey.record(donor.id, "call", "Rang")
    journey.record(donor.id, "email_sent", "Newsletter")
    db.session.commit()
    assert [t.kind for t in journey.timeline(donor.id, group="digital").items] == ["email_sent"]
    assert len(journey.timeline(donor.id, cursor="not-a-cursor").items) == 3  # ignored, first page


def test_interactions_are_validated():
    donor = make_donor()
    with pytest.raises(ValueError):
        journey.log_interaction(donor.id, "gift_received", "sneaky")
    with pytest.raises(ValueError):
        journey.log_interaction(donor.id, "call", "   ")
    touchpoint = journey.log_interaction(donor.id, "meeting", "Lunch", details="Interested in legacy giving")
    assert touchpoint.data == {"details": "Interested in legacy giving"} and touchpoint.channel == "staff"


@pytest.mark.parametrize("count,active,days_ago,expected", [
    (0, False, None, "prospect"),
    (1, False, 10, "first_gift"),
    (2, False, 10, "repeat"),
    (3, False, 10, "regular"),
    (1, True, 10, "regular"),
    (4, False, 600, "lapsed"),
    (4, True, 600, "regular"),
])
def test_journey_stage(count, active, days_ago, expected):
    now = datetime(2026, 6, 1)
    stats = DonorStats(gift_count=count, has_active_plan=active,
                       last_gift_at=now - timedelta(days=days_ago) if days_ago is not None else None)
    assert journey.journey_stage(stats, now=now) == expected
    assert journey.journey_stage(None, now=now) == "prospect"


def test_touchpoint_writer_records_on_the_callers_connection_for_the_reactors(monkeypatch):
    donor = make_donor()
    enqueued = []
    monkeypatch.setattr(journey.jobs, "enqueue_now", lambda queue, func, *args: enqueued.append((queue, func.__name__)))
    with db.engine.connect() as connection:
        writer = journey.TouchpointWriter(connection)
        writer.record(donor.id, "email_sent", "Receipt", channel="email", data={"message_id": 7})
        connection.rollback()  # an outcome rolled back takes its touchpoint with it
        writer.record(donor.id, "email_sent", "Spring appeal " * 40, channel="email", data={"message_id": 9})
        connection.commit()
        writer.process_written()
    rows = db.session.scalars(select(Touchpoint).where(Touchpoint.donor_id == donor.id, Touchpoint.kind == "email_sent")).all()
    assert [(t.summary, t.channel, t.data, t.processed_at) for t in rows] == [
        (("Spring appeal " * 40)[:300], "email", {"message_id": 9}, None)]
    assert enqueued == [("default", "process_pending")]


def test_a_transaction_that_ended_leaves_the_next_one_free_to_schedule_processing(monkeypatch):
    donor = make_donor()
    scheduled = []
    monkeypatch.setattr(journey.reactors.jobs, "enqueue_after_commit", lambda queue, func, *args: scheduled.append(func.__name__))
    journey.record(donor.id, "note", "first")
    journey.record(donor.id, "note", "same transaction")
    db.session.rollback()
    journey.record(donor.id, "note", "after a rollback")
    db.session.commit()
    journey.record(donor.id, "note", "after a commit")
    db.session.commit()
    assert scheduled == ["process_pending"] * 3
