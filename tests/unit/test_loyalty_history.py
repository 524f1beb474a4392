"""Loyalty after imported history: the fifth-gift bonus counts gifts, and points for past gifts are counted and
previewed before they are awarded."""
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from portal.audit.models import AuditEvent
from portal.extensions import db
from portal.giving import services as giving
from portal.loyalty import services as loyalty
from portal.loyalty.models import PointsEntry
from portal.timeutil import utcnow
from tests.conftest import make_donor, make_gift

pytestmark = pytest.mark.usefixtures("ctx")


def _bonuses(donor_id: int) -> list[str]:
    return list(db.session.scalars(select(PointsEntry.reason).where(PointsEntry.donor_id == donor_id,
                                                                    PointsEntry.kind == "bonus").order_by(PointsEntry.id)))


def _import_history(donor_id: int, count: int, *, amount_minor: int = 1000, first: datetime | None = None) -> None:
    """Gifts as an import writes them: history, whose touchpoints earn nothing."""
    start = first or utcnow() - timedelta(days=4 * 365)
    giving.add_gifts([(donor_id, giving.GiftInput(amount_minor=amount_minor, received_at=start + timedelta(days=7 * i),
                                                  currency="GBP")) for i in range(count)], channel="import")
    db.session.commit()


def test_the_fifth_gift_bonus_counts_gifts_not_points_entries():
    donor = make_donor()
    _import_history(donor.id, 47)
    for days in (50, 40, 30, 20, 10):
        make_gift(donor.id, 1000, utcnow() - timedelta(days=days))
    assert "Bonus for your fifth gift" not in _bonuses(donor.id), "their fifth gift was long ago"


def test_the_fifth_gift_bonus_comes_with_the_fifth_gift():
    donor = make_donor()
    _import_history(donor.id, 4)
    make_gift(donor.id, 1000, utcnow() - timedelta(days=3))
    assert _bonuses(donor.id) == ["Bonus for your fifth gift"]


def test_launch_reports_the_number_of_gifts_that_earned(app):
    donor = make_donor()
    _import_history(donor.id, 6)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["loyalty", "launch"])
    assert result.output.startswith("6 past gifts earned points;"), result.output
    again = runner.invoke(args=["loyalty", "launch"])
    assert again.output.startswith("0 past gifts earned points;"), again.output


def test_past_gifts_are_previewed_with_points_and_tiers_before_they_are_awarded():
    now = utcnow()
    keen, lapsed, member = make_donor(first_name="Keen"), make_donor(first_name="Lapsed"), make_donor(first_name="Member")
    _import_history(keen.id, 3, amount_minor=10000, first=now - timedelta(days=200))     # 3 x 100 points, in the window
    _import_history(lapsed.id, 2, amount_minor=5000, first=now - timedelta(days=3 * 365))  # 2 x 50 points, long ago
    make_gift(member.id, 2000, now - timedelta(days=5))                                  # a member: 20 + 50 bonus
    since = now - timedelta(days=4 * 365)
    preview = loyalty.backfill_preview(since=since)
    assert (preview.gifts, preview.points, preview.donors) == (5, 400, 2)
    tiers = {name: (before, after) for name, before, after in preview.tiers}
    # Default tiers: Friend from 0, Supporter from 250 points in the 12-month window.
    assert tiers["Friend"] == (1, 2), "Member stays a Friend; Lapsed joins at Friend (old gifts count for nothing)"
    assert tiers["Supporter"] == (0, 1), "Keen's 300 points in the window make a Supporter"
    assert sum(after for _, after in tiers.values()) == 3
    assert loyalty.backfill_preview(since=now - timedelta(days=365)).gifts == 3, "a later date counts fewer gifts"
    assert db.session.scalar(select(PointsEntry.id).where(PointsEntry.donor_id == keen.id)) is None, "a preview writes nothing"

    assert loyalty.backfill_gift_points(since=since) == 5
    assert loyalty.points_summary(keen.id).tier == "Supporter"
    assert loyalty.balance(lapsed.id) == 100
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "loyalty.backfill"))
    assert event.detail == {"since": since.date().isoformat(), "gifts": 5}
    assert loyalty.backfill_preview(since=since).gifts == 0
