"""A fundraiser opens the donor journey, narrows it to one quarter's cohort and exports the CSV."""
import csv
import io
import os
from datetime import datetime

import pytest

from portal.extensions import db
from tests.conftest import make_donor, make_gift, make_user, sign_in_staff


def export_csv(page) -> tuple[str, list[list[str]]]:
    """Click the report's CSV export: the file name offered and the rows of the file."""
    with page.expect_download() as download_info:
        page.click("#export-csv")
    download = download_info.value
    with open(download.path(), encoding="utf-8") as handle:
        return download.suggested_filename, list(csv.reader(io.StringIO(handle.read())))


@pytest.fixture
def cohort_data(app):
    """Two donors who came in during April-June 2025 (one gave twice), one in July-September 2025."""
    with app.app_context():
        email = make_user("fundraiser", f"browser-{os.urandom(3).hex()}@example.org").email
        for name, added, gifts in (
            ("April", datetime(2025, 4, 15, 12), [datetime(2025, 4, 20, 12), datetime(2025, 6, 1, 12)]),
            ("May", datetime(2025, 5, 10, 12), [datetime(2025, 5, 12, 12)]),
            ("August", datetime(2025, 8, 3, 12), [datetime(2025, 8, 5, 12)]),
        ):
            donor = make_donor(first_name=name, last_name="Cohort", email=f"{name.lower()}@example.org")
            donor.created_at = added
            db.session.commit()
            for when in gifts:
                make_gift(donor.id, 3000, when)
        db.session.remove()
    return email


@pytest.mark.browser
def test_open_the_funnel_filter_by_a_cohort_and_export(page, live_server, cohort_data):
    sign_in_staff(page, live_server, cohort_data, lands_on="**/staff/")

    page.click("nav >> text=Insights")
    page.click("text=Donor journey")
    page.wait_for_selector("#funnel-chart")
    assert page.get_attribute("#funnel-chart", "role") == "img"

    page.select_option("#cohort", "2025-Q2")
    page.wait_for_url("**cohort=2025-Q2**")
    scope = page.locator(".report-scope")
    scope.filter(has_text="1 Apr 2025 and 30 Jun 2025").wait_for()
    assert "2 donors who came in" in " ".join(scope.inner_text().split())
    rows = page.locator("#funnel-table tbody tr")
    assert rows.nth(1).locator("td").first.inner_text() == "2"  # both gave
    assert rows.nth(2).locator("td").first.inner_text() == "1"  # one gave twice

    filename, exported = export_csv(page)
    assert filename == "funnel-2025-04-01-to-2025-06-30.csv"
    assert exported[0][:3] == ["step", "label", "donors"]
    assert [row[2] for row in exported[1:4]] == ["2", "2", "1"]


@pytest.fixture
def survey_answers(app):
    from tests import satisfaction_data

    with app.app_context():
        email = make_user("fundraiser", f"browser-{os.urandom(3).hex()}@example.org").email
        data = satisfaction_data.build()
        db.session.remove()
    return email, data


@pytest.mark.browser
def test_open_the_satisfaction_report_filter_by_survey_and_export(page, live_server, survey_answers):
    email, data = survey_answers
    sign_in_staff(page, live_server, email, lands_on="**/staff/")

    page.goto(f"{live_server}/staff/insights/")
    page.click("text=Satisfaction")
    page.fill("#start", "2024-01-01")
    page.fill("#end", "2024-03-31")
    page.click("form.report-filters button[type=submit]")
    page.wait_for_selector("#nps-chart")
    assert page.inner_text("#csat-average") == "3.80" and page.inner_text("#nps-score") == "+20"
    assert page.get_attribute("#csat-chart", "role") == "img"
    assert page.locator("#satisfaction-table tbody tr").count() == 3
    page.screenshot(path="/tmp/insights-satisfaction.png", full_page=True)

    page.select_option("#survey", str(data["surveys"]["nps"]))
    page.wait_for_url(f"**survey={data['surveys']['nps']}**")
    page.locator("#csat-average").filter(has_text="—").wait_for()
    assert page.inner_text("#nps-score") == "+20"
    assert page.locator(".comment-list .comment").count() == 1

    filename, exported = export_csv(page)
    assert filename == "satisfaction-2024-01-01-to-2024-03-31.csv"
    assert exported[0][:2] == ["month", "responses"]
    assert exported[3] == ["all", "10", "0", "", "", "10", "5", "2", "3", "20.0", "Custom range: 1 Jan 2024 to 31 Mar 2024."]


@pytest.mark.browser
def test_turn_the_donors_who_gave_once_into_a_segment(page, live_server, cohort_data):
    sign_in_staff(page, live_server, cohort_data, lands_on="**/staff/")

    page.goto(f"{live_server}/staff/insights/funnel?cohort=2025-Q2")
    page.wait_for_selector("#funnel-chart")
    page.click("#funnel-table a[aria-label*='stopped before Second gift']")
    page.wait_for_url("**/funnel/dropped?**step=second_gift**")
    assert page.locator("table.data tbody tr").all_inner_texts()[0].startswith("May Cohort")
    page.screenshot(path="/tmp/insights-dropped.png", full_page=True)

    page.click("#make-segment")
    page.wait_for_url("**/staff/segments/*")
    assert "Gave once and not again, came in 1 Apr 2025 to 30 Jun 2025" in page.inner_text("h1")
    members = page.locator("table.data tbody tr")
    assert members.count() == 1 and "May" in members.first.inner_text()
    assert "Gave a second time: no" in page.content()
    page.screenshot(path="/tmp/insights-segment.png", full_page=True)


@pytest.fixture
def financial_year_data(app):
    """Financial years start in April. Ann first gave on 31 March 2025 (FY 2024/25), Bob on 1 April 2025
    (FY 2025/26) and again in June."""
    from portal.settings.services import organisation

    with app.app_context():
        email = make_user("fundraiser", f"browser-{os.urandom(3).hex()}@example.org").email
        organisation().financial_year_start = 4
        db.session.commit()
        for name, gifts in (("Ann", [datetime(2025, 3, 31, 12)]), ("Bob", [datetime(2025, 4, 1, 12), datetime(2025, 6, 1, 12)])):
            donor = make_donor(first_name=name, last_name="Boundary", email=f"{name.lower()}@example.org")
            donor.created_at = gifts[0]
            db.session.commit()
            for when in gifts:
                make_gift(donor.id, 3000, when)
        db.session.remove()
    return email


@pytest.mark.browser
def test_the_funnel_and_lifetime_value_read_in_financial_years(page, live_server, financial_year_data):
    from tests.browser.screens import screenshots

    sign_in_staff(page, live_server, financial_year_data, lands_on="**/staff/")
    page.goto(f"{live_server}/staff/insights/funnel")
    page.wait_for_selector("#report-area .report-toolbar")
    assert page.locator("#basis").input_value() == "fy"
    assert page.locator("#period-definition").inner_text().startswith("Periods: Financial years starting 1 April: FY ")

    page.select_option("#cohort", "FY2025")
    page.wait_for_url("**cohort=FY2025**")
    page.locator(".report-scope").filter(has_text="1 Apr 2025 and 31 Mar 2026").wait_for()
    assert "1 donors who came in" in " ".join(page.locator(".report-scope").inner_text().split())
    definition = page.locator("#period-definition").inner_text().removeprefix("Periods: ")
    assert definition == ("Financial years starting 1 April: FY 2025/26 (1 Apr 2025 to 31 Mar 2026, the latest year "
                          "running to the end date).")
    page.wait_for_selector("#funnel-chart")
    screenshots(page, "funnel-financial-year")
    filename, exported = export_csv(page)
    assert filename == "funnel-2025-04-01-to-2026-03-31.csv"
    assert [(row[0], row[2], row[-1]) for row in exported[1:4]] == [
        ("entered", "1", definition), ("first_gift", "1", definition), ("second_gift", "1", definition)]

    page.fill("#start", "2025-01-01")
    page.fill("#end", "2025-06-30")
    page.select_option("#basis", "rolling")
    page.wait_for_url("**basis=rolling**")
    page.locator("#period-definition").filter(has_text="Rolling 12-month periods ending on 30 Jun 2025").wait_for()
    page.locator(".report-scope").filter(has_text="1 Jul 2024 and 30 Jun 2025").wait_for()
    assert "2 donors who came in" in " ".join(page.locator(".report-scope").inner_text().split())

    page.goto(f"{live_server}/staff/insights/lifetime?start=2025-04-01&end=2025-06-30")
    page.wait_for_selector("#lifetime-table")
    assert page.locator("#basis").input_value() == "fy"
    assert "FY 2025/26 (1 Apr 2025 to 30 Jun 2025" in page.locator("#period-definition").inner_text()
    assert page.locator("#lifetime-table tbody tr").first.locator("td").first.inner_text() == "1"  # Bob only
    screenshots(page, "lifetime-financial-year")
