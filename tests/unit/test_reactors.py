import pytest
from sqlalchemy import select

from portal.donors.models import Tag
from portal.extensions import db
from portal.journey import reactors
from portal.journey import services as journey
from portal.journey.models import Touchpoint
from tests.conftest import make_donor

pytestmark = pytest.mark.usefixtures("ctx")


@pytest.fixture
def registry(monkeypatch):
    monkeypatch.setattr(reactors, "_REACTORS", [])
    return reactors


def test_each_touchpoint_reaches_its_reactor_once_after_commit(registry):
    seen = []
    registry.register("collector", lambda tp: seen.append((tp.kind, tp.summary)), kinds=["call"])
    donor = make_donor()
    journey.record(donor.id, "call", "Rang to say thanks")
    journey.record(donor.id, "note", "Prefers post")
    assert seen == []  # nothing happens before the commit
    db.session.commit()
    assert seen == [("call", "Rang to say thanks")]
    assert reactors.process_pending() == 0  # already processed: running again changes nothing
    assert seen == [("call", "Rang to say thanks")]
    assert db.session.scalar(select(Touchpoint).where(Touchpoint.processed_at.is_(None))) is None


def test_failing_reactor_rolls_back_its_writes_and_leaves_touchpoint_for_the_sweep(registry):
    attempts = []

    def flaky(touchpoint):
        db.session.add(Tag(name=f"attempt-{len(attempts)}"))
        attempts.append(touchpoint.id)
        if len(attempts) == 1:
            raise RuntimeError("downstream unavailable")

    registry.register("flaky", flaky, kinds=["meeting"])
    donor = make_donor()
    journey.record(donor.id, "meeting", "Coffee")
    db.session.commit()
    db.session.expire_all()
    pending = db.session.scalar(select(Touchpoint).where(Touchpoint.kind == "meeting"))
    assert pending.processed_at is None
    assert db.session.scalars(select(Tag.name)).all() == []
    assert reactors.sweep() == 1
    db.session.expire_all()
    assert db.session.get(Touchpoint, pending.id).processed_at is not None
    assert db.session.scalars(select(Tag.name)).all() == ["attempt-1"]
    assert attempts == [pending.id, pending.id]
