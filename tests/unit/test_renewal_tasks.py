"""A renewal gets one check-in task, due before it renews, whether the renewal workflow or the check-in
job gets there first, and the task says what raised it."""
from datetime import date, datetime, timedelta

import pytest
import time_machine
from flask import current_app
from sqlalchemy import select

from portal import jobs
from portal.engagement import defaults
from portal.engagement.workflows import services as workflows
from portal.extensions import db
from portal.giving import services as giving
from portal.retention import services as retention
from portal.retention.models import CheckIn
from portal.support import services as support
from portal.support.models import Task
from tests.conftest import make_donor

pytestmark = pytest.mark.usefixtures("ctx")
NOW = datetime(2026, 12, 1, 7, 0)
RENEWS = date(2026, 12, 10)


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def sponsor():
    retention.update_settings({**{name: getattr(retention.settings(), name) for name in
                                  (*retention.SETTING_RANGES, "alert_team", "check_in_team", "check_in_action")},
                               "check_in_anniversary_days": 0, "major_check_in_months": 0, "check_in_action": "task"})
    donor = make_donor(email="jeremy@example.org", first_name="Jeremy", last_name="Evans")
    plan = giving.start_plan(donor.id, giving.PlanInput(kind="sponsorship", amount_minor=1500, currency="GBP",
                                                        interval="monthly", started_at=date(2025, 12, 10)))
    assert plan.renews_on == RENEWS
    defaults.seed(enable_workflows=True)
    return donor.id


def run_workflows():
    with jobs.inline():
        workflows.enter_scheduled_workflows()
        workflows.run_due_workflow_steps()


def open_tasks(donor_id):
    return list(db.session.scalars(select(Task).where(Task.donor_id == donor_id, Task.status == "open")))


def test_the_workflow_task_is_due_before_the_renewal_and_names_its_workflow(clock, sponsor):
    run_workflows()
    [task] = open_tasks(sponsor)
    assert task.title == "Call Jeremy Evans before their sponsorship renews on 10 December 2026"
    assert task.due_at == datetime(2026, 12, 9, 12)  # 14 days would be after the renewal
    assert support.source_label(task.source) == "Workflow"
    with current_app.test_request_context():
        assert support.describe_source(task.source)[0] == "Workflow “Sponsorship renewal check-in”"


@pytest.mark.parametrize("workflow_first", [True, False], ids=["workflow-first", "check-in-job-first"])
def test_one_renewal_makes_one_task_whichever_job_runs_first(clock, sponsor, workflow_first):
    if workflow_first:
        run_workflows()
        retention.run_check_ins(NOW)
    else:
        retention.run_check_ins(NOW)
        run_workflows()
    retention.run_check_ins(NOW + timedelta(hours=1))
    [task] = open_tasks(sponsor)
    assert task.due_at < datetime(2026, 12, 10)
    check_in = db.session.scalar(select(CheckIn))
    assert check_in.task_id == task.id


def test_a_late_renewal_task_is_due_now_not_in_the_past():
    now = datetime(2026, 12, 9, 15)
    assert support.renewal_task_due(RENEWS, now) == now
    assert support.renewal_task_due(RENEWS, datetime(2026, 12, 1), datetime(2026, 12, 4)) == datetime(2026, 12, 4)
