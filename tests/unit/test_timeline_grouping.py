"""Repeated sign-ins close together are one timeline entry with a count; anything else stays as it was."""
from datetime import datetime, timedelta

import pytest

from portal.extensions import db
from portal.journey import services as journey
from tests.conftest import make_donor

pytestmark = pytest.mark.usefixtures("ctx")
T = datetime(2026, 11, 3, 9, 0)


def test_four_sign_ins_in_a_minute_are_one_entry_with_a_count():
    donor = make_donor(email="ada@example.org")
    for seconds in (0, 15, 30, 45):
        journey.record(donor.id, "portal_login", "Signed in to the portal", occurred_at=T + timedelta(seconds=seconds))
    journey.record(donor.id, "inquiry", "Asked about receipts", occurred_at=T + timedelta(minutes=5))
    journey.record(donor.id, "portal_login", "Signed in to the portal", occurred_at=T - timedelta(days=2))
    db.session.commit()
    page = journey.timeline(donor.id)
    entries = [item for item in page.items if item.kind != "donor_created"]  # "Joined" is dated today
    assert [(item.kind, page.repeats.get(item.id, 1)) for item in entries] == [
        ("inquiry", 1), ("portal_login", 4), ("portal_login", 1)]
    assert entries[1].occurred_at == T + timedelta(seconds=45)  # the newest of the four


def test_other_kinds_are_never_grouped():
    donor = make_donor(email="ada@example.org")
    for minute in range(3):
        journey.record(donor.id, "note", f"Note {minute}", occurred_at=T + timedelta(minutes=minute))
    db.session.commit()
    notes = [item.summary for item in journey.timeline(donor.id).items if item.kind == "note"]
    assert notes == ["Note 2", "Note 1", "Note 0"]
