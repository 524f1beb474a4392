"""Automated check-ins: renewals, giving anniversaries and major donors, each exactly once."""
from datetime import date, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import select

from portal.engagement.models import EmailMessage
from portal.extensions import db
from portal.giving import services as giving
from portal.retention import services as retention
from portal.retention.models import CheckIn
from portal.support.models import Task
from tests.conftest import make_donor, make_gift, make_user

pytestmark = pytest.mark.usefixtures("ctx")
NOW = datetime(2026, 6, 15, 7, 0)


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def settings(**changes) -> dict:
    levels = retention.settings()
    values = {name: getattr(levels, name) for name in (*retention.SETTING_RANGES, "alert_team", "check_in_team", "check_in_action")}
    values.update(changes)
    return values


def tasks() -> list[Task]:
    return list(db.session.scalars(select(Task).where(Task.kind.in_(("check_in", "renewal"))).order_by(Task.id)))


def test_renewal_check_in_goes_to_the_relationship_manager_once(clock):
    retention.update_settings(settings(check_in_anniversary_days=0, major_check_in_months=0))
    manager = make_user("fundraiser", "rm@example.test", name="Tom Okafor")
    donor = make_donor(email="sponsor@example.org", first_name="Ivy", last_name="Lee")
    giving.start_plan(donor.id, giving.PlanInput(kind="sponsorship", amount_minor=1500, currency="GBP", interval="monthly",
                                                 started_at=date(2025, 7, 5)))  # renews 5 July 2026: 20 days away
    giving.start_plan(donor.id, giving.PlanInput(kind="recurring_gift", amount_minor=1000, currency="GBP", interval="monthly",
                                                 started_at=date(2026, 6, 1)))  # a payment date, not a renewal
    retention.set_manager(donor.id, manager.id)
    assert retention.run_check_ins(NOW) == {"renewal": 1, "anniversary": 0, "major": 0}
    assert retention.run_check_ins(NOW + timedelta(days=1)) == {"renewal": 0, "anniversary": 0, "major": 0}
    [task] = tasks()
    assert (task.title, task.assignee_id, task.kind, task.due_at) == (
        "Renewal coming up: Ivy Lee", manager.id, "renewal", datetime(2026, 7, 4, 12))  # the day before it renews
    assert task.details == "Sponsorship renews on 5 July 2026"


def test_anniversary_check_in_for_current_supporters_only(clock):
    retention.update_settings(settings(major_check_in_months=0, check_in_renewal_days=0))
    loyal = make_donor(email="loyal@example.org", first_name="Loyal")
    make_gift(loyal.id, 2000, datetime(2024, 6, 20, 10))  # first gift two years ago, 5 days from now
    make_gift(loyal.id, 2000, datetime(2026, 1, 10, 10))
    gone = make_donor(email="gone@example.org", first_name="Gone")
    make_gift(gone.id, 2000, datetime(2023, 6, 18, 10))  # same season, but nothing in the last 12 months
    assert retention.run_check_ins(NOW)["anniversary"] == 1
    check_in = db.session.scalar(select(CheckIn))
    assert (check_in.donor_id, check_in.key, check_in.due_on) == (loyal.id, f"anniversary:{loyal.id}:2026", date(2026, 6, 20))
    assert check_in.detail == "2 years since their first gift on 20 June 2024"
    assert tasks()[0].assignee_role == "fundraiser" and tasks()[0].assignee_id is None
    assert retention.run_check_ins(NOW + timedelta(days=2))["anniversary"] == 0


def test_major_donors_every_n_months(clock):
    retention.update_settings(settings(check_in_renewal_days=0, check_in_anniversary_days=0, major_donor_minor=500000,
                                       major_check_in_months=6))
    major = make_donor(email="major@example.org", first_name="Major")
    make_gift(major.id, 600000, datetime(2026, 3, 1, 12))
    minor = make_donor(email="minor@example.org", first_name="Minor")
    make_gift(minor.id, 40000, datetime(2026, 3, 1, 12))
    assert retention.run_check_ins(NOW)["major"] == 1
    clock.move_to(NOW + timedelta(days=60))
    assert retention.run_check_ins(NOW + timedelta(days=60))["major"] == 0
    clock.move_to(NOW + timedelta(days=181))
    assert retention.run_check_ins(NOW + timedelta(days=181))["major"] == 1
    assert {c.donor_id for c in db.session.scalars(select(CheckIn))} == {major.id}


def test_email_check_ins_only_for_donors_who_agreed_to_marketing(clock):
    retention.update_settings(settings(check_in_action="email", check_in_renewal_days=0, check_in_anniversary_days=0,
                                       major_donor_minor=100000))
    agreed = make_donor(email="yes@example.org", first_name="Yes", marketing_opt_in=True)
    make_gift(agreed.id, 200000, datetime(2026, 3, 1, 12))
    declined = make_donor(email="no@example.org", first_name="No")
    make_gift(declined.id, 200000, datetime(2026, 3, 1, 12))
    assert retention.run_check_ins(NOW)["major"] == 2
    [email] = db.session.scalars(select(EmailMessage).where(EmailMessage.purpose == "check_in:major")).all()
    assert (email.to_email, email.category) == ("yes@example.org", "marketing")
    assert "Dear Yes" in email.text_body and "/unsubscribe/" in email.text_body and email.headers["List-Unsubscribe"].startswith("<")
    assert tasks() == []
    assert {c.donor_id: c.emailed for c in db.session.scalars(select(CheckIn))} == {agreed.id: True, declined.id: False}


def test_check_ins_add_at_most_twenty_tasks_a_day_and_every_anniversary_still_gets_one_in_time(clock):
    """Three years of records start a fortnight from now, so dozens of first gifts on record share the season:
    the first run must not put them all in the inbox at once, and none may be missed."""
    retention.update_settings(settings(check_in_renewal_days=0, major_check_in_months=0, check_in_anniversary_days=14))
    days = {}
    for number in range(60):
        donor = make_donor(email=f"supporter{number}@example.org", first_name=f"Supporter{number}")
        day = datetime(2024, 6, 15 + number % 15, 10)
        make_gift(donor.id, 2000, day)
        make_gift(donor.id, 2000, datetime(2026, 1, 10, 10))
        days[donor.id] = day.date().replace(year=2026)
    assert len(tasks()) == 0
    assert retention.run_check_ins(NOW)["anniversary"] == 20
    assert retention.run_check_ins(NOW + timedelta(hours=3))["anniversary"] == 0
    assert len(tasks()) == 20
    created_on = {}
    for offset in range(15):
        today = NOW + timedelta(days=offset)
        clock.move_to(today)
        retention.run_check_ins(today)
        for check_in in db.session.scalars(select(CheckIn)):
            created_on.setdefault(check_in.donor_id, today.date())
    assert len(tasks()) == 60
    assert all(created_on[donor_id] <= day for donor_id, day in days.items())


def test_check_ins_whose_day_is_today_never_wait(clock):
    retention.update_settings(settings(check_in_renewal_days=0, major_check_in_months=0))
    for number in range(25):
        donor = make_donor(email=f"today{number}@example.org", first_name=f"Today{number}")
        make_gift(donor.id, 2000, datetime(2024, 6, 15, 10))
        make_gift(donor.id, 2000, datetime(2026, 1, 10, 10))
    assert retention.run_check_ins(NOW)["anniversary"] == 25
