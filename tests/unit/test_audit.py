from portal.audit.services import events_for, record
import pytest

from portal.extensions import db

pytestmark = pytest.mark.usefixtures("ctx")


def test_an_event_commits_with_the_change_it_records():
    record("donor.export", actor_label="admin@example.org", summary="Exported 3 donors", detail={"rows": 3})
    db.session.commit()
    record("donor.erase", actor_label="admin@example.org", donor_id=7)
    db.session.rollback()

    events = events_for()
    assert [(e.action, e.summary, e.detail) for e in events] == [("donor.export", "Exported 3 donors", {"rows": 3})]


def test_events_are_read_newest_first_and_narrowed_by_donor():
    for donor_id in (1, 2, 1):
        record("donor.view", actor_label="support@example.org", donor_id=donor_id)
    db.session.commit()

    assert [e.donor_id for e in events_for(donor_id=1)] == [1, 1]
    assert [e.id for e in events_for()] == sorted((e.id for e in events_for()), reverse=True)
