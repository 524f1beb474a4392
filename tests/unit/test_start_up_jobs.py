"""A fresh installation does not wait for the nightly jobs: risk scores, alerts and the headline numbers
are computed by `flask jobs warm-up` (which `make run` calls after loading demo data), when the web
process's own scheduler starts, and when a worker starts (once for workers starting together)."""
import redis
from sqlalchemy import func, select

from portal import demo, schedule
from portal.extensions import db
from portal.insights.models import ReportSnapshot
from portal.retention.models import RiskScore


def _donors(app, count=3):
    """Donors loaded in bulk, as the demo data is: nothing has scored them yet."""
    with app.app_context():
        demo.generate_bulk(count, echo=lambda message: None)


def _computed(app):
    with app.app_context():
        scores = db.session.scalar(select(func.count()).select_from(RiskScore))
        headline = db.session.scalar(select(ReportSnapshot.status).where(ReportSnapshot.report == "headline"))
        return scores, headline


def test_score_alert_and_headline_jobs_run_at_start(app):
    assert {p.name for p in schedule.at_start()} == {"risk_scores", "insights-headline", "insights-milestones"}


def test_warm_up_computes_what_the_pages_show(app):
    _donors(app)
    assert _computed(app) == (0, None)
    result = app.test_cli_runner().invoke(args=["jobs", "warm-up"])
    assert result.exit_code == 0, result.output
    assert _computed(app) == (3, "done")


def test_the_in_process_scheduler_runs_them_when_it_starts(app):
    _donors(app, 2)
    fired = schedule.InProcessScheduler(app).run_at_start()
    assert set(fired) == {"risk_scores", "insights-headline", "insights-milestones"}
    assert _computed(app) == (2, "done")


def test_workers_starting_together_queue_them_once(app, redis_url):
    connection = redis.Redis.from_url(redis_url)
    assert set(schedule.enqueue_at_start(connection)) == {"risk_scores", "insights-headline", "insights-milestones"}
    assert schedule.enqueue_at_start(connection) == []
    assert connection.llen("rq:queue:reports") == 3
