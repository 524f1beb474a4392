"""Workflows with the clock frozen: triggers, delays, consent, the frequency cap and no double entry."""
from datetime import date, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import func, select, update

from portal.engagement import defaults
from portal.engagement.delivery import outbox, tracking
from portal.engagement.workflows import services as workflows
from portal.engagement.delivery import sending_rules as engagement_settings
from portal.engagement.models import EmailMessage, Workflow, WorkflowRun, WorkflowRunStep, WorkflowStep
from portal.extensions import db
from portal.giving.services import PlanInput, start_plan
from portal.journey.models import Touchpoint
from portal.support.models import Task
from tests.conftest import make_donor, make_gift

pytestmark = pytest.mark.usefixtures("ctx")
T0 = datetime(2026, 6, 1, 9, 0)


@pytest.fixture
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def switch_on(*keys: str) -> None:
    defaults.seed()
    db.session.execute(update(Workflow).where(Workflow.key.in_(keys)).values(enabled=True))
    db.session.commit()


def subjects(donor_id: int) -> list[str]:
    return list(db.session.scalars(select(EmailMessage.subject).where(EmailMessage.donor_id == donor_id).order_by(EmailMessage.id)))


def run_of(key: str, donor_id: int) -> WorkflowRun:
    return db.session.scalar(select(WorkflowRun).join(Workflow).where(Workflow.key == key, WorkflowRun.donor_id == donor_id))


def test_a_gift_sends_thanks_at_once_and_the_follow_up_seven_days_later(clock):
    donor = make_donor(first_name="Ada", email="ada@example.org", marketing_opt_in=True)
    switch_on("thank_you")
    make_gift(donor.id, 2500, T0 - timedelta(hours=1), fund="Lifeboat crews")
    assert subjects(donor.id) == ["Thank you for your gift, Ada"]
    run = run_of("thank_you", donor.id)
    assert (run.status, run.last_position, run.next_due_at) == ("active", 1, T0 + timedelta(days=7))

    clock.move_to(T0 + timedelta(days=6, hours=23))
    assert workflows.run_due_workflow_steps() == 0
    assert subjects(donor.id) == ["Thank you for your gift, Ada"]

    clock.move_to(T0 + timedelta(days=7, minutes=5))
    assert workflows.run_due_workflow_steps() == 1
    db.session.expire_all()
    assert subjects(donor.id) == ["Thank you for your gift, Ada", "Here is what your gift did, Ada"]
    run = run_of("thank_you", donor.id)
    assert (run.status, run.completed_at) == ("completed", T0 + timedelta(days=7, minutes=5))
    follow_up = db.session.scalar(select(EmailMessage).where(EmailMessage.donor_id == donor.id, EmailMessage.category == "marketing"))
    assert follow_up.status == "stored" and follow_up.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert db.session.scalar(select(func.count()).select_from(Touchpoint).where(Touchpoint.kind == "email_sent")) == 2


def test_marketing_steps_respect_an_opt_out_but_the_thank_you_is_transactional(clock):
    donor = make_donor(first_name="Bo", email="bo@example.org", marketing_opt_in=False)
    switch_on("thank_you")
    make_gift(donor.id, 1000, T0)
    clock.move_to(T0 + timedelta(days=8))
    workflows.run_due_workflow_steps()
    assert subjects(donor.id) == ["Thank you for your gift, Bo"]
    outcomes = [(s.outcome, s.detail) for s in db.session.scalars(select(WorkflowRunStep).order_by(WorkflowRunStep.id))]
    assert outcomes == [("emailed", "Thank you for your gift"), ("skipped", "No marketing consent.")]
    assert run_of("thank_you", donor.id).status == "completed"


def test_the_same_occurrence_never_enters_twice_and_a_step_never_runs_twice(clock):
    donor = make_donor(first_name="Cy", email="cy@example.org", marketing_opt_in=True)
    switch_on("thank_you")
    make_gift(donor.id, 1000, T0)
    touchpoint = db.session.scalar(select(Touchpoint).where(Touchpoint.kind == "gift_received"))
    workflows.on_touchpoint(touchpoint)  # the same gift again, as a replayed reactor would
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(WorkflowRun)) == 1
    workflow = db.session.scalar(select(Workflow).where(Workflow.key == "thank_you"))
    assert workflows.enter(workflow, donor.id, f"touchpoint:{touchpoint.id}") is None
    clock.move_to(T0 + timedelta(days=7, minutes=1))
    run_id = run_of("thank_you", donor.id).id
    workflows.advance_runs([run_id])
    workflows.advance_runs([run_id])
    assert len(subjects(donor.id)) == 2


def test_a_gift_from_history_does_not_start_workflows(clock):
    donor = make_donor(first_name="Di", email="di@example.org", marketing_opt_in=True)
    switch_on("thank_you")
    make_gift(donor.id, 1000, T0 - timedelta(days=40))
    assert subjects(donor.id) == [] and db.session.scalar(select(WorkflowRun.id)) is None


def test_the_weekly_cap_stops_extra_marketing_email(clock):
    engagement_settings.update(marketing_weekly_cap=1, track_opens=False, track_clicks=False)
    donor = make_donor(first_name="Ed", email="ed@example.org", marketing_opt_in=True)
    switch_on("thank_you")
    make_gift(donor.id, 1000, T0)
    clock.move_to(T0 + timedelta(days=5))
    outbox.queue_email("ed@example.org", "Spring newsletter", "News", donor_id=donor.id, category="marketing",
                       idempotency_key="newsletter:1")
    db.session.commit()
    clock.move_to(T0 + timedelta(days=7, minutes=1))
    workflows.run_due_workflow_steps()
    assert subjects(donor.id) == ["Thank you for your gift, Ed", "Spring newsletter"]
    assert db.session.scalar(select(WorkflowRunStep.detail).where(WorkflowRunStep.outcome == "skipped")) == \
        "Weekly limit of 1 marketing emails reached."


def test_a_segment_condition_and_the_reentry_window(clock):
    switch_on("loyal_offer")
    loyal = make_donor(first_name="Flo", email="flo@example.org", marketing_opt_in=True)
    occasional = make_donor(first_name="Gus", email="gus@example.org", marketing_opt_in=True)
    for days in (800, 400, 30):
        make_gift(loyal.id, 1000, T0 - timedelta(days=days))
    make_gift(loyal.id, 1000, T0 - timedelta(hours=2))
    make_gift(occasional.id, 1000, T0 - timedelta(hours=2))
    assert run_of("loyal_offer", occasional.id) is None
    assert run_of("loyal_offer", loyal.id).next_due_at == T0 + timedelta(days=2)
    clock.move_to(T0 + timedelta(days=3))
    make_gift(loyal.id, 1000, T0 + timedelta(days=3))  # within a year of entering: not again
    assert db.session.scalar(select(func.count()).select_from(WorkflowRun).where(WorkflowRun.donor_id == loyal.id)) == 1
    workflows.run_due_workflow_steps()
    assert subjects(loyal.id) == ["Flo, a thank-you for your loyalty"]


def test_birthday_enters_once_a_year_in_the_organisations_time_zone(clock):
    switch_on("birthday")
    today = make_donor(first_name="Hal", email="hal@example.org", marketing_opt_in=True, birthday=date(1980, 6, 1))
    make_donor(first_name="Ivy", email="ivy@example.org", marketing_opt_in=True, birthday=date(1980, 6, 2))
    assert workflows.enter_scheduled_workflows() == 1
    assert workflows.enter_scheduled_workflows() == 0
    assert subjects(today.id) == ["Happy birthday, Hal!"]
    assert run_of("birthday", today.id).occurrence_key == "birthday:2026"


def test_inactivity_enters_once_per_spell(clock):
    switch_on("re_engagement")
    quiet = make_donor(first_name="Jo", email="jo@example.org", marketing_opt_in=True)
    busy = make_donor(first_name="Kim", email="kim@example.org", marketing_opt_in=True)
    db.session.execute(update(Touchpoint).where(Touchpoint.donor_id == quiet.id).values(occurred_at=T0 - timedelta(days=200)))
    db.session.commit()
    assert workflows.enter_scheduled_workflows() == 1
    clock.move_to(T0 + timedelta(days=1))
    assert workflows.enter_scheduled_workflows() == 0
    assert subjects(quiet.id) == ["We miss you, Jo"] and subjects(busy.id) == []
    assert run_of("re_engagement", quiet.id).occurrence_key == f"inactive:{(T0 - timedelta(days=200)):%Y-%m-%d}"


def test_renewal_check_in_emails_the_donor_and_creates_a_task_for_the_team(clock):
    switch_on("renewal_check_in")
    donor = make_donor(first_name="Lia", last_name="Moss", email="lia@example.org")
    start_plan(donor.id, PlanInput(kind="sponsorship", amount_minor=1500, currency="GBP", interval="monthly",
                                   started_at=date(2025, 6, 20), renews_on=date(2026, 6, 20), description="Sponsoring the Bay crew"))
    far = make_donor(first_name="Max", email="max@example.org")
    start_plan(far.id, PlanInput(kind="sponsorship", amount_minor=1500, currency="GBP", interval="monthly",
                                 started_at=date(2025, 9, 1), renews_on=date(2026, 9, 1)))
    assert workflows.enter_scheduled_workflows() == 1
    assert subjects(donor.id) == ["Your sponsorship renews on 20 June 2026"]
    task = db.session.scalar(select(Task))
    assert (task.title, task.assignee_role, task.donor_id, task.due_at) == (
        "Call Lia Moss before their sponsorship renews on 20 June 2026", "fundraiser", donor.id, T0 + timedelta(days=14))
    assert workflows.enter_scheduled_workflows() == 0


def test_no_gift_since_n_days(clock):
    workflow = workflows.save_workflow(None, name="Been a while", description="", trigger="no_gift_since", trigger_days=365)
    workflows.add_step(workflow, "add_tag", 0, {"tag": "Lapsed-Check"})
    workflows.set_enabled(workflow, True)
    old = make_donor(first_name="Ned")
    make_gift(old.id, 1000, T0 - timedelta(days=400))
    recent = make_donor(first_name="Ola")
    make_gift(recent.id, 1000, T0 - timedelta(days=100))
    assert workflows.enter_scheduled_workflows() == 1
    db.session.expire_all()
    assert [t.name for t in db.session.get(type(old), old.id).tags] == ["lapsed-check"]


def test_a_disabled_workflow_pauses_its_waiting_steps(clock):
    donor = make_donor(first_name="Pia", email="pia@example.org", marketing_opt_in=True)
    switch_on("thank_you")
    make_gift(donor.id, 1000, T0)
    workflow = db.session.scalar(select(Workflow).where(Workflow.key == "thank_you"))
    workflows.set_enabled(workflow, False)
    clock.move_to(T0 + timedelta(days=8))
    assert workflows.run_due_workflow_steps() == 0
    workflows.set_enabled(workflow, True)
    assert workflows.run_due_workflow_steps() == 1
    assert len(subjects(donor.id)) == 2


def test_a_registered_step_runs_with_its_key_and_a_failure_is_retried_later(clock, monkeypatch):
    seen = []

    def award_points(ctx):
        seen.append(ctx.key)
        if len(seen) == 1:
            raise RuntimeError("points service unavailable")
        return workflows.StepResult("done", f"Awarded {ctx.config['points']} points")

    monkeypatch.setitem(workflows.STEPS, "award_points", None)  # removed again after the test
    workflows.register_step("award_points", "Award points", award_points,
                            options=[workflows.StepOption("points", "Points", "number")], describe=lambda c: f"Award {c['points']} points")
    workflow = workflows.save_workflow(None, name="Points for gifts", description="", trigger="gift_received")
    step = workflows.add_step(workflow, "award_points", 0, {"points": "50"})
    assert step.config == {"points": 50}
    workflows.set_enabled(workflow, True)
    donor = make_donor(first_name="Quin")
    make_gift(donor.id, 1000, T0)
    run = db.session.scalar(select(WorkflowRun))
    assert (run.status, run.last_error, run.next_due_at) == ("active", "points service unavailable", T0 + timedelta(hours=1))
    clock.move_to(T0 + timedelta(hours=1, minutes=1))
    workflows.run_due_workflow_steps()
    db.session.expire_all()
    run = db.session.get(WorkflowRun, run.id)
    assert (run.status, run.last_error) == ("completed", "")
    assert seen == [f"workflow:{run.id}:{step.id}"] * 2
    assert db.session.scalar(select(WorkflowRunStep.detail)) == "Awarded 50 points"


def test_step_settings_are_checked():
    workflow = workflows.save_workflow(None, name="Checks", description="", trigger="gift_received")
    with pytest.raises(workflows.WorkflowError, match="Choose a template"):
        workflows.add_step(workflow, "send_email", 0, {"template_id": "999"})
    with pytest.raises(workflows.WorkflowError, match="team"):
        workflows.add_step(workflow, "create_task", 0, {"title": "Call", "role": "donor"})
    with pytest.raises(workflows.WorkflowError, match="no token called"):
        workflows.add_step(workflow, "create_task", 0, {"title": "Call {{ nmae }}", "role": "support"})
    with pytest.raises(workflows.WorkflowError, match="delay"):
        workflows.add_step(workflow, "add_tag", "soon", {"tag": "x"})
    with pytest.raises(workflows.WorkflowError, match="Add at least one step"):
        workflows.set_enabled(workflow, True)
    with pytest.raises(workflows.WorkflowError, match="days"):
        workflows.save_workflow(None, name="No days", description="", trigger="inactive")
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(WorkflowStep)) == 0


def test_per_step_counts_follow_opens_clicks_and_gifts(clock):
    donor = make_donor(first_name="Ray", email="ray@example.org", marketing_opt_in=True)
    other = make_donor(first_name="Sue", email="sue@example.org", marketing_opt_in=False)
    switch_on("thank_you")
    make_gift(donor.id, 1000, T0)
    make_gift(other.id, 1000, T0)
    thanks = db.session.scalar(select(EmailMessage).where(EmailMessage.donor_id == donor.id))
    tracking.record_open(thanks.id)
    tracking.record_click(thanks.id, "https://harbour.example/impact")
    clock.move_to(T0 + timedelta(days=3))
    make_gift(donor.id, 2000, T0 + timedelta(days=3))  # gave again within the conversion window
    workflow = db.session.scalar(select(Workflow).where(Workflow.key == "thank_you"))
    first, second = workflow.steps
    stats = workflows.step_stats(workflow)
    assert (stats[first.id].reached, stats[first.id].emailed, stats[first.id].opened, stats[first.id].clicked,
            stats[first.id].converted) == (3, 3, 1, 1, 1)
    assert second.id not in stats
    overall = workflows.workflow_stats([workflow.id])[workflow.id]
    assert (overall.entered, overall.active, overall.converted) == (3, 3, 1)
    kinds = list(db.session.scalars(select(Touchpoint.kind).where(Touchpoint.donor_id == donor.id, Touchpoint.kind.like("email_%"))))
    assert sorted(kinds) == ["email_clicked", "email_opened", "email_sent", "email_sent"]


def _tagging_workflow(trigger: str, days: int | None) -> Workflow:
    workflow = workflows.save_workflow(None, name=f"{trigger} check", description="", trigger=trigger, trigger_days=days)
    workflows.add_step(workflow, "add_tag", 0, {"tag": f"{trigger}-check"})
    workflows.set_enabled(workflow, True)
    return workflow


def _entered(workflow: Workflow) -> dict[int, str]:
    return dict(db.session.execute(select(WorkflowRun.donor_id, WorkflowRun.occurrence_key)
                                   .where(WorkflowRun.workflow_id == workflow.id)).all())


def _last_active(donor, days_ago: float) -> None:
    db.session.execute(update(Touchpoint).where(Touchpoint.donor_id == donor.id)
                       .values(occurred_at=T0 - timedelta(days=days_ago)))
    db.session.commit()


def test_inactive_n_days_counts_from_the_last_activity_and_a_new_spell_enters_again(clock):
    workflow = _tagging_workflow("inactive", 90)
    quiet, recent = make_donor(first_name="Quin"), make_donor(first_name="Rae")
    _last_active(quiet, 91)
    _last_active(recent, 89)
    workflows.enter_scheduled_workflows()
    assert _entered(workflow) == {quiet.id: f"inactive:{T0 - timedelta(days=91):%Y-%m-%d}"}

    make_gift(quiet.id, 1000, T0)  # active again: this spell is over, and a new one starts
    clock.move_to(T0 + timedelta(days=89))
    workflows.enter_scheduled_workflows()
    assert _entered(workflow)[recent.id] == f"inactive:{T0 - timedelta(days=89):%Y-%m-%d}"
    runs = select(WorkflowRun.occurrence_key).where(WorkflowRun.workflow_id == workflow.id, WorkflowRun.donor_id == quiet.id)
    assert list(db.session.scalars(runs)) == [f"inactive:{T0 - timedelta(days=91):%Y-%m-%d}"]
    clock.move_to(T0 + timedelta(days=91))
    workflows.enter_scheduled_workflows()
    assert sorted(db.session.scalars(runs)) == [f"inactive:{T0 - timedelta(days=91):%Y-%m-%d}", f"inactive:{T0:%Y-%m-%d}"]


def test_no_gift_since_n_days_leaves_out_donors_who_never_gave(clock):
    workflow = _tagging_workflow("no_gift_since", 180)
    lapsed, giving, never = make_donor(first_name="Sam"), make_donor(first_name="Tia"), make_donor(first_name="Uma")
    make_gift(lapsed.id, 1000, T0 - timedelta(days=181))
    make_gift(giving.id, 1000, T0 - timedelta(days=179))
    workflows.enter_scheduled_workflows()
    assert _entered(workflow) == {lapsed.id: f"no_gift:{T0 - timedelta(days=181):%Y-%m-%d}"}
    assert never.id not in _entered(workflow)


def test_renewal_in_n_days_takes_active_sponsorships_and_memberships_inside_the_window(clock):
    workflow = _tagging_workflow("renewal_due", 30)
    today = T0.date()
    plans = {}
    for name, kind, renews_on in (("edge", "sponsorship", today + timedelta(days=30)), ("today", "membership", today),
                                  ("late", "sponsorship", today + timedelta(days=31)),
                                  ("past", "sponsorship", today - timedelta(days=1)),
                                  ("gift", "recurring_gift", today + timedelta(days=10)),
                                  ("cancelled", "membership", today + timedelta(days=10))):
        donor = make_donor(first_name=name.title())
        plans[name] = (donor.id, start_plan(donor.id, PlanInput(kind=kind, amount_minor=1500, currency="GBP", interval="monthly",
                                                                started_at=date(2025, 1, 1), renews_on=renews_on)))
    db.session.execute(update(type(plans["cancelled"][1])).where(type(plans["cancelled"][1]).id == plans["cancelled"][1].id)
                       .values(status="cancelled"))
    db.session.commit()
    workflows.enter_scheduled_workflows()
    assert _entered(workflow) == {
        plans["edge"][0]: f"renewal:{plans['edge'][1].id}:{today + timedelta(days=30):%Y-%m-%d}",
        plans["today"][0]: f"renewal:{plans['today'][1].id}:{today:%Y-%m-%d}"}


def test_a_29_february_birthday_is_kept_on_28_february_in_other_years():
    workflow = _tagging_workflow("birthday", None)
    leapling = make_donor(first_name="Leo", birthday=date(2000, 2, 29))
    with time_machine.travel(datetime(2027, 2, 28, 12), tick=False):
        workflows.enter_scheduled_workflows()
    assert _entered(workflow) == {leapling.id: "birthday:2027"}
    with time_machine.travel(datetime(2028, 2, 28, 12), tick=False):  # a leap year: the day itself comes tomorrow
        workflows.enter_scheduled_workflows()
    assert _entered(workflow) == {leapling.id: "birthday:2027"}
    with time_machine.travel(datetime(2028, 2, 29, 12), tick=False):
        workflows.enter_scheduled_workflows()
    assert db.session.scalar(select(func.count()).select_from(WorkflowRun).where(WorkflowRun.donor_id == leapling.id)) == 2


def test_a_birthday_starts_at_midnight_in_the_organisations_time_zone():
    workflow = _tagging_workflow("birthday", None)
    june_first = make_donor(first_name="Viv", birthday=date(1990, 6, 1))
    with time_machine.travel(datetime(2026, 5, 31, 22, 30), tick=False):  # 23:30 in London (BST): still 31 May
        workflows.enter_scheduled_workflows()
    assert _entered(workflow) == {}
    with time_machine.travel(datetime(2026, 5, 31, 23, 30), tick=False):  # 00:30 on 1 June in London
        workflows.enter_scheduled_workflows()
    assert _entered(workflow) == {june_first.id: "birthday:2026"}


def test_a_gift_on_the_last_moment_of_the_conversion_window_counts_on_both_databases(clock):
    """The window's end is the step's time plus N days to the microsecond (SQLite compares timestamps as text)."""
    donor = make_donor(first_name="Ray", email="ray@example.org")
    switch_on("thank_you")
    sent_at = T0 + timedelta(microseconds=250_000)
    clock.move_to(sent_at)
    make_gift(donor.id, 1000, sent_at)
    workflow = db.session.scalar(select(Workflow).where(Workflow.key == "thank_you"))
    first = workflow.steps[0]
    executed_at = db.session.scalar(select(WorkflowRunStep.executed_at).where(WorkflowRunStep.step_id == first.id))
    assert executed_at == sent_at
    last_moment = sent_at + timedelta(days=workflow.conversion_days)
    clock.move_to(last_moment)
    make_gift(donor.id, 2000, last_moment)
    assert workflows.step_stats(workflow)[first.id].converted == 1
