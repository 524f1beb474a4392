"""An administrator finds a failed job on the queues and jobs page and retries it; the page a visitor gets
while the database is down. Screenshots at desktop and phone width go to test-results/."""
from __future__ import annotations


import pytest
from playwright.sync_api import Page, expect
from rq.registry import FailedJobRegistry

from portal import create_app, jobs
from portal.config import TestConfig
from tests.conftest import PASSWORD, free_port, make_user, serving
from tests.browser.screens import screenshots

pytestmark = pytest.mark.browser

ADMIN = "ops.admin@harbour.example.org"


@jobs.job
def export_that_fails() -> None:
    raise RuntimeError("report storage is full")


def test_administrator_retries_a_failed_job_from_the_queues_page(app, live_server, page: Page):
    with app.app_context():
        make_user("admin", ADMIN, name="Priya Shah")
        jobs.runner().connection.flushdb()  # the in-memory Redis of the test app's job runner lives for the session
        failed = jobs.runner().queue("reports").enqueue(export_that_fails)
        assert failed.is_failed
    page.set_viewport_size({"width": 1366, "height": 860})
    page.goto(f"{live_server}/login")
    page.get_by_label("Email address").fill(ADMIN)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Queues and jobs").click()

    expect(page.get_by_role("heading", name="Queues and jobs")).to_be_visible()
    failed_jobs = page.get_by_role("region", name="Failed jobs")
    expect(failed_jobs.get_by_text("RuntimeError: report storage is full", exact=True)).to_be_visible()
    expect(page.get_by_role("region", name="Scheduled jobs").get_by_text("*/10 * * * *")).to_be_visible()
    screenshots(page, "queues-and-jobs")

    failed_jobs.get_by_role("button", name="Retry").click()
    expect(page.get_by_text("The job is back on its queue.")).to_be_visible()
    with app.app_context():
        assert failed.id not in FailedJobRegistry(queue=jobs.runner().queue("reports")).get_job_ids()


@pytest.fixture
def site_with_its_database_down(tmp_path):
    overrides = {"SQLALCHEMY_DATABASE_URI": f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/harbour",
                 "SQLALCHEMY_ENGINE_OPTIONS": {}, "KB_INDEX_DIR": str(tmp_path / "kb-index"),
                 "ORGANISATION_NAME": "Friends of the Lighthouse"}
    down = create_app(type("DatabaseDownConfig", (TestConfig,), overrides))
    with serving(down) as url:
        yield url


def test_a_visitor_gets_the_back_shortly_page_while_the_database_is_down(site_with_its_database_down, page: Page):
    page.set_viewport_size({"width": 1366, "height": 860})
    response = page.goto(f"{site_with_its_database_down}/login")
    assert response.status == 503 and int(response.headers["retry-after"]) > 0
    expect(page.get_by_role("heading", name="Friends of the Lighthouse will be back shortly")).to_be_visible()
    expect(page.get_by_role("link", name="Try again")).to_have_attribute("href", "/login?")
    screenshots(page, "database-down")
