"""Drop-off lists as segments, on the funnel tests' hand-built 2023 cohort (see test_insights_funnel.py).

As of today (lapsing keeps growing with time, so these stay true): F1 renewed and then stopped in May 2024,
F2 gave twice with a cancelled plan, F3 came back after a 581-day gap, F4 never gave, F6 gave once in 2023.
"""
import pytest
from sqlalchemy import select

from portal.engagement.segments import services as segments
from portal.engagement.models import Segment
from portal.extensions import db
from portal.insights import funnel, journey_segments
from tests.unit.test_insights_funnel import COHORT, TZ, _cohort

pytestmark = pytest.mark.usefixtures("ctx")

EXPECTED = {
    "first_gift": {"F4"},
    "second_gift": {"F6"},
    "regular": set(),
    "renewed": {"F2", "F3"},
    "lapsed": {"F1", "F2", "F3", "F6"},
    "reactivated": {"F1", "F2", "F6"},
}


def _names(ids: dict[str, int], donor_ids) -> set[str]:
    by_id = {donor_id: name for name, donor_id in ids.items()}
    return {by_id[donor_id] for donor_id in donor_ids}


def _members(segment: Segment) -> set[int]:
    return set(db.session.scalars(segments.members_select(segment)))


@pytest.mark.parametrize("step", funnel.DROP_KEYS)
def test_each_drop_off_list_becomes_a_segment_with_exactly_its_donors(step):
    ids = _cohort()
    listed = funnel.dropped_donors(COHORT, step, tz_name=TZ, per_page=100)
    segment = journey_segments.create_dropped_segment(COHORT, step)
    assert _names(ids, [row.donor.id for row in listed.rows]) == EXPECTED[step]
    assert _names(ids, _members(segment)) == EXPECTED[step]
    assert segments.count_members(segment) == listed.total


def test_the_segment_reads_as_the_list_and_its_name_is_unique():
    _cohort()
    first = journey_segments.create_dropped_segment(COHORT, "second_gift")
    second = journey_segments.create_dropped_segment(COHORT, "second_gift")
    assert first.name == "Gave once and not again, came in 1 Jan 2023 to 31 Dec 2023"
    assert second.name == first.name + " (2)"
    assert segments.describe(first) == ["Journey began on or after 2023-01-01", "Journey began before 2024-01-01",
                                        "Made a first gift: yes", "Gave a second time: no"]


def test_a_list_narrowed_to_a_segment_keeps_that_segment_s_conditions():
    ids = _cohort()
    three_gifts = segments.save_segment(None, name="Three gifts or more", description="",
                                        rules={"match": "all", "conditions": [{"field": "gift_count", "op": "gte", "value": "3"}]})
    scope = f"segment:{three_gifts.id}"
    segment = journey_segments.create_dropped_segment(COHORT, "renewed", scope=scope)
    listed = funnel.dropped_donors(COHORT, "renewed", tz_name=TZ, donor_filter=segments.members_select(three_gifts))
    assert _names(ids, _members(segment)) == _names(ids, [row.donor.id for row in listed.rows]) == {"F3"}
    either = segments.save_segment(None, name="Either", description="", rules={"match": "any", "conditions": [
        {"field": "gift_count", "op": "gte", "value": "3"}, {"field": "has_email", "op": "false"}]})
    assert _names(ids, _members(journey_segments.create_dropped_segment(COHORT, "renewed", scope=f"segment:{either.id}"))) == {"F3"}


def test_a_scope_with_nested_any_groups_is_refused_and_nothing_is_saved():
    _cohort()
    nested = segments.save_segment(None, name="Nested", description="", rules={"match": "any", "conditions": [
        {"match": "all", "conditions": [{"field": "gift_count", "op": "gte", "value": "3"}]}]})
    with pytest.raises(journey_segments.NotExpressible):
        journey_segments.create_dropped_segment(COHORT, "renewed", scope=f"segment:{nested.id}")
    assert db.session.scalars(select(Segment.name)).all() == ["Nested"]


def test_a_scope_that_would_pass_the_condition_limit_is_refused():
    _cohort()
    many = segments.save_segment(None, name="Many", description="", rules={"match": "all", "conditions": [
        {"field": "gift_count", "op": "gte", "value": str(n)} for n in range(segments.MAX_CONDITIONS - 1)]})
    with pytest.raises(journey_segments.NotExpressible, match="at most 40 conditions"):
        journey_segments.create_dropped_segment(COHORT, "renewed", scope=f"segment:{many.id}")
    assert db.session.scalars(select(Segment.name)).all() == ["Many"]
