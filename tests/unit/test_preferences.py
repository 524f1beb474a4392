"""Per-topic email preferences on top of the global marketing consent."""
import pytest
from sqlalchemy import select

from portal.donors import preferences
from portal.donors.models import Donor
from portal.extensions import db
from portal.journey.models import Touchpoint
from tests.conftest import make_donor

pytestmark = pytest.mark.usefixtures("ctx")


def consent_touchpoints(donor_id):
    return db.session.scalars(select(Touchpoint.summary).where(Touchpoint.donor_id == donor_id,
                                                               Touchpoint.kind == "consent_changed").order_by(Touchpoint.id)).all()


def test_marketing_needs_consent_and_no_opt_out_from_the_topic():
    donor = make_donor(email="ada@example.org", marketing_opt_in=True)
    assert preferences.can_email(donor, "appeals") and preferences.can_email(donor)
    preferences.unsubscribe(donor, "appeals", source="unsubscribe link")
    assert not preferences.can_email(donor, "appeals")
    assert preferences.can_email(donor, "news") and preferences.can_email(donor)
    assert db.session.scalars(select(Donor.id).where(preferences.emailable_condition("appeals"))).all() == []
    assert db.session.scalars(select(Donor.id).where(preferences.emailable_condition("news"))).all() == [donor.id]


def test_without_consent_no_topic_may_be_emailed():
    donor = make_donor(email="ada@example.org")
    assert not any(preferences.can_email(donor, topic) for topic in preferences.TOPICS)


def test_global_unsubscribe_records_date_source_and_touchpoint_once():
    donor = make_donor(email="ada@example.org", marketing_opt_in=True)
    assert preferences.unsubscribe(donor, None, source="unsubscribe link") is True
    assert preferences.unsubscribe(donor, None, source="unsubscribe link") is False
    db.session.refresh(donor)
    assert donor.unsubscribed_at is not None and donor.marketing_consent_source == "unsubscribe link"
    assert consent_touchpoints(donor.id)[-1] == "Opted out of marketing email (unsubscribe link)"
    assert len(consent_touchpoints(donor.id)) == 1


def test_preference_centre_saves_consent_and_topics_and_records_only_changes():
    donor = make_donor(email="ada@example.org")
    changed = preferences.save_preferences(donor, marketing=True, topics={"news", "impact"}, source="preference centre")
    assert changed
    assert preferences.opted_out_topics(donor.id) == {"appeals", "events"}
    assert donor.can_receive_marketing and donor.marketing_consent_source == "preference centre"
    assert not preferences.save_preferences(donor, marketing=True, topics={"news", "impact"}, source="preference centre")
    assert len(consent_touchpoints(donor.id)) == 2


def test_unknown_topics_are_refused():
    donor = make_donor(email="ada@example.org", marketing_opt_in=True)
    with pytest.raises(preferences.PreferenceError):
        preferences.can_email(donor, "lottery")


def test_choosing_causes_keeps_interests_staff_recorded():
    donor = make_donor(interests=["lifeboats", "legacy-curious"])
    assert preferences.interests_with_causes(donor, ["water"]) == ["legacy-curious", "water"]
    with pytest.raises(preferences.PreferenceError):
        preferences.interests_with_causes(donor, ["anything"])
