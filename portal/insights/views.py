"""Staff pages for the insight reports: filters in the query string, results from snapshots, CSV exports."""
from __future__ import annotations

from typing import Iterator

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, stream_with_context, url_for
from flask_login import current_user
from markupsafe import Markup

from portal import csvfile
from portal.audit import services as audit
from portal.auth.access import require_staff, roles_required
from portal.htmx import is_htmx, render
from portal.insights import funnel, journey_segments, lifetime, periods, presenters, retention_report, satisfaction, services
from portal.insights.filters import RangeErrors, ReportParams, recent_quarters
from portal.insights.forms import RefreshForm, SegmentFromListForm
from portal.params import page_number
from portal.settings.services import organisation

bp = Blueprint("insights", __name__, url_prefix="/staff/insights")
bp.before_request(require_staff)

PAGE_REPORTS = ("funnel", "retention", "cohorts", "lifetime", "engagement", "satisfaction")
ERROR_LABELS = {"start": "Start date", "end": "End date", "cohort": "Cohort", "days": "Days after an email",
                "segment": "Segment", "survey": "Survey"}


def _report_or_404(name: str) -> services.Report:
    if name not in PAGE_REPORTS:
        abort(404)
    return services.REPORTS[name]


def _filters(report: services.Report) -> tuple[ReportParams, str, RangeErrors]:
    params, errors = services.parse(report, request.args)
    scope = "all"
    try:
        scope = services.parse_scope(request.args)
        services.donor_filter(scope)
    except services.UnknownScope as exc:
        errors["segment"] = str(exc)
    return params, scope, errors


def _page(report: services.Report, params: ReportParams, scope: str, errors: RangeErrors, snapshot=None, **extra):
    result = services.result_of(snapshot)
    progress = services.progress_of(snapshot) if snapshot is not None and snapshot.status in ("queued", "running") else None
    # Polling and "Recalculate" replace only the report area; the filter forms swap the whole main column.
    block = "report_area" if request.headers.get("HX-Target") == "report-area" else None
    body = render(f"insights/{report.name}.html", block=block, report=report, params=params, errors=errors,
                  error_labels=ERROR_LABELS, snapshot=snapshot, result=result, progress=progress,
                  refresh_form=RefreshForm(), quarters=recent_quarters(services.today(), 12),
                  financial_years=periods.financial_years(services.today(), organisation().financial_year_start, 6),
                  charts=presenters,
                  reports=services.REPORTS, segments=services.scope_choices("segment"),
                  surveys=satisfaction.survey_choices() if report.by_survey else [], **extra)
    return body, 400 if errors else 200


def _extras(report: services.Report, params: ReportParams, scope: str) -> dict:
    """What a page shows besides its snapshot, read live: the satisfaction report's page of comments."""
    if report.name != "satisfaction":
        return {}
    return {"comments": satisfaction.comments(params, tz_name=organisation().timezone, donor_filter=services.donor_filter(scope),
                                              page=request.args.get("page", 1, type=page_number))}


def report_page(name: str):
    report = _report_or_404(name)
    params, scope, errors = _filters(report)
    if errors:
        return _page(report, params, scope, errors)
    return _page(report, params, scope, errors, services.request(report, params, scope), **_extras(report, params, scope))


for _name in PAGE_REPORTS:
    bp.add_url_rule(f"/{_name}", _name, roles_required("fundraiser")(lambda name=_name: report_page(name)))


@bp.route("/")
@roles_required("fundraiser")
def index():
    return render("insights/index.html", tiles=services.home_tiles(), reports=services.REPORTS, pages=PAGE_REPORTS)


def home_tiles() -> list[dict]:
    """The headline tiles for the back-office home; fundraisers can have them recalculated there."""
    tiles = services.home_tiles()
    if current_user.has_role("fundraiser"):
        tiles = [{**tile, "refresh_url": url_for("insights.refresh_home")} for tile in tiles]
    return tiles


@bp.route("/home/refresh", methods=["POST"])
@roles_required("fundraiser")
def refresh_home():
    if not RefreshForm().validate_on_submit():
        abort(400)
    services.refresh_headline()
    return redirect(url_for("staff.home"), code=303)


@bp.route("/<name>/refresh", methods=["POST"])
@roles_required("fundraiser")
def refresh(name: str):
    report = _report_or_404(name)
    if not RefreshForm().validate_on_submit():
        abort(400)
    params, scope, errors = _filters(report)
    if errors:
        return _page(report, params, scope, errors)
    snapshot = services.request(report, params, scope, force=True)
    if is_htmx():
        return _page(report, params, scope, errors, snapshot, **_extras(report, params, scope))
    return redirect(url_for(f"insights.{name}", **request.args), code=303)


def _csv(rows: Iterator[list], filename: str) -> Response:
    """The report's rows are worked out first, so the audit trail records how many left the building."""
    rows = list(rows)
    audit.record_export("insights.export", filename, max(len(rows) - 1, 0), actor=current_user,
                        detail={"filters": request.args.to_dict()})
    return Response(stream_with_context(csvfile.stream(rows)), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def _stem(name: str, params: ReportParams) -> str:
    return f"{name}-{params.range.start.isoformat()}-to-{params.range.end.isoformat()}"


@bp.route("/<name>/export.csv")
@roles_required("fundraiser")
def export(name: str):
    report = _report_or_404(name)
    params, scope, errors = _filters(report)
    if errors:
        return _page(report, params, scope, errors)
    rows = report.csv_rows(services.current_result(report, params, scope))
    return _csv(_with_definition(rows, services.period_definition(report, params)), f"{_stem(name, params)}.csv")


def _with_definition(rows: Iterator[list], definition: str) -> Iterator[list]:
    """Every exported row says which period definition its figures use, so the file explains itself."""
    for number, row in enumerate(rows):
        yield row + (["period_definition"] if number == 0 else [definition])


@bp.route("/funnel/dropped")
@roles_required("fundraiser")
def funnel_dropped():
    report = services.REPORTS["funnel"]
    step = request.args.get("step", "")
    if step not in funnel.DROP_KEYS:
        abort(404)
    params, scope, errors = _filters(report)
    page = None
    if not errors:
        page = funnel.dropped_donors(params, step, tz_name=organisation().timezone, donor_filter=services.donor_filter(scope),
                                     page=request.args.get("page", 1, type=page_number))
    return render("insights/funnel_dropped.html", report=report, params=params, errors=errors, error_labels=ERROR_LABELS,
                  step=funnel.STEPS[step], result=page, segment_form=SegmentFromListForm()), 400 if errors else 200


@bp.route("/funnel/dropped/segment", methods=["POST"])
@roles_required("fundraiser")
def funnel_dropped_segment():
    """Turn the drop-off list (filters in the query string) into a segment and open it."""
    step = request.args.get("step", "")
    if step not in funnel.DROP_KEYS:
        abort(404)
    if not SegmentFromListForm().validate_on_submit():
        abort(400)
    params, scope, errors = _filters(services.REPORTS["funnel"])
    if errors:
        return funnel_dropped()
    try:
        segment = journey_segments.create_dropped_segment(params, step, scope=scope, actor=current_user)
    except journey_segments.NotExpressible as exc:
        flash(str(exc), "error")
        return redirect(url_for("insights.funnel_dropped", **request.args), code=303)
    flash(f"Segment “{segment.name}” created from the list.", "success")
    return redirect(url_for("segments.show", segment_id=segment.id), code=303)


@bp.route("/funnel/dropped.csv")
@roles_required("fundraiser")
def funnel_dropped_csv():
    report = services.REPORTS["funnel"]
    step = request.args.get("step", "")
    if step not in funnel.DROP_KEYS:
        abort(404)
    params, scope, errors = _filters(report)
    if errors:
        return funnel_dropped()
    rows = funnel.dropped_csv(params, step, tz_name=organisation().timezone, donor_filter=services.donor_filter(scope))
    return _csv(_with_definition(rows, services.period_definition(report, params)),
                f"{_stem('funnel-' + step.replace('_', '-'), params)}.csv")


@bp.route("/retention/donors/<kind>")
@roles_required("fundraiser")
def retention_list(kind: str):
    if kind not in retention_report.LISTS:
        abort(404)
    report = services.REPORTS["retention"]
    params, scope, errors = _filters(report)
    page = None
    if not errors:
        page = retention_report.donor_list(kind, params.range, tz_name=organisation().timezone,
                                    donor_filter=services.donor_filter(scope), page=request.args.get("page", 1, type=page_number))
    return render("insights/retention_list.html", report=report, params=params, errors=errors, error_labels=ERROR_LABELS,
                  kind=kind, title=retention_report.LISTS[kind], definition=retention_report.DEFINITIONS[kind], result=page), 400 if errors else 200


@bp.route("/retention/donors/<kind>.csv")
@roles_required("fundraiser")
def retention_list_csv(kind: str):
    if kind not in retention_report.LISTS:
        abort(404)
    params, scope, errors = _filters(services.REPORTS["retention"])
    if errors:
        return retention_list(kind)
    rows = retention_report.donor_list_csv(kind, params.range, tz_name=organisation().timezone, donor_filter=services.donor_filter(scope),
                                    fy_start_month=params.fy_start_month)
    definition = services.period_definition(services.REPORTS["retention"], params)
    return _csv(_with_definition(rows, definition), f"{_stem(kind, params)}.csv")


def _detail_csv(name: str, stem: str, rows_for) -> Response:
    """A report's detail rows as CSV under the page's filters; bad filters show the report with its errors."""
    params, scope, errors = _filters(services.REPORTS[name])
    if errors:
        return report_page(name)
    rows = rows_for(params, tz_name=organisation().timezone, donor_filter=services.donor_filter(scope))
    return _csv(_with_definition(rows, services.period_definition(services.REPORTS[name], params)), f"{_stem(stem, params)}.csv")


@bp.route("/lifetime/donors.csv")
@roles_required("fundraiser")
def lifetime_donors_csv():
    return _detail_csv("lifetime", "lifetime-value-by-donor", lifetime.donors_csv)


@bp.route("/satisfaction/comments.csv")
@roles_required("fundraiser")
def satisfaction_comments_csv():
    return _detail_csv("satisfaction", "satisfaction-comments", satisfaction.comments_csv)


def donor_value_panel(donor, **_):
    """The donor page's lifetime and predicted value, by the same model as the Lifetime value report."""
    value = services.donor_value(donor.id)
    if value is None:
        return None
    return Markup(render_template("insights/_donor_value_panel.html", donor=donor, value=value,
                                  state_help=presenters.STATE_HELP))
