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
