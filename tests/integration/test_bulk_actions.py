"""Bulk actions on the donor list and on a segment: selection, confirmation, the job for large lists, one audit entry."""
import csv
import io

import pytest
from sqlalchemy import select

from portal.audit.models import AuditEvent
from portal.bulk_actions import services as bulk_actions
from portal.donors.models import Tag, donor_tags
from portal.engagement.models import Segment, Workflow, WorkflowRun, WorkflowStep
from portal.extensions import db
from portal.retention.models import RelationshipManager
from portal.support.models import Task
from tests.conftest import make_donor, make_user


@pytest.fixture
def donors(app):
    with app.app_context():
        ids = [make_donor(first_name=f"Ann{i}", last_name="Lee", email=f"ann{i}@example.org", tags=["volunteer"] if i % 2 else []).id
               for i in range(6)]
        ids.append(make_donor(first_name="Bob", last_name="Stone", email="bob@example.org").id)
    return ids


def _tagged(tag: str) -> set[int]:
    return set(db.session.scalars(select(donor_tags.c.donor_id).join(Tag, Tag.id == donor_tags.c.tag_id).where(Tag.name == tag)))


def _audit(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_tag_all_matching_a_search_with_one_audit_entry(app, donors, staff_client):
    client = staff_client("fundraiser")
    listing = client.get("/staff/donors/?q=lee").get_data(as_text=True)
    assert 'name="all_matching"' in listing and "All 6 matching" in listing and 'name="filter_q" value="lee"' in listing
    confirm = client.post("/staff/donors/bulk/", data={"all_matching": "1", "filter_q": "lee", "action": "tag"})
    assert confirm.status_code == 200 and '<strong id="bulk-count">6</strong>' in confirm.get_data(as_text=True)
    empty = client.post("/staff/donors/bulk/run", data={"all_matching": "1", "filter_q": "lee", "action": "tag", "tag_name": ""})
    assert empty.status_code == 400 and "Enter one tag" in empty.get_data(as_text=True)
    done = client.post("/staff/donors/bulk/run", data={"all_matching": "1", "filter_q": "lee", "action": "tag", "tag_name": "Spring Appeal"})
    assert done.status_code == 303 and done.headers["Location"].endswith("/staff/donors/?q=lee")
    with app.app_context():
        assert _tagged("spring appeal") == set(donors[:6])
        [event] = _audit("donor.bulk_tag")
        assert event.detail["count"] == 6 and "q=lee" in event.summary
    client.post("/staff/donors/bulk/run", data={"ids": donors[:2], "action": "untag", "tag_name": "spring appeal"})
    with app.app_context():
        assert _tagged("spring appeal") == set(donors[2:6])


def test_ticked_rows_only_and_nothing_ticked_is_an_error(app, donors, staff_client):
    client = staff_client("fundraiser")
    assert client.post("/staff/donors/bulk/", data={"action": "tag"}).status_code == 400
    client.post("/staff/donors/bulk/run", data={"ids": [donors[0], donors[6]], "action": "tag", "tag_name": "vip"})
    with app.app_context():
        assert _tagged("vip") == {donors[0], donors[6]}


def test_manager_tasks_workflow_and_export(app, donors, staff_client):
    client = staff_client("fundraiser")
    with app.app_context():
        manager = make_user("fundraiser", "manager@staff.example.org").id
        workflow = Workflow(name="Welcome", trigger="gift_received", enabled=True)
        db.session.add(workflow)
        db.session.flush()
        db.session.add(WorkflowStep(workflow_id=workflow.id, position=1, kind="create_task", delay_days=2, config={"title": "Hi"}))
        db.session.commit()
        workflow_id = workflow.id
    selection = {"all_matching": "1", "filter_tag": "volunteer"}
    assert client.post("/staff/donors/bulk/run", data={**selection, "action": "manager", "manager_id": "999"}).status_code == 400
    client.post("/staff/donors/bulk/run", data={**selection, "action": "manager", "manager_id": manager})
    client.post("/staff/donors/bulk/run", data={**selection, "action": "task", "task_title": "Thank for volunteering", "task_due": "2027-01-31"})
    client.post("/staff/donors/bulk/run", data={**selection, "action": "workflow", "workflow_id": workflow_id})
    volunteers = {donors[1], donors[3], donors[5]}
    with app.app_context():
        assert set(db.session.scalars(select(RelationshipManager.donor_id).where(RelationshipManager.user_id == manager))) == volunteers
        assert set(db.session.scalars(select(Task.donor_id).where(Task.title == "Thank for volunteering"))) == volunteers
        assert set(db.session.scalars(select(WorkflowRun.donor_id).where(WorkflowRun.workflow_id == workflow_id))) == volunteers
        assert [len(_audit(f"donor.bulk_{a}")) for a in ("manager", "task", "workflow")] == [1, 1, 1]
    exported = client.post("/staff/donors/bulk/run", data={**selection, "action": "export"})
    rows = list(csv.DictReader(io.StringIO(exported.get_data(as_text=True))))
    assert {int(r["id"]) for r in rows} == volunteers
    with app.app_context():
        assert _audit("donor.bulk_export")[0].detail["count"] == 3


def test_a_segment_s_members(app, donors, staff_client):
    with app.app_context():
        segment = Segment(name="Everyone", rules={"match": "all", "conditions": []})
        db.session.add(segment)
        db.session.commit()
        segment_id = segment.id
    client = staff_client("fundraiser")
    page = client.get(f"/staff/donors/bulk/?segment={segment_id}&action=tag").get_data(as_text=True)
    assert '<strong id="bulk-count">7</strong>' in page
    client.post("/staff/donors/bulk/run", data={"segment": segment_id, "action": "tag", "tag_name": "all"})
    with app.app_context():
        assert _tagged("all") == set(donors)


def test_large_selections_run_as_a_job_with_progress(app, donors, staff_client, monkeypatch):
    monkeypatch.setattr(bulk_actions, "INLINE_LIMIT", 3)
    monkeypatch.setattr(bulk_actions, "CHUNK", 2)
    client = staff_client("fundraiser")
    started = client.post("/staff/donors/bulk/run", data={"all_matching": "1", "action": "tag", "tag_name": "big"})
    assert started.status_code == 303 and "/staff/donors/bulk/jobs/" in started.headers["Location"]
    page = client.get(started.headers["Location"]).get_data(as_text=True)
    assert "Done</strong> for 7 donors" in page
    with app.app_context():
        assert _tagged("big") == set(donors)
        [event] = _audit("donor.bulk_tag")
        assert event.detail["count"] == 7


def test_support_staff_cannot_run_bulk_actions(app, donors, staff_client):
    client = staff_client("support")
    assert client.post("/staff/donors/bulk/run", data={"ids": donors[:1], "action": "tag", "tag_name": "x"}).status_code == 403
    assert 'id="bulk-form"' not in client.get("/staff/donors/").get_data(as_text=True)
