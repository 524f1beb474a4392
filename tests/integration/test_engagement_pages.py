"""The back-office pages through the test client: roles, forms with errors in place, htmx fragments."""
import os
from datetime import datetime

import pytest
from sqlalchemy import func, select

from portal.engagement import defaults
from portal.engagement.models import BulkSend, EmailMessage, EmailTemplate, Segment, Workflow, WorkflowStep
from portal.extensions import db
from tests.conftest import login, make_donor, make_gift, make_user

pytestmark = pytest.mark.usefixtures("ctx")
HTMX = {"HX-Request": "true"}


@pytest.fixture
def staff_client(app):
    """Signed-in clients by role. (The shared fixture's example.test addresses fail the login form's
    email check, which refuses special-use domains.)"""
    def sign_in(role: str):
        signed_in = app.test_client()
        with app.app_context():  # its own `g`, so an earlier sign-in in this test is not remembered
            email = make_user(role, f"{role}-{os.urandom(3).hex()}@example.org").email
            assert login(signed_in, email).status_code == 303
        return signed_in
    return sign_in


@pytest.fixture
def fundraiser(staff_client):
    return staff_client("fundraiser")


@pytest.fixture
def whitby(app):
    with app.app_context():
        ids = [make_donor(first_name=n, last_name="Sea", email=f"{n.lower()}@example.org", marketing_opt_in=True, city="Whitby").id
               for n in ("Ada", "Ben")]
        make_donor(first_name="Cy", last_name="Inland", email="cy@example.org", city="York")
        make_gift(ids[0], 150000, datetime(2026, 1, 10))
        return ids


def builder_form(**fields):
    return {"name": "Whitby supporters", "description": "", "match": "all", **fields}


ACCESS = [("support", "/staff/segments/", 403), ("support", "/staff/workflows/", 403), ("support", "/staff/templates/", 403),
          ("support", "/staff/mail/", 200), ("fundraiser", "/staff/mail/settings", 403), ("admin", "/staff/mail/settings", 200),
          ("fundraiser", "/staff/segments/", 200), ("fundraiser", "/staff/mail/sends", 200)]


def test_who_may_see_what(app, staff_client):
    clients = {role: staff_client(role) for role in ("support", "fundraiser", "admin")}
    seen = []
    for role, path, _ in ACCESS:
        with app.app_context():
            seen.append((role, path, clients[role].get(path).status_code))
    assert seen == ACCESS


def test_signed_out_people_are_sent_to_sign_in(client):
    assert client.get("/staff/segments/").status_code in (302, 303)


def test_builder_adds_and_removes_conditions_and_groups_without_saving(fundraiser, whitby):
    added = fundraiser.post("/staff/segments/builder", data=builder_form(**{"0.field": "city", "0.op": "eq", "0.value": "Whitby",
                                                                         "action": "add"}), headers=HTMX)
    html = added.get_data(as_text=True)
    assert added.status_code == 200 and "<html" not in html
    assert html.count('class="condition-row"') == 2 and 'data-count="2"' not in html  # the new, empty condition blocks the count
    grouped = fundraiser.post("/staff/segments/builder", data=builder_form(**{"0.field": "city", "0.op": "eq", "0.value": "Whitby",
                                                                           "action": "group"}), headers=HTMX).get_data(as_text=True)
    assert grouped.count('class="condition-row"') == 3 and 'name="1.match"' in grouped
    removed = fundraiser.post("/staff/segments/builder", data=builder_form(**{"0.field": "city", "0.op": "eq", "0.value": "Whitby",
                                                                           "1.field": "kind", "1.op": "eq", "1.value": "individual",
                                                                           "action": "remove:1"}), headers=HTMX).get_data(as_text=True)
    assert removed.count('class="condition-row"') == 1 and 'data-count="2"' in removed
    assert db.session.scalar(select(func.count()).select_from(Segment)) == 0


def test_changing_the_field_offers_its_own_comparisons(fundraiser, whitby):
    html = fundraiser.post("/staff/segments/builder", data=builder_form(**{"0.field": "last_gift", "0.op": "eq", "0.value": ""}),
                           headers=HTMX).get_data(as_text=True)
    assert '<option value="within_last" selected>' in html and 'placeholder="days"' in html


def test_live_count_follows_the_conditions_as_typed(fundraiser, whitby):
    count = lambda value: fundraiser.post("/staff/segments/count", data=builder_form(  # noqa: E731
        **{"0.field": "lifetime", "0.op": "gte", "0.value": value})).get_data(as_text=True)
    assert 'data-count="3"' in count("0")
    assert 'data-count="1"' in count("1,000")
    assert "Condition 1: Enter an amount such as 25 or 12.50." in count("lots")


def test_an_invalid_rule_is_refused_with_its_message_in_place(fundraiser, whitby):
    response = fundraiser.post("/staff/segments/new", data=builder_form(**{"0.field": "last_gift", "0.op": "within_last",
                                                                        "0.value": "a week"}))
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and "Enter a number of days, such as 30." in html and 'value="a week"' in html
    assert db.session.scalar(select(func.count()).select_from(Segment)) == 0


def test_saving_shows_members_pages_exports_and_deletes(fundraiser, whitby):
    response = fundraiser.post("/staff/segments/new", data=builder_form(**{"0.field": "city", "0.op": "eq", "0.value": "whitby"}))
    assert response.status_code == 303
    segment = db.session.scalar(select(Segment))
    page = fundraiser.get(f"/staff/segments/{segment.id}").get_data(as_text=True)
    assert "Ada Sea" in page and "Ben Sea" in page and "Inland" not in page and "2 donors" in page
    assert fundraiser.get(f"/staff/segments/{segment.id}/count").get_data(as_text=True).strip().endswith(">2</span>")
    export = fundraiser.get(f"/staff/segments/{segment.id}/export.csv")
    assert export.mimetype == "text/csv" and len(export.get_data(as_text=True).splitlines()) == 3
    edit = fundraiser.get(f"/staff/segments/{segment.id}/edit").get_data(as_text=True)
    assert 'value="whitby"' in edit and 'data-count="2"' in edit
    assert fundraiser.post(f"/staff/segments/{segment.id}/delete").status_code == 303
    assert fundraiser.get(f"/staff/segments/{segment.id}").status_code == 404


TEMPLATE = {"name": "Spring news", "description": "", "category": "marketing", "subject": "Spring news, {{ first_name }}",
            "html_body": "<p>Dear {{ first_name }},</p>", "text_body": "Dear {{ first_name }},\nNews."}


def test_a_template_with_a_syntax_error_is_not_saved_and_the_line_is_shown(fundraiser):
    response = fundraiser.post("/staff/templates/new", data={**TEMPLATE, "text_body": "Dear {{ first_name }},\n{% if gift_count %}"})
    assert response.status_code == 400 and "Line 2: Unexpected end of template" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(EmailTemplate)) == 0


def test_preview_for_a_real_donor_and_a_test_send_to_the_staff_member(app, fundraiser, whitby):
    assert fundraiser.post("/staff/templates/new", data=TEMPLATE).status_code == 303
    template = db.session.scalar(select(EmailTemplate))
    choices = fundraiser.get("/staff/templates/donors?q=ada").get_data(as_text=True)
    assert f'value="{whitby[0]}"' in choices and "Ben" not in choices
    preview = fundraiser.post("/staff/templates/preview", data={**TEMPLATE, "preview_donor_id": whitby[0]}).get_data(as_text=True)
    assert "Spring news, Ada" in preview and "Dear Ada," in preview
    broken = fundraiser.post("/staff/templates/preview", data={**TEMPLATE, "subject": "Hi {{ frist_name }}"}).get_data(as_text=True)
    assert "Line 1: there is no token called “frist_name”" in broken
    response = fundraiser.post(f"/staff/templates/{template.id}/test", data={"preview_donor_id": whitby[1]})
    assert response.status_code == 303
    sent = db.session.scalar(select(EmailMessage))
    assert sent.subject == "[Test] Spring news, Ben" and sent.to_email.startswith("fundraiser-") and sent.donor_id is None


def test_a_template_used_by_a_workflow_cannot_be_deleted(fundraiser):
    defaults.seed()
    template = db.session.scalar(select(EmailTemplate).where(EmailTemplate.key == "welcome"))
    response = fundraiser.post(f"/staff/templates/{template.id}/delete", follow_redirects=True)
    assert "used by “Welcome series”" in response.get_data(as_text=True)
    assert db.session.get(EmailTemplate, template.id) is not None


def test_workflow_pages_create_add_steps_switch_on_and_show_runs(fundraiser, whitby):
    bad = fundraiser.post("/staff/workflows/new", data={"name": "Quiet ones", "trigger": "inactive", "conversion_days": "30",
                                                        "segment_id": ""})
    assert bad.status_code == 400 and "Enter days without activity." in bad.get_data(as_text=True)
    created = fundraiser.post("/staff/workflows/new", data={"name": "Gift thanks", "trigger": "gift_received",
                                                            "conversion_days": "30", "segment_id": ""})
    workflow = db.session.scalar(select(Workflow))
    assert created.status_code == 303 and created.headers["Location"].endswith(f"/staff/workflows/{workflow.id}")
    refused = fundraiser.post(f"/staff/workflows/{workflow.id}/toggle", data={"enabled": "1"}, follow_redirects=True)
    assert "Add at least one step" in refused.get_data(as_text=True)
    options = fundraiser.get("/staff/workflows/step-options?kind=create_task", headers=HTMX).get_data(as_text=True)
    assert 'name="title"' in options and 'name="role"' in options
    invalid = fundraiser.post(f"/staff/workflows/{workflow.id}/steps", data={"kind": "create_task", "delay_days": "0", "title": "",
                                                                            "role": "fundraiser"})
    assert invalid.status_code == 400 and "Enter the task title." in invalid.get_data(as_text=True)
    assert fundraiser.post(f"/staff/workflows/{workflow.id}/steps", data={
        "kind": "create_task", "delay_days": "0", "title": "Call {{ full_name }}", "role": "support"}).status_code == 303
    assert fundraiser.post(f"/staff/workflows/{workflow.id}/steps", data={"kind": "add_tag", "delay_days": "3",
                                                                          "tag": "thanked"}).status_code == 303
    assert fundraiser.post(f"/staff/workflows/{workflow.id}/toggle", data={"enabled": "1"}).status_code == 303
    make_gift(whitby[1], 2000, datetime.now().replace(microsecond=0))
    page = fundraiser.get(f"/staff/workflows/{workflow.id}").get_data(as_text=True)
    assert "Ben Sea" in page and "1. Done" in page and "Reached <" not in page
    first, second = db.session.scalars(select(WorkflowStep).order_by(WorkflowStep.position)).all()
    assert fundraiser.post(f"/staff/workflows/{workflow.id}/steps/{second.id}/move", data={"direction": "up"}).status_code == 303
    db.session.expire_all()
    assert [s.kind for s in db.session.get(Workflow, workflow.id).steps] == ["add_tag", "create_task"]
    edit = fundraiser.post(f"/staff/workflows/{workflow.id}/steps/{second.id}", data={"delay_days": "x", "tag": "thanked"})
    assert edit.status_code == 400 and "whole number" in edit.get_data(as_text=True)
    runs = fundraiser.get(f"/staff/workflows/{workflow.id}?donor={whitby[0]}", headers=HTMX).get_data(as_text=True)
    assert "<html" not in runs and "Nobody yet" in runs
    other = fundraiser.post("/staff/workflows/new", data={"name": "Other", "trigger": "birthday", "conversion_days": "30",
                                                          "segment_id": ""})
    assert other.status_code == 303
    other_id = db.session.scalar(select(Workflow.id).where(Workflow.name == "Other"))
    assert fundraiser.post(f"/staff/workflows/{other_id}/steps/{first.id}/delete").status_code == 404
    assert fundraiser.post(f"/staff/workflows/{workflow.id}/delete").status_code == 303
    assert db.session.get(Workflow, workflow.id) is None


# The donor page's gift and plan forms (another domain) still pass SelectField choices as tuples.
@pytest.mark.filterwarnings("ignore:Passing SelectField choices as tuples:DeprecationWarning")
def test_the_donor_page_lists_their_workflows(fundraiser, whitby):
    workflow = Workflow(name="Gift thanks", trigger="gift_received", enabled=True,
                        steps=[WorkflowStep(position=1, delay_days=0, kind="add_tag", config={"tag": "thanked"})])
    db.session.add(workflow)
    db.session.commit()
    make_gift(whitby[1], 2000, datetime.now().replace(microsecond=0))
    page = fundraiser.get(f"/staff/donors/{whitby[1]}").get_data(as_text=True)
    assert "Gift thanks" in page and "1 step done" in page and "&lt;section" not in page


def test_mail_log_filters_views_and_retries(app, fundraiser, whitby):
    from portal.engagement.delivery import outbox

    outbox.queue_email("ada@example.org", "Receipt for your gift", "x", donor_id=whitby[0], idempotency_key="r:1")
    failed = outbox.queue_email("ben@example.org", "Spring news", "x", donor_id=whitby[1], category="marketing",
                                idempotency_key="r:2")
    db.session.commit()
    failed.status, failed.last_error = "failed", "550 5.1.1 no such user"
    db.session.commit()
    listing = fundraiser.get("/staff/mail/?status=failed").get_data(as_text=True)
    assert "Spring news" in listing and "Receipt for your gift" not in listing and "550 5.1.1" in listing
    search = fundraiser.get("/staff/mail/?q=receipt", headers=HTMX).get_data(as_text=True)
    assert "Receipt for your gift" in search and "<html" not in search
    view = fundraiser.get(f"/staff/mail/{failed.id}").get_data(as_text=True)
    assert "List-Unsubscribe" in view and failed.message_id.replace("<", "&lt;").replace(">", "&gt;") in view
    assert fundraiser.post(f"/staff/mail/{failed.id}/retry").status_code == 303
    db.session.expire_all()
    assert db.session.get(EmailMessage, failed.id).status == "stored"
    assert fundraiser.get("/staff/mail/999999").status_code == 404


def test_send_to_a_segment_shows_the_audience_then_progress(fundraiser, whitby):
    assert fundraiser.post("/staff/templates/new", data=TEMPLATE).status_code == 303
    assert fundraiser.post("/staff/segments/new", data=builder_form(**{"0.field": "city", "0.op": "present"})).status_code == 303
    template_id, segment_id = db.session.scalar(select(EmailTemplate.id)), db.session.scalar(select(Segment.id))
    audience = fundraiser.get(f"/staff/mail/sends/new?template_id={template_id}&segment_id={segment_id}", headers=HTMX)
    text = audience.get_data(as_text=True)
    assert "<html" not in text and "<strong>2</strong> of 3 donors" in text and "1 left out: no marketing consent" in text
    started = fundraiser.post("/staff/mail/sends/new", data={"template_id": template_id, "segment_id": segment_id, "name": ""})
    send = db.session.scalar(select(BulkSend))
    assert started.status_code == 303 and started.headers["Location"].endswith(f"/staff/mail/sends/{send.id}")
    progress = fundraiser.get(f"/staff/mail/sends/{send.id}", headers=HTMX).get_data(as_text=True)
    assert 'id="send-progress"' in progress and "hx-trigger" not in progress and 'aria-valuenow="100"' in progress
    assert db.session.scalar(select(func.count()).select_from(EmailMessage).where(EmailMessage.status == "stored")) == 2
    missing = fundraiser.post("/staff/mail/sends/new", data={"template_id": "", "segment_id": segment_id})
    assert missing.status_code == 400 and "Choose a template." in missing.get_data(as_text=True)


def test_a_running_send_keeps_polling_and_can_be_stopped(fundraiser, whitby):
    from portal.engagement.models import EmailTemplate as Template

    template = Template(name="T", category="transactional", subject="S", text_body="x")
    segment = Segment(name="All", rules={"match": "all", "conditions": []})
    db.session.add_all([template, segment])
    db.session.commit()
    send = BulkSend(template_id=template.id, segment_id=segment.id, name="Queued", category="transactional", subject="S",
                    text_body="x", status="sending", total=1)
    db.session.add(send)
    db.session.flush()
    db.session.add(EmailMessage(to_email="ada@example.org", subject="S", text_body="", idempotency_key="q:1", message_id="<q1@t>",
                                bulk_send_id=send.id, needs_render=True, donor_id=whitby[0]))
    db.session.commit()
    polling = fundraiser.get(f"/staff/mail/sends/{send.id}", headers=HTMX).get_data(as_text=True)
    assert 'hx-trigger="every 1s"' in polling
    assert fundraiser.post(f"/staff/mail/sends/{send.id}/cancel").status_code == 303
    db.session.expire_all()
    assert db.session.get(BulkSend, send.id).status == "done"
    assert db.session.scalar(select(EmailMessage.status)) == "skipped"


def test_sending_rules_are_validated(staff_client):
    admin = staff_client("admin")
    response = admin.post("/staff/mail/settings", data={"marketing_weekly_cap": "0"})
    assert response.status_code == 400 and "Between 1 and 50." in response.get_data(as_text=True)
    assert admin.post("/staff/mail/settings", data={"marketing_weekly_cap": "2", "track_opens": "y"}).status_code == 303
    from portal.engagement.delivery import sending_rules as engagement_settings

    db.session.expire_all()
    rules = engagement_settings.current()
    assert (rules.marketing_weekly_cap, rules.track_opens, rules.track_clicks) == (2, True, False)


def test_state_changes_need_the_csrf_token(fundraiser):
    assert fundraiser.post("/staff/segments/count", data={}, csrf=False).status_code == 400
