"""Administrators set the financial year; the retention page and its CSV say which years they count."""
import csv
import io
from datetime import datetime

from sqlalchemy import select

from portal.extensions import db
from portal.settings.models import Organisation
from tests.conftest import make_donor, make_gift

ORGANISATION = {"name": "Harbour Trust", "currency": "GBP", "timezone": "Europe/London",
                "support_email": "support@harbourtrust.example", "impact_line": ""}


def test_admin_sets_the_financial_year_and_the_reports_count_in_it(app, staff_client):
    admin = staff_client("admin")
    assert 'name="financial_year_start"' in admin.get("/staff/admin/organisation").get_data(as_text=True)
    bad = admin.post("/staff/admin/organisation", data={**ORGANISATION, "financial_year_start": "13"})
    assert bad.status_code == 400 and "Not a valid choice" in bad.get_data(as_text=True)
    assert admin.post("/staff/admin/organisation", data={**ORGANISATION, "financial_year_start": "4"}).status_code == 303
    with app.app_context():
        assert db.session.scalar(select(Organisation.financial_year_start)) == 4
        donor = make_donor(email="ann@example.org")
        make_gift(donor.id, 2500, datetime(2024, 3, 31, 12))
        make_gift(donor.id, 4000, datetime(2024, 4, 1, 12))

    fundraiser = staff_client("fundraiser")
    html = fundraiser.get("/staff/insights/retention?start=2023-04-01&end=2025-03-31").get_data(as_text=True)
    definition = "Financial years starting 1 April (FY 2025/26 is 1 Apr 2025 to 31 Mar 2026); the latest year runs to 31 Mar 2025."
    assert f"Periods: {definition}" in html
    assert "FY 2024/25" in html and "FY 2023/24" in html
    assert '<option value="fy" selected>Financial years</option>' in html
    rows = list(csv.reader(io.StringIO(fundraiser.get(
        "/staff/insights/retention/export.csv?start=2023-04-01&end=2025-03-31").get_data(as_text=True))))
    assert rows[0][0] == "period" and rows[0][-1] == "period_definition"
    assert [(row[0], row[3], row[-1]) for row in rows[1:]] == [("FY 2023/24", "1", definition), ("FY 2024/25", "1", definition)]
    lybunt = list(csv.reader(io.StringIO(fundraiser.get(
        "/staff/insights/retention/donors/lybunt.csv?start=2024-04-01&end=2025-06-30").get_data(as_text=True))))
    assert lybunt[0][-1] == "period_definition" and [row[4] for row in lybunt[1:]] == ["ann@example.org"]
    rolling = fundraiser.get("/staff/insights/retention?start=2023-04-01&end=2025-03-31&basis=rolling").get_data(as_text=True)
    assert "Periods: Rolling 12-month periods ending on 31 Mar 2025." in rolling


def _csv_rows(response) -> list[list[str]]:
    assert response.status_code == 200
    return list(csv.reader(io.StringIO(response.get_data(as_text=True))))


def test_the_funnel_and_lifetime_value_count_in_financial_years(app, staff_client):
    """Ann first gave on 31 March 2024 (FY 2023/24), Bob on 1 April 2024 (FY 2024/25), then again in May."""
    admin = staff_client("admin")
    assert admin.post("/staff/admin/organisation", data={**ORGANISATION, "financial_year_start": "4"}).status_code == 303
    with app.app_context():
        ann, bob = make_donor(first_name="Ann", email="ann@example.org"), make_donor(first_name="Bob", email="bob@example.org")
        make_gift(ann.id, 2500, datetime(2024, 3, 31, 12))
        make_gift(bob.id, 4000, datetime(2024, 4, 1, 12))
        make_gift(bob.id, 1000, datetime(2024, 5, 1, 12))
    fundraiser = staff_client("fundraiser")

    html = fundraiser.get("/staff/insights/funnel?cohort=FY2024").get_data(as_text=True)
    definition = ("Financial years starting 1 April: FY 2024/25 (1 Apr 2024 to 31 Mar 2025, the latest year running "
                  "to the end date).")
    assert f"Periods: {definition}" in html
    assert '<option value="fy" selected>Financial years</option>' in html and '<option value="FY2024" selected>FY 2024/25</option>' in html
    assert "<strong>1</strong> donors who came in between 1 Apr 2024 and 31 Mar 2025" in html
    rows = _csv_rows(fundraiser.get("/staff/insights/funnel/export.csv?start=2024-04-01&end=2025-03-31"))
    assert rows[0][-1] == "period_definition"
    assert [(row[0], row[2], row[-1]) for row in rows[1:4]] == [
        ("entered", "1", definition), ("first_gift", "1", definition), ("second_gift", "1", definition)]
    earlier = _csv_rows(fundraiser.get("/staff/insights/funnel/dropped.csv?step=second_gift&start=2023-06-01&end=2024-03-31"))
    assert [(row[4], row[-1][:44]) for row in earlier[1:]] == [("ann@example.org", "Financial years starting 1 April: FY 2023/24")]
    rolling = fundraiser.get("/staff/insights/funnel?start=2024-01-01&end=2024-06-30&basis=rolling").get_data(as_text=True)
    assert "Periods: Rolling 12-month periods ending on 30 Jun 2024: 1 of them (1 Jul 2023 to 30 Jun 2024)." in rolling
    assert "<strong>2</strong> donors who came in between 1 Jul 2023 and 30 Jun 2024" in rolling

    html = fundraiser.get("/staff/insights/lifetime?start=2024-04-01&end=2025-03-31").get_data(as_text=True)
    assert f"Periods: {definition}" in html
    summary = _csv_rows(fundraiser.get("/staff/insights/lifetime/export.csv?start=2024-04-01&end=2025-03-31"))
    assert summary[-1][:3] == ["All donors", "1", "50.00"] and summary[-1][-1] == definition
    donors = _csv_rows(fundraiser.get("/staff/insights/lifetime/donors.csv?start=2024-04-01&end=2025-03-31"))
    assert [(row[4], row[9], row[-1]) for row in donors[1:]] == [("bob@example.org", "50.00", definition)]
    custom = _csv_rows(fundraiser.get("/staff/insights/lifetime/donors.csv?start=2024-03-31&end=2024-03-31&basis=custom"))
    assert [(row[4], row[-1]) for row in custom[1:]] == [("ann@example.org", "Custom range: 31 Mar 2024 to 31 Mar 2024.")]
