"""Report snapshots (computed by a job, kept with their time), filters, the headline numbers and the charts."""
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select, update
from werkzeug.datastructures import MultiDict

from portal.extensions import db
from portal.insights import charts, filters, headline, periods, results, retention_report, services
from portal.insights.filters import DateRange, ReportParams
from portal.insights.models import ReportSnapshot
from portal.money import format_money
from portal.timeutil import utcnow
from tests.conftest import make_donor, make_gift

pytestmark = pytest.mark.usefixtures("ctx")
RETENTION = services.REPORTS["retention"]
PARAMS = ReportParams(DateRange(date(2022, 1, 1), date(2024, 12, 31)))


def _two_donors():
    a = make_donor(first_name="A", email="a@example.org").id
    b = make_donor(first_name="B", email="b@example.org").id
    make_gift(a, 1000, datetime(2023, 5, 1, 12))
    make_gift(a, 1000, datetime(2024, 5, 1, 12))
    make_gift(b, 3000, datetime(2023, 6, 1, 12))
    return a, b


# ---------------------------------------------------------------- snapshots

def test_a_request_computes_the_report_in_a_job_and_keeps_it():
    _two_donors()
    snapshot = services.request(RETENTION, PARAMS)
    assert snapshot.status == "done" and snapshot.computed_at is not None and snapshot.duration_ms is not None
    report = services.result_of(snapshot)
    assert isinstance(report, retention_report.RetentionReport)
    assert (report.current.previous_donors, report.current.retained, report.lybunt.donors) == (2, 1, 1)
    again = services.request(RETENTION, PARAMS)
    assert again.id == snapshot.id and again.computed_at == snapshot.computed_at  # fresh: no new job


def test_a_stale_snapshot_or_a_refresh_recomputes_with_new_data():
    a, _ = _two_donors()
    first = services.request(RETENTION, PARAMS)
    make_gift(a, 5000, datetime(2024, 7, 1, 12))
    assert services.result_of(services.request(RETENTION, PARAMS)).current.amount_minor == 1000  # still the kept one
    forced = services.request(RETENTION, PARAMS, force=True)
    assert services.result_of(forced).current.amount_minor == 6000
    db.session.execute(update(ReportSnapshot).values(computed_at=utcnow() - services.MAX_AGE - timedelta(minutes=1)))
    db.session.commit()
    stale = services.request(RETENTION, PARAMS)
    assert stale.id == first.id and stale.computed_at > utcnow() - timedelta(minutes=1)


def test_running_the_job_twice_changes_nothing():
    _two_donors()
    snapshot = services.request(RETENTION, PARAMS)
    computed = snapshot.computed_at
    services.run_snapshot(snapshot.id)
    db.session.refresh(snapshot)
    assert snapshot.computed_at == computed and snapshot.status == "done"


def test_a_failing_report_is_kept_as_failed_with_a_message(monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(services, "REPORTS", {**services.REPORTS, "retention": services.Report(
        "retention", "Retention", "", explode, retention_report.RetentionReport, retention_report.csv_rows,
        lambda today, _: retention_report.default_range(today), lambda _: 12)})
    snapshot = services.request(services.REPORTS["retention"], PARAMS)
    assert snapshot.status == "failed"
    assert snapshot.error == "The calculation stopped with an error, which has been logged."
    assert services.request(services.REPORTS["retention"], PARAMS).status == "failed"  # not retried on every view


def test_lost_jobs_are_queued_again_by_the_sweep():
    _two_donors()
    snapshot = ReportSnapshot(report="retention", params_key=services.params_key(PARAMS, "all"), params=PARAMS.to_params(),
                              status="queued", requested_at=utcnow() - timedelta(hours=1))
    db.session.add(snapshot)
    db.session.commit()
    assert services.sweep_lost() == 1
    db.session.refresh(snapshot)
    assert snapshot.status == "done" and services.result_of(snapshot).current.retained == 1
    assert services.sweep_lost() == 0


def test_snapshots_are_kept_per_filters_and_scope():
    assert services.params_key(PARAMS, "all") != services.params_key(PARAMS, "segment:1")
    other = ReportParams(DateRange(date(2023, 1, 1), date(2024, 12, 31)))
    assert services.params_key(PARAMS, "all") != services.params_key(other, "all")


def test_unknown_scopes_are_refused_and_registered_ones_narrow_the_donors():
    a, b = _two_donors()
    assert services.parse_scope(MultiDict()) == "all"
    assert services.parse_scope(MultiDict({"segment": "12"})) == "segment:12"
    with pytest.raises(services.UnknownScope, match="isn't valid"):
        services.parse_scope(MultiDict({"segment": "12abc"}))
    with pytest.raises(services.UnknownScope, match="no segment with id 12"):
        services.donor_filter("segment:12")
    from portal.donors.models import Donor

    registered = services._SCOPES["segment"]  # the app's own resolver, put back afterwards
    services.register_scope("segment", lambda ident: select(Donor.id).where(Donor.id == a) if ident == "7" else None)
    try:
        snapshot = services.request(RETENTION, PARAMS, "segment:7")
        assert services.result_of(snapshot).current.previous_donors == 1
        with pytest.raises(services.UnknownScope):
            services.donor_filter("segment:8")
    finally:
        services.register_scope("segment", registered)


def test_results_survive_the_round_trip_through_json():
    _two_donors()
    report = retention_report.compute(PARAMS, tz_name="Europe/London")
    loaded = results.load(retention_report.RetentionReport, results.dump(report))
    assert loaded == report


# ---------------------------------------------------------------- filters

TODAY = date(2026, 11, 22)
DEFAULT = DateRange(date(2025, 1, 1), TODAY)


@pytest.mark.parametrize("args, field, message", [
    ({"start": "2026-05-01", "end": "2026-01-01"}, "end", "before the start date"),
    ({"start": "yesterday"}, "start", "as a date such as"),
    ({"start": "0001-01-01"}, "start", "between 1900 and 2100"),
    ({"end": "99999-01-01"}, "end", "as a date such as"),
    ({"start": "1900-01-01", "end": "2026-01-01"}, "start", "up to 30 years"),
    ({"start": "2027-03-01", "end": "2027-04-01"}, "start", "after today"),
])
def test_bad_ranges_get_a_message_and_the_default(args, field, message):
    chosen, errors = filters.parse_range(args, DEFAULT, max_years=30, today=TODAY)
    assert chosen == DEFAULT
    assert list(errors) == [field] and message in errors[field]


def test_blank_fields_take_the_default_and_a_quarter_sets_the_range():
    chosen, errors = filters.parse_range({"start": "", "end": "2026-03-31"}, DEFAULT, max_years=30, today=TODAY)
    assert (chosen, errors) == (DateRange(date(2025, 1, 1), date(2026, 3, 31)), {})
    assert filters.quarter_range("2025-Q4") == DateRange(date(2025, 10, 1), date(2025, 12, 31))
    assert filters.quarter_range("2024-q1") == DateRange(date(2024, 1, 1), date(2024, 3, 31))
    assert filters.quarter_range("2025-Q5") is None and filters.quarter_range("Q1") is None
    assert filters.recent_quarters(date(2026, 2, 10), 3) == [("2026-Q1", "Jan–Mar 2026"), ("2025-Q4", "Oct–Dec 2025"),
                                                             ("2025-Q3", "Jul–Sep 2025")]


def test_local_days_become_utc_bounds():
    start, end = DateRange(date(2024, 7, 1), date(2024, 7, 31)).bounds("Europe/London")
    assert (start, end) == (datetime(2024, 6, 30, 23), datetime(2024, 7, 31, 23))  # midnight BST


# ---------------------------------------------------------------- headline

def test_headline_numbers_for_the_home_page():
    a, b = (make_donor(first_name=n, email=f"{n}@example.org").id for n in ("h1", "h2"))
    now = utcnow().replace(hour=12, minute=0, second=0, microsecond=0)
    make_gift(a, 1000, now - timedelta(days=400))
    make_gift(a, 2000, now - timedelta(days=40))
    make_gift(b, 3000, now - timedelta(days=20))
    today = services.today()
    report = headline.compute(ReportParams(DateRange(today, today)), tz_name="Europe/London")
    assert (report.given_minor, report.new_donors) == (5000, 1)  # b's first gift; a first gave 400 days ago
    assert len(report.given_by_month.values) == 12 and sum(report.given_by_month.values) == 50.0
    assert (report.new_retention_rate, report.lybunt) == (100.0, 0)  # a first gave a year ago and again this year
    tiles = services.home_tiles()  # over the financial year so far (January: the calendar year)
    this_year = periods.fy_start(today, 1)
    assert [t["label"] for t in tiles] == [f"Given in {periods.fy_label(this_year)} so far", "New donors",
                                           "New-donor retention", "LYBUNT donors"]
    so_far = sum(amount for amount, days in ((2000, 40), (3000, 20)) if (now - timedelta(days=days)).date() >= this_year)
    assert tiles[0]["value"] == format_money(so_far, "GBP", whole=True)
    assert 'role="img"' in tiles[0]["hint"] and "<title" in tiles[0]["hint"]


# ---------------------------------------------------------------- charts

def test_charts_are_labelled_accessible_svg():
    svg = charts.line_chart("c1", "Retention <by> period", "2024: 50%", ["2023", "2024"],
                            [charts.Line("Donor retention", [40.0, 50.0]), charts.Line("New", [None, 20.0])])
    assert 'role="img"' in svg and 'aria-labelledby="c1-title c1-desc"' in svg
    assert '<title id="c1-title">Retention &lt;by&gt; period</title>' in svg and '<desc id="c1-desc">2024: 50%</desc>' in svg
    assert svg.count("<polyline") == 1  # a series with one point is a marker, not a line
    bars = charts.horizontal_bars("c2", "Funnel", "desc", [charts.Bar("First gift", 10, "10"), charts.Bar("Second", 0, "0")])
    assert ">First gift</text>" in bars and ">10</text>" in bars
    heat = charts.heat_map("c3", "Cohorts", "desc", ["Jan 2024"], ["Month 0", "Month 1"], [[(100.0, "Jan, month 0"), None]])
    assert "<title>Jan, month 0</title>" in heat and heat.count("<rect") == 1
    assert charts.nice_ceiling(0) == 1 and charts.nice_ceiling(73) == 100 and charts.nice_ceiling(160) == 200
    assert charts.money_axis("GBP")(1_250_000) == "£12k" and charts.money_axis("GBP")(85_000) == "£850"
