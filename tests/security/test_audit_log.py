"""The audit log: exports (who, which list, how many rows), imports, settings and staff consent changes and
donor records viewed are recorded with the change; the trail is append-only but for the read log's purge;
administrators search and export it."""
import csv
import io
import re
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, update

from portal import schedule
from portal.audit import services as audit
from portal.audit.models import AppendOnlyError, AuditEvent
from portal.engagement.segments import services as segments
from portal.extensions import db
from portal.timeutil import utcnow
from tests.conftest import login, make_donor, make_user


def events(app, action=None):
    with app.app_context():
        return [(e.action, e.actor_label, e.actor_user_id, e.donor_id, e.summary, e.detail)
                for e in reversed(audit.events_for(action=action))]


def _rows(response):
    assert response.status_code == 200
    return list(csv.reader(io.StringIO(response.get_data(as_text=True))))


# ---------------------------------------------------------------- what is recorded

def test_exports_record_who_which_list_and_how_many_rows(app, staff_client):
    with app.app_context():
        for name in ("Ada", "Ben", "Cy"):
            make_donor(first_name=name, email=f"{name.lower()}@example.org", city="Whitby" if name != "Cy" else "York")
        segment_id = segments.save_segment(None, name="Whitby", description="", rules={
            "match": "all", "conditions": [{"field": "city", "op": "eq", "value": "Whitby"}]}).id
    client = staff_client("fundraiser")
    assert len(_rows(client.get("/staff/donors/export.csv?q=ada"))) - 1 == 1
    assert len(_rows(client.get(f"/staff/segments/{segment_id}/export.csv"))) - 1 == 2
    _rows(client.get("/staff/insights/funnel/export.csv?start=2024-01-01&end=2024-12-31"))
    recorded = {action: (label, user_id, summary, detail) for action, label, user_id, _donor, summary, detail in events(app)}
    label, user_id, summary, detail = recorded["donor.export"]
    assert (user_id, summary, detail) == (client.user_id, "Exported donors: 1 row", {"list": "donors", "rows": 1, "filters": {"q": "ada"}})
    assert label.startswith("fundraiser-")
    assert recorded["segment.export"][2:] == ("Exported segment “Whitby”: 2 rows",
                                              {"list": "segment “Whitby”", "rows": 2, "segment": segment_id})
    assert recorded["insights.export"][3]["list"] == "funnel-2024-01-01-to-2024-12-31.csv"


def test_an_import_is_recorded_with_who_ran_it_and_the_rows_written(app, staff_client):
    client = staff_client("fundraiser")
    upload = client.post("/staff/imports/", content_type="multipart/form-data", data={
        "kind": "donors", "file": (io.BytesIO(b"First,Last,Email\nAda,Lovelace,ada@example.org\nBen,Ng,ben@example.org\n"), "people.csv")})
    batch_id = int(re.search(r"/staff/imports/(\d+)", upload.headers["Location"]).group(1))
    assert client.post(f"/staff/imports/{batch_id}/columns", data={
        "column_0": "first_name", "column_1": "last_name", "column_2": "email", "day_first": "day"}).status_code == 303
    assert client.post(f"/staff/imports/{batch_id}/confirm", data={}).status_code == 303
    [(action, _label, user_id, _donor, summary, detail)] = events(app, "import.donors")
    assert (user_id, summary) == (client.user_id, "Imported 2 donors from people.csv")
    assert (detail["batch_id"], detail["filename"], detail["rows_written"]) == (batch_id, "people.csv", 2)


def test_settings_changes_are_recorded_with_what_changed(app, staff_client):
    from portal.settings.services import organisation

    with app.app_context():
        org = organisation()
        form = {"name": org.name, "currency": "EUR", "timezone": org.timezone, "support_email": org.support_email,
                "impact_line": org.impact_line}
    client = staff_client("admin")
    assert client.post("/staff/admin/organisation", data=form).status_code == 303
    [(_action, _label, user_id, _donor, summary, detail)] = events(app, "settings.update")
    assert user_id == client.user_id and summary == "Organisation: changed currency"
    assert detail == {"settings": "Organisation", "changes": {"currency": ["GBP", "EUR"]}}
    assert client.post("/staff/admin/organisation", data=form).status_code == 303
    assert len(events(app, "settings.update")) == 1, "saving without a change records nothing"


def test_consent_changed_by_staff_is_recorded_but_not_a_donors_own(app, staff_client):
    with app.app_context():
        donor = make_donor(first_name="Ada", last_name="Lovelace", email="ada@example.org")
        make_user("donor", "ada@example.org", donor_id=donor.id)
        donor_id = donor.id
    client = staff_client("fundraiser")
    response = client.post(f"/staff/donors/{donor_id}/edit", data={"kind": "individual", "first_name": "Ada", "last_name": "Lovelace",
                                                                  "email": "ada@example.org", "preferred_channel": "email",
                                                                  "marketing_opt_in": "y"})
    assert response.status_code == 303
    donor_client = app.test_client()
    login(donor_client, "ada@example.org")
    assert donor_client.post("/me/details/email-preferences", data={}).status_code == 303  # the donor opts out
    assert [(e[2], e[3], e[4], e[5]) for e in events(app, "donor.consent")] == [
        (client.user_id, donor_id, "Opted the donor in to marketing email", {"marketing_opt_in": True, "source": "staff"})]


def test_staff_user_changes_by_an_administrator_are_recorded_without_the_password(app, staff_client):
    client = staff_client("admin")
    secret = "a-long-initial-secret-42"
    assert client.post("/staff/admin/users", data={"name": "Sam Lee", "email": "sam@example.org", "role": "support",
                                                   "password": secret}).status_code == 303
    with app.app_context():
        from portal.auth.models import User

        sam_id = db.session.scalar(select(User.id).where(User.email == "sam@example.org"))
    assert client.post(f"/staff/admin/users/{sam_id}", data={"name": "Sam Lee", "role": "fundraiser", "active": "y",
                                                             "password": "another-long-secret-43"}).status_code == 303
    recorded = [(action, user_id, summary, detail) for action, _label, user_id, _donor, summary, detail in events(app)
                if action.startswith("user.")]
    assert recorded == [
        ("user.created", client.user_id, "Added sam@example.org as Support specialist", {"user_id": sam_id, "role": "support"}),
        ("user.updated", client.user_id, "Changed sam@example.org: role support → fundraiser",
         {"user_id": sam_id, "changes": {"role": ["support", "fundraiser"]}, "sessions_ended": 0}),
        ("user.password_changed", client.user_id, "Password changed for sam@example.org", {"user_id": sam_id, "sessions_ended": 0}),
    ]
    assert "secret" not in repr(recorded)


def test_opening_a_donor_record_is_in_the_read_log_but_redrawing_its_timeline_is_not(app, staff_client):
    with app.app_context():
        donor_id = make_donor(first_name="Ada", email="ada@example.org").id
    client = staff_client("support")
    assert client.get(f"/staff/donors/{donor_id}").status_code == 200
    assert client.get(f"/staff/donors/{donor_id}?group=gifts", headers={"HX-Request": "true"}).status_code == 200
    assert [(e[2], e[3], e[4]) for e in events(app, "donor.view")] == [(client.user_id, donor_id, "Viewed the donor's record")]


# ---------------------------------------------------------------- append-only, and the read log's retention

@pytest.mark.usefixtures("ctx")
def test_the_app_cannot_change_or_delete_an_event():
    event = audit.record("donor.export", actor_label="a@example.org", summary="Exported donors: 3 rows")
    db.session.commit()
    event.summary = "Exported donors: 0 rows"
    with pytest.raises(AppendOnlyError):
        db.session.commit()
    db.session.rollback()
    db.session.delete(event)
    with pytest.raises(AppendOnlyError):
        db.session.commit()
    db.session.rollback()
    with pytest.raises(AppendOnlyError):
        db.session.execute(update(AuditEvent).values(summary="rewritten"))
    db.session.rollback()
    assert db.session.scalar(select(AuditEvent.summary)) == "Exported donors: 3 rows"


@pytest.mark.usefixtures("ctx")
def test_the_read_log_is_purged_after_its_retention_and_nothing_else_is(app):
    now = utcnow()
    for action, age in (("donor.view", 91), ("donor.view", 89), ("donor.export", 400), ("settings.update", 91)):
        db.session.add(AuditEvent(action=action, actor_label="a@example.org", occurred_at=now - timedelta(days=age)))
    db.session.commit()
    assert audit.purge_read_log(now=now) == 1
    assert sorted((e.action, (now - e.occurred_at).days) for e in audit.events_for()) == [
        ("donor.export", 400), ("donor.view", 89), ("settings.update", 91)]
    app.config["AUDIT_READ_LOG_DAYS"] = 30
    try:
        assert audit.purge_read_log(now=now) == 1
    finally:
        app.config["AUDIT_READ_LOG_DAYS"] = 90
    assert "audit_read_log_purge" in {job.name for job in schedule.registered()}


# ---------------------------------------------------------------- the administrators' page

@pytest.fixture
def trail(app):
    with app.app_context():
        rows = [("donor.view", "sam@example.org", 7, 11, datetime(2026, 3, 1, 10)),
                ("donor.export", "sam@example.org", 7, None, datetime(2026, 3, 2, 10)),
                ("settings.update", "ana@example.org", 8, None, datetime(2026, 3, 5, 10)),
                ("donor.consent", "ana@example.org", 8, 11, datetime(2026, 4, 1, 10))]
        for action, label, user_id, donor_id, when in rows:
            db.session.add(AuditEvent(action=action, actor_label=label, actor_user_id=user_id, donor_id=donor_id,
                                      occurred_at=when, summary=f"{action} by {label}"))
        db.session.add(AuditEvent(action="donor.export", actor_label="eve@example.org", occurred_at=datetime(2026, 3, 3),
                                  summary='=HYPERLINK("http://evil.example/","x")'))
        db.session.commit()


def _listed(response) -> list[str]:
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return re.findall(r'<td class="break-anywhere"><code>([^<]+)</code></td>\s*<td>([^<]+)</td>', response.get_data(as_text=True))


def test_only_administrators_see_the_audit_log(staff_client, client):
    for role in ("support", "fundraiser"):
        assert staff_client(role).get("/staff/admin/audit/").status_code == 403
        assert staff_client(role).get("/staff/admin/audit/export.csv").status_code == 403
    assert client.get("/staff/admin/audit/").status_code in (302, 303)
    page = staff_client("admin").get("/staff/admin/audit/").get_data(as_text=True)
    assert "Audit log" in page and 'href="/staff/admin/audit/"' in page


@pytest.mark.parametrize("query, expected", [
    ("user=sam@", ["donor.export", "donor.view"]),
    ("user=8", ["donor.consent", "settings.update"]),
    ("donor=11", ["donor.consent", "donor.view"]),
    ("action=donor.export", ["donor.export", "donor.export"]),
    ("action=donor", ["donor.consent", "donor.export", "donor.export", "donor.view"]),
    ("start=2026-03-02&end=2026-03-05", ["settings.update", "donor.export", "donor.export"]),
])
def test_administrators_search_by_user_donor_action_and_date(staff_client, trail, query, expected):
    listed = [action for action, _summary in _listed(staff_client("admin").get(f"/staff/admin/audit/?{query}"))]
    assert listed == expected


def test_bad_search_values_get_field_errors(staff_client, trail):
    response = staff_client("admin").get("/staff/admin/audit/?donor=abc&start=2026-13-01")
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Enter a donor number, such as 1042." in html and "Enter a date as YYYY-MM-DD" in html


def test_the_export_is_safe_to_open_and_is_itself_recorded(app, staff_client, trail):
    client = staff_client("admin")
    rows = _rows(client.get("/staff/admin/audit/export.csv?action=donor.export"))
    assert rows[0] == list(audit.EXPORT_COLUMNS)
    assert [row[5] for row in rows[1:]] == ["donor.export by sam@example.org", '\'=HYPERLINK("http://evil.example/","x")']
    [(_action, _label, user_id, _donor, summary, detail)] = events(app, "audit.export")
    assert (user_id, summary, detail) == (client.user_id, "Exported the audit log: 2 rows",
                                          {"list": "the audit log", "rows": 2, "filters": {"action": "donor.export"}})
