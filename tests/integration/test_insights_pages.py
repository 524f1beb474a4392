"""The insight pages through the test client: access, charts with tables, exports, refresh, bad input."""
import csv
import io
from datetime import datetime

import pytest

from portal.extensions import db
from portal.journey import services as journey
from tests.conftest import make_donor, make_gift

REPORT_PAGES = ["funnel", "retention", "cohorts", "lifetime", "engagement"]


@pytest.fixture
def history(app):
    with app.app_context():
        ids = []
        for i, gifts in enumerate([[(2023, 2, 1), (2024, 2, 1)], [(2023, 5, 1)], [(2024, 3, 1), (2024, 4, 1), (2024, 9, 1)]]):
            donor = make_donor(first_name=f"Donor{i}", last_name="Page", email=f"page{i}@example.org")
            donor.created_at = datetime(2023, 1, 1, 12)
            db.session.commit()
            ids.append(donor.id)
            for year, month, day in gifts:
                make_gift(donor.id, 2000, datetime(year, month, day, 12))
        journey.record(ids[0], "email_sent", "Spring appeal", occurred_at=datetime(2024, 1, 20, 9))
        journey.record(ids[2], "kb_search", "gift aid", occurred_at=datetime(2024, 2, 20, 9))
        db.session.commit()
        db.session.remove()
        return ids


def _rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.get_data(as_text=True))))


@pytest.mark.parametrize("name", REPORT_PAGES)
def test_each_report_shows_a_chart_with_its_table_and_definitions(staff_client, history, name):
    client = staff_client("fundraiser")
    response = client.get(f"/staff/insights/{name}?start=2023-01-01&end=2024-12-31")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'role="img"' in html and "<title id=" in html and "<desc id=" in html
    assert "<table" in html and "What the numbers mean" in html
    assert "Calculated" in html and "Export CSV" in html


def test_roles_and_sign_in(client, staff_client):
    assert client.get("/staff/insights/").status_code in (302, 303)
    assert staff_client("support").get("/staff/insights/retention").status_code == 403
    assert staff_client("admin").get("/staff/insights/").status_code == 200
    nav = staff_client("fundraiser").get("/staff/").get_data(as_text=True)
    assert 'href="/staff/insights/"' in nav


def test_funnel_numbers_on_the_page_and_in_the_csv(staff_client, history):
    client = staff_client("fundraiser")
    html = client.get("/staff/insights/funnel?start=2023-01-01&end=2023-12-31").get_data(as_text=True)
    assert "<strong>3</strong> donors who came in" in html
    response = client.get("/staff/insights/funnel/export.csv?start=2023-01-01&end=2023-12-31")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "funnel-2023-01-01-to-2023-12-31.csv" in response.headers["Content-Disposition"]
    rows = _rows(response)
    assert rows[0][:3] == ["step", "label", "donors"]
    assert [(r[0], r[2]) for r in rows[1:6]] == [("entered", "3"), ("first_gift", "3"), ("second_gift", "2"),
                                                 ("regular", "1"), ("renewed", "0")]


def test_a_quarter_chooses_the_funnel_cohort(staff_client, history):
    html = staff_client("fundraiser").get("/staff/insights/funnel?cohort=2023-Q1").get_data(as_text=True)
    assert "<strong>3</strong> donors who came in between 1 Jan 2023 and 31 Mar 2023" in html
    assert staff_client("fundraiser").get("/staff/insights/funnel?cohort=2023-Q9").status_code == 400


def test_dropped_donors_list_and_export(staff_client, history):
    client = staff_client("fundraiser")
    page = client.get("/staff/insights/funnel/dropped?step=second_gift&start=2023-01-01&end=2023-12-31")
    assert page.status_code == 200 and "Donor1 Page" in page.get_data(as_text=True)
    rows = _rows(client.get("/staff/insights/funnel/dropped.csv?step=second_gift&start=2023-01-01&end=2023-12-31"))
    assert [r[0] for r in rows[1:]] == [str(history[1])]
    assert client.get("/staff/insights/funnel/dropped?step=nope").status_code == 404


def test_lybunt_list_and_export(staff_client, history):
    client = staff_client("fundraiser")
    page = client.get("/staff/insights/retention/donors/lybunt?start=2024-01-01&end=2024-12-31")
    assert page.status_code == 200 and "Donor1 Page" in page.get_data(as_text=True)
    rows = _rows(client.get("/staff/insights/retention/donors/lybunt.csv?start=2024-01-01&end=2024-12-31"))
    assert [(r[0], r[5]) for r in rows[1:]] == [(str(history[1]), "20.00")]
    assert client.get("/staff/insights/retention/donors/nobody").status_code == 404


def test_lifetime_per_donor_export(staff_client, history):
    rows = _rows(staff_client("fundraiser").get("/staff/insights/lifetime/donors.csv?start=2023-01-01&end=2024-12-31"))
    assert len(rows) == 4 and rows[0][0] == "donor_id"


@pytest.mark.parametrize("query, message", [
    ("start=2024-06-01&end=2024-01-01", "is before the start date"),
    ("start=not-a-date", "as a date such as"),
    ("start=0001-01-01", "between 1900 and 2100"),
    ("start=1900-01-01&end=2100-12-31", "up to 30 years"),
    ("start=2099-01-01&end=2099-02-01", "after today"),
    ("segment=42", "There is no segment with id 42"),
    ("segment=%27%3B--", "Choose a segment from the list"),
])
def test_bad_filters_get_a_clear_message_not_an_error(staff_client, history, query, message):
    client = staff_client("fundraiser")
    for name in ("funnel", "lifetime"):
        response = client.get(f"/staff/insights/{name}?{query}")
        assert response.status_code == 400
        html = response.get_data(as_text=True)
        assert message in html and "Please check the filters" in html
    assert client.get(f"/staff/insights/retention/export.csv?{query}").status_code == 400


def test_monthly_cohorts_over_too_long_a_range_are_refused_politely(staff_client, history):
    response = staff_client("fundraiser").get("/staff/insights/cohorts?grain=month&start=2010-01-01&end=2024-12-31")
    assert response.status_code == 400 and "up to 5 years" in response.get_data(as_text=True)
    ok = staff_client("fundraiser").get("/staff/insights/cohorts?grain=year&start=2010-01-01&end=2024-12-31")
    assert ok.status_code == 200


def test_an_empty_range_says_so(staff_client, history):
    html = staff_client("fundraiser").get("/staff/insights/funnel?start=2020-01-01&end=2020-12-31").get_data(as_text=True)
    assert "No donors came in during this range" in html
    html = staff_client("fundraiser").get("/staff/insights/cohorts?grain=month&start=2020-01-01&end=2020-12-31").get_data(as_text=True)
    assert "No first gifts in this range" in html


def test_recalculate_needs_the_form_token_and_returns_the_report(staff_client, history):
    client = staff_client("fundraiser")
    url = "/staff/insights/retention/refresh?start=2023-01-01&end=2024-12-31"
    assert client.post(url, csrf=False).status_code == 400
    response = client.post(url)
    assert response.status_code == 303 and response.headers["Location"].endswith("/staff/insights/retention?start=2023-01-01&end=2024-12-31")
    fragment = client.post(url, headers={"HX-Request": "true", "HX-Target": "report-area"})
    html = fragment.get_data(as_text=True)
    assert fragment.status_code == 200 and "<html" not in html and 'id="retention-chart"' in html
    assert client.post("/staff/insights/nothing/refresh").status_code == 404


def test_polling_the_report_area_returns_only_that_block(staff_client, history):
    response = staff_client("fundraiser").get("/staff/insights/cohorts?start=2023-01-01&end=2024-12-31",
                                              headers={"HX-Request": "true", "HX-Target": "report-area"})
    html = response.get_data(as_text=True)
    assert "<html" not in html and 'id="cohort-chart"' in html and "Vary" in response.headers


def test_home_page_shows_the_headline_tiles_with_sparklines(staff_client, history):
    html = staff_client("fundraiser").get("/staff/").get_data(as_text=True)
    assert "New-donor retention" in html and "LYBUNT donors" in html
    assert 'class="sparkline"' in html and 'aria-labelledby="spark-given-title spark-given-desc"' in html


def test_a_segment_narrows_the_funnel(app, staff_client, history):
    from portal.engagement.segments.services import save_segment

    with app.app_context():
        rules = {"match": "all", "conditions": [{"field": "gift_count", "op": "gte", "value": "2"}]}
        segment_id = save_segment(None, name="Gave twice", description="", rules=rules).id
        db.session.commit()
    html = staff_client("fundraiser").get(
        f"/staff/insights/funnel?start=2023-01-01&end=2023-12-31&segment={segment_id}").get_data(as_text=True)
    assert "<strong>2</strong> donors who came in" in html


@pytest.fixture
def answers(app):
    from tests import satisfaction_data

    with app.app_context():
        data = satisfaction_data.build()
        db.session.remove()
        return data


def test_satisfaction_page_numbers_definitions_comments_and_csv(staff_client, answers):
    client = staff_client("fundraiser")
    html = client.get("/staff/insights/satisfaction?start=2024-01-01&end=2024-03-31").get_data(as_text=True)
    assert '<div class="value" id="csat-average">3.80</div>' in html and '<div class="value" id="nps-score">+20</div>' in html
    assert 'id="csat-chart"' in html and 'id="nps-chart"' in html and 'id="satisfaction-table"' in html
    assert "% promoters (9–10) − % detractors (0–6)" in html and "1 (very dissatisfied) to 5" in html
    assert "Comments (3)" in html and "Love the newsletter" in html and "Outside the range" not in html
    rows = _rows(client.get("/staff/insights/satisfaction/export.csv?start=2024-01-01&end=2024-03-31"))
    assert rows[2] == ["Feb 2024", "7", "2", "4.00", "50.0", "5", "3", "1", "1", "40.0", "Custom range: 1 Jan 2024 to 31 Mar 2024."]
    assert ["Yearly", "nps", "10", "0", "", "", "10", "5", "2", "3", "20.0", "1", "Custom range: 1 Jan 2024 to 31 Mar 2024."] in rows
    comments = _rows(client.get("/staff/insights/satisfaction/comments.csv?start=2024-01-01&end=2024-03-31"))
    assert [row[-2] for row in comments[1:]] == ["More photos please", "Love the newsletter", "Receipt came late"]
    assert comments[0][-1] == "period_definition" and comments[1][-1] == "Custom range: 1 Jan 2024 to 31 Mar 2024."


def test_satisfaction_filters_by_survey_and_pages_comments(staff_client, answers):
    client = staff_client("fundraiser")
    survey = answers["surveys"]["csat"]
    html = client.get(f"/staff/insights/satisfaction?start=2024-01-01&end=2024-03-31&survey={survey}").get_data(as_text=True)
    assert '<div class="value" id="nps-score">—</div>' in html and "Comments (1)" in html and "Receipt came late" in html
    assert f'<option value="{survey}" selected>After a gift</option>' in html
    bad = client.get("/staff/insights/satisfaction?survey=999999")
    assert bad.status_code == 400 and "Choose a survey from the list" in bad.get_data(as_text=True)


def test_engagement_page_lists_workflows_and_points(app, staff_client):
    from portal.engagement.models import EmailMessage, Workflow
    from portal.loyalty.models import PointsEntry

    with app.app_context():
        donor = make_donor(first_name="Welcomed", email="welcomed@example.org")
        workflow = Workflow(name="Welcome series", trigger="gift_received")
        db.session.add(workflow)
        db.session.flush()
        db.session.add(EmailMessage(donor_id=donor.id, to_email="welcomed@example.org", subject="Hi", text_body="Hi",
                                    purpose=f"workflow:{workflow.id}", idempotency_key="page:1", message_id="<page.1@example.org>",
                                    status="sent", sent_at=datetime(2024, 3, 1, 10), opened_at=datetime(2024, 3, 1, 11)))
        db.session.add_all([PointsEntry(donor_id=donor.id, kind="bonus", points=75, reason="Welcome", source_key="page:bonus",
                                        occurred_at=datetime(2024, 3, 2)),
                            PointsEntry(donor_id=donor.id, kind="redeem", points=-25, reason="Reward", source_key="page:redeem",
                                        occurred_at=datetime(2024, 3, 3))])
        db.session.commit()
        workflow_id = workflow.id
        db.session.remove()
    html = staff_client("fundraiser").get("/staff/insights/engagement?start=2024-02-01&end=2024-03-31").get_data(as_text=True)
    assert f'href="/staff/workflows/{workflow_id}">Welcome series</a>' in html
    assert '<strong id="points-earned">75</strong>' in html and '<strong id="points-redeemed">25</strong>' in html


def test_saving_a_drop_off_list_as_a_segment(app, staff_client, history):
    from portal.engagement.segments import services as segments
    from portal.engagement.models import Segment

    client = staff_client("fundraiser")
    url = "/staff/insights/funnel/dropped/segment?step=second_gift&start=2023-01-01&end=2023-12-31"
    assert client.post(url, csrf=False).status_code == 400
    assert client.post(url.replace("second_gift", "nothing")).status_code == 404
    assert staff_client("support").post(url).status_code == 403
    response = client.post(url)
    assert response.status_code == 303
    with app.app_context():
        segment = db.session.scalar(db.select(Segment))
        assert response.headers["Location"].endswith(f"/staff/segments/{segment.id}")
        assert set(db.session.scalars(segments.members_select(segment))) == {history[1]}  # Donor1 gave once
    html = client.get("/staff/insights/funnel/dropped?step=second_gift&start=2023-01-01&end=2023-12-31").get_data(as_text=True)
    assert 'id="make-segment"' in html
