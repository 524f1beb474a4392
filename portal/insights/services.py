"""The insight reports: which exist, how their filters are read, and how their results are computed by a
job on the `reports` queue and kept as snapshots with the time they were computed."""
from __future__ import annotations

import calendar
import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Callable, Iterator, Mapping

from sqlalchemy import Select, select, update
from sqlalchemy.exc import IntegrityError

from portal import jobs
from portal.engagement import services as engagement
from portal.engagement.models import Segment
from portal.extensions import db
from portal.giving.models import DonorStats
from portal.giving.services import add_months
from portal.insights import (cohorts, engagement_report, funnel, headline, lifetime, periods, results, retention_report,
                             satisfaction)
from portal.insights.filters import DateRange, RangeErrors, ReportParams, parse_range, quarter_range, today_local
from portal.insights.models import ReportSnapshot
from portal.insights.presenters import headline_tiles
from portal.params import parse_id
from portal.settings.services import organisation
from portal.timeutil import utcnow

log = logging.getLogger(__name__)

MAX_AGE = timedelta(hours=1)  # an older snapshot is shown while a fresh one is computed
LOST_AFTER = timedelta(minutes=10)  # a snapshot queued this long ago without a result lost its job


@dataclass(frozen=True)
class Report:
    name: str
    title: str
    summary: str
    compute: Callable[..., Any]
    result_type: type
    csv_rows: Callable[[Any], Iterator[list]]
    default_range: Callable[[date, str], DateRange]
    max_years: Callable[[str], int]
    grains: dict[str, str] = field(default_factory=dict)
    days: tuple[int, ...] = ()
    definitions: dict[str, str] = field(default_factory=dict)
    by_survey: bool = False  # offers a choice of survey
    by_year: bool = False  # counts in years: financial years by default, or rolling 12-month periods
    fy_grains: tuple[str, ...] = ()  # grains whose years are financial years
    # one stretch of time, in whole financial years by default, or rolling 12-month windows, or custom dates
    by_window: bool = False
    fy_default_years: int = 0  # the default window: this many financial years, the current one so far included


REPORTS: dict[str, Report] = {
    "funnel": Report("funnel", "Donor journey", "Where donors drop off between inquiry, first gift, regular giving and renewal.",
                     funnel.compute, funnel.FunnelReport, funnel.csv_rows, lambda today, _: funnel.default_range(today),
                     lambda _: funnel.MAX_YEARS, by_window=True, fy_default_years=funnel.DEFAULT_YEARS),
    "retention": Report("retention", "Retention", "Year-over-year donor and value retention, new and repeat, LYBUNT and SYBUNT.",
                        retention_report.compute, retention_report.RetentionReport, retention_report.csv_rows,
                        lambda today, _: retention_report.default_range(today), lambda _: retention_report.MAX_PERIODS,
                        definitions=retention_report.DEFINITIONS, by_year=True),
    "cohorts": Report("cohorts", "Cohorts", "How many of each month's or year's new donors keep giving.",
                      cohorts.compute, cohorts.CohortReport, cohorts.csv_rows, cohorts.default_range, cohorts.max_years,
                      grains=cohorts.GRAINS, definitions=cohorts.DEFINITIONS, fy_grains=("year",)),
    "lifetime": Report("lifetime", "Lifetime value", "What donors have given and are expected to give; the most valuable and most at risk.",
                       lifetime.compute, lifetime.LifetimeReport, lifetime.csv_rows, lambda today, _: lifetime.default_range(today),
                       lambda _: 30, definitions=lifetime.DEFINITIONS, by_window=True,
                       fy_default_years=lifetime.DEFAULT_YEARS),
    "engagement": Report("engagement", "Engagement", "Emails sent, opened and clicked, gifts that followed them, and help-centre self-service.",
                         engagement_report.compute, engagement_report.EngagementReport, engagement_report.csv_rows,
                         lambda today, _: engagement_report.default_range(today), lambda _: engagement_report.MAX_YEARS,
                         days=engagement_report.ATTRIBUTION_DAYS, definitions=engagement_report.DEFINITIONS),
    "satisfaction": Report("satisfaction", "Satisfaction", "CSAT average and NPS over time and by survey, with what donors wrote.",
                           satisfaction.compute, satisfaction.SatisfactionReport, satisfaction.csv_rows,
                           lambda today, _: satisfaction.default_range(today), lambda _: satisfaction.MAX_YEARS,
                           definitions=satisfaction.DEFINITIONS, by_survey=True),
    "headline": Report("headline", "Headline numbers", "The back-office home's figures with their trends.",
                       headline.compute, headline.HeadlineReport, lambda report: iter(()),
                       lambda today, _: headline.default_range(today), lambda _: 1, definitions=headline.DEFINITIONS),
}


class UnknownScope(LookupError):
    """A donor scope (such as a segment) that doesn't exist; the message is for the user."""


# Resolvers for narrowing reports to some donors: prefix -> function(identifier) returning a Select of
# donor ids, or None when there is no such thing. Segments register here ("segment" -> segment members),
# with the choices the filter offers.
_SCOPES: dict[str, Callable[[str], Select | None]] = {}
_SCOPE_CHOICES: dict[str, Callable[[], list[tuple[int, str]]]] = {}


def register_scope(prefix: str, resolver: Callable[[str], Select | None],
                   choices: Callable[[], list[tuple[int, str]]] | None = None) -> None:
    _SCOPES[prefix] = resolver
    if choices is not None:
        _SCOPE_CHOICES[prefix] = choices


def segment_members(segment_id: str) -> Select | None:
    """Every report can be narrowed to an engagement segment's members (None: no such segment)."""
    number = parse_id(segment_id)
    segment = db.session.get(Segment, number) if number is not None else None
    return engagement.members_select(segment) if segment is not None else None


def segment_choices() -> list[tuple[int, str]]:
    return [(segment_id, name) for segment_id, name in db.session.execute(select(Segment.id, Segment.name).order_by(Segment.name))]


def scope_choices(prefix: str) -> list[tuple[int, str]]:
    """(id, name) of what a report can be narrowed to, for the filter's list."""
    provider = _SCOPE_CHOICES.get(prefix)
    return provider() if provider else []


def parse_scope(args: Mapping[str, str]) -> str:
    """The scope named by the query string: "all", or "segment:<id>" when a segment is chosen."""
    segment = (args.get("segment") or "").strip()
    if not segment:
        return "all"
    number = parse_id(segment)
    if number is None:
        raise UnknownScope("Choose a segment from the list; that segment reference isn't valid.")
    return f"segment:{number}"


def donor_filter(scope: str) -> Select | None:
    if scope == "all":
        return None
    prefix, _, identifier = scope.partition(":")
    resolver = _SCOPES.get(prefix)
    found = resolver(identifier) if resolver else None
    if found is None:
        raise UnknownScope(f"There is no {prefix} with id {identifier}; it may have been deleted.")
    return found


def today() -> date:
    return today_local(organisation().timezone)


def parse(report: Report, args: Mapping[str, str]) -> tuple[ReportParams, RangeErrors]:
    """Filters from the query string. A financial year or a quarter (funnel cohort) sets the range; blanks take
    the defaults. Reports over one window snap its start to the chosen basis (periods.window)."""
    grain = args.get("grain") if args.get("grain") in report.grains else next(iter(report.grains), "")
    days = engagement_report.DEFAULT_ATTRIBUTION_DAYS if report.days else 0
    errors = RangeErrors()
    if report.days and args.get("days"):
        raw = args.get("days", "")
        if raw.isdigit() and int(raw) in report.days:
            days = int(raw)
        else:
            errors["days"] = "Choose one of the listed numbers of days."
    survey = 0
    if report.by_survey and args.get("survey"):
        raw = args.get("survey", "")
        number = parse_id(raw)
        if number is not None and any(survey_id == number for survey_id, _ in satisfaction.survey_choices()):
            survey = number
        else:
            errors["survey"] = "Choose a survey from the list; that one doesn't exist (it may have been deleted)."
    current = today()
    default = report.default_range(current, grain)
    basis, fy_month = "", 0
    if report.by_year:
        basis = args.get("basis") if args.get("basis") in periods.BASES else "fy"
        fy_month = organisation().financial_year_start
        if basis == "fy":  # the current financial year so far and the three before it
            default = DateRange(add_months(periods.fy_start(current, fy_month), -36), current)
    if grain in report.fy_grains:
        basis, fy_month = "fy", organisation().financial_year_start
        default = DateRange(add_months(periods.fy_start(current, fy_month), -48), current)
    chosen = dict(args)
    if report.by_window:
        basis = args.get("basis") if args.get("basis") in periods.WINDOW_BASES else "fy"
        fy_month = organisation().financial_year_start
        if basis == "fy":
            default = DateRange(add_months(periods.fy_start(current, fy_month), -12 * (report.fy_default_years - 1)), current)
    cohort = (args.get("cohort") or "").strip()
    if cohort:
        found = quarter_range(cohort)
        year = periods.fy_range(cohort, fy_month, current) if report.by_window and cohort.upper().startswith("FY") else None
        if found is not None:
            basis = "custom" if report.by_window else basis
            chosen.update(start=found.start.isoformat(), end=found.end.isoformat())
        elif year is not None:
            basis = "fy"
            chosen.update(start=year[0].isoformat(), end=year[1].isoformat())
        else:
            errors["cohort"] = "Choose a financial year or a quarter from the list."
    range_, range_errors = parse_range(chosen, default, max_years=report.max_years(grain), today=current)
    errors.update(range_errors)
    if report.by_window and not range_errors:
        range_ = DateRange(periods.window(basis, fy_month, range_.start, range_.end), range_.end)
    return ReportParams(range_, grain, days, survey, basis, fy_month if basis == "fy" else 0), errors


def period_definition(report: Report, params: ReportParams) -> str:
    """The period definition a report uses, in words (on its page and in its CSV)."""
    if report.by_year:
        return periods.describe(params.basis, params.fy_start, params.range.end)
    if report.by_window:
        return periods.describe_window(params.basis, params.fy_start, params.range.start, params.range.end)
    if report.grains:
        unit = "calendar months"
        if params.grain == "year":
            unit = (f"financial years starting 1 {calendar.month_name[params.fy_start]}"
                    if params.fy_start not in (0, 1) else "calendar years")
        return (f"Cohorts by the {unit} (UTC) of the first gift, from {params.range.start:%-d %b %Y} "
                f"to {params.range.end:%-d %b %Y}.")
    return f"Custom range: {params.range.start:%-d %b %Y} to {params.range.end:%-d %b %Y}."


# ---------------------------------------------------------------- snapshots

def params_key(params: ReportParams, scope: str) -> str:
    canonical = json.dumps({"params": params.to_params(), "scope": scope}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def find_snapshot(report: Report, params: ReportParams, scope: str = "all") -> ReportSnapshot | None:
    return db.session.scalar(select(ReportSnapshot).where(
        ReportSnapshot.report == report.name, ReportSnapshot.params_key == params_key(params, scope)))


def is_stale(snapshot: ReportSnapshot) -> bool:
    return snapshot.computed_at is None or snapshot.computed_at < utcnow() - MAX_AGE


def request(report: Report, params: ReportParams, scope: str = "all", *, force: bool = False) -> ReportSnapshot:
    """The snapshot for these filters, with a job queued if it is missing, stale or a refresh was asked for.

    A snapshot already queued or running is left alone, so reloading a page never piles up jobs.
    """
    snapshot = find_snapshot(report, params, scope)
    if snapshot is None:
        snapshot = ReportSnapshot(report=report.name, params_key=params_key(params, scope), params=params.to_params(),
                                  scope=scope, status="queued", requested_at=utcnow())
        db.session.add(snapshot)
        try:
            db.session.flush()
        except IntegrityError:  # another request created it a moment ago
            db.session.rollback()
            return request(report, params, scope, force=force)
    elif snapshot.status in ("queued", "running"):
        return snapshot
    elif not force and snapshot.status == "done" and not is_stale(snapshot):
        return snapshot
    elif not force and snapshot.status == "failed":
        return snapshot
    else:
        snapshot.status, snapshot.requested_at, snapshot.error = "queued", utcnow(), ""
    snapshot.job_id = jobs.enqueue_after_commit("reports", "portal.insights.tasks.compute_snapshot", snapshot.id)
    db.session.commit()
    db.session.refresh(snapshot)
    return snapshot


def run_snapshot(snapshot_id: int) -> None:
    """The job: compute the report for the snapshot's filters and keep the result. Running it again for
    a snapshot already computed after it was requested changes nothing."""
    snapshot = db.session.get(ReportSnapshot, snapshot_id)
    if snapshot is None or snapshot.report not in REPORTS:
        return
    if snapshot.status == "done" and snapshot.computed_at and snapshot.computed_at >= snapshot.requested_at:
        return
    report = REPORTS[snapshot.report]
    started = utcnow()
    snapshot.status, snapshot.started_at = "running", started
    db.session.commit()
    try:
        result = report.compute(ReportParams.from_params(snapshot.params), tz_name=organisation().timezone,
                                donor_filter=donor_filter(snapshot.scope), progress=jobs.report_progress)
    except Exception as exc:  # the page shows the failure and offers to try again
        db.session.rollback()
        log.exception("insight report %s (snapshot %s) failed", snapshot.report, snapshot_id)
        db.session.execute(update(ReportSnapshot).where(ReportSnapshot.id == snapshot_id).values(
            status="failed", error=_failure_message(exc)))
        db.session.commit()
        return
    snapshot = db.session.get(ReportSnapshot, snapshot_id)
    snapshot.result, snapshot.status, snapshot.error = results.dump(result), "done", ""
    snapshot.computed_at = utcnow()
    snapshot.duration_ms = int((snapshot.computed_at - started).total_seconds() * 1000)
    db.session.commit()


def _failure_message(exc: Exception) -> str:
    if isinstance(exc, UnknownScope):
        return str(exc)
    return "The calculation stopped with an error, which has been logged."


def result_of(snapshot: ReportSnapshot | None) -> Any:
    """The report result kept in a snapshot, or None while there is none yet."""
    if snapshot is None or snapshot.result is None:
        return None
    return results.load(REPORTS[snapshot.report].result_type, snapshot.result)


def progress_of(snapshot: ReportSnapshot) -> dict:
    return jobs.job_progress(snapshot.job_id)


def current_result(report: Report, params: ReportParams, scope: str = "all") -> Any:
    """For exports: the snapshot's result when it is done and fresh, else computed now (within a second
    by design), so a CSV always has numbers even before anyone opened the page."""
    snapshot = find_snapshot(report, params, scope)
    if snapshot is not None and snapshot.status == "done" and not is_stale(snapshot):
        return result_of(snapshot)
    return report.compute(params, tz_name=organisation().timezone, donor_filter=donor_filter(scope))


def sweep_lost() -> int:
    """Re-enqueue snapshots whose job vanished (a worker died, Redis was down): queued or running for
    longer than any report takes."""
    lost = db.session.scalars(select(ReportSnapshot).where(
        ReportSnapshot.status.in_(("queued", "running")), ReportSnapshot.requested_at < utcnow() - LOST_AFTER,
        ReportSnapshot.report.in_(list(REPORTS)))).all()
    for snapshot in lost:
        snapshot.status, snapshot.requested_at = "queued", utcnow()
        snapshot.job_id = jobs.enqueue_after_commit("reports", "portal.insights.tasks.compute_snapshot", snapshot.id)
    db.session.commit()
    return len(lost)


# ---------------------------------------------------------------- the home page's tiles

def headline_params() -> ReportParams:
    """Today's headline figures, over the organisation's financial year."""
    current = today()
    return ReportParams(DateRange(current, current), basis="fy", fy_start=organisation().financial_year_start)


def mark_headline_stale() -> None:
    """Something that moves the home page's figures happened (a gift, an import): today's headline snapshot
    is recomputed in the background. No commit: the job is queued when the caller's transaction commits.
    One already queued or running is left alone."""
    snapshot = find_snapshot(REPORTS["headline"], headline_params())
    if snapshot is not None and snapshot.status in ("done", "failed"):
        snapshot.status, snapshot.requested_at, snapshot.error = "queued", utcnow(), ""
        snapshot.job_id = jobs.enqueue_after_commit("reports", "portal.insights.tasks.compute_snapshot", snapshot.id)


def refresh_headline() -> ReportSnapshot:
    """Staff asked for the home page's figures to be recomputed now."""
    return request(REPORTS["headline"], headline_params(), force=True)


def home_tiles() -> list[dict]:
    """Tiles for the back-office home from the headline snapshot; a missing or old one is recomputed by a
    job, so the page never waits for the figures."""
    snapshot = request(REPORTS["headline"], headline_params())
    return headline_tiles(result_of(snapshot), snapshot)


_VALUE_MODEL: dict[str, object] = {}


def value_model():
    """The lifetime-value model (chances of giving again by state), measured once an hour per process:
    the donor page shows each donor's predicted value with it."""
    hour = utcnow().strftime("%Y-%m-%dT%H")
    if _VALUE_MODEL.get("hour") != hour:
        _VALUE_MODEL.update(hour=hour, model=lifetime.measure_model(utcnow()))
    return _VALUE_MODEL["model"]


def donor_value(donor_id: int):
    """Lifetime and predicted value of one donor, or None before their first gift."""
    stats = db.session.get(DonorStats, donor_id)
    if stats is None:
        return None
    return lifetime.donor_value(stats.first_gift_at, stats.last_gift_at, stats.lifetime_minor, value_model(), utcnow())
