"""Each report's chart, and the home tiles, from a computed result (called from the templates)."""
from __future__ import annotations

from markupsafe import Markup, escape

from portal.insights import charts
from portal.insights.cohorts import CohortReport
from portal.insights.engagement_report import EngagementReport
from portal.insights.funnel import FunnelReport
from portal.insights.headline import DEFINITIONS as HEADLINE_DEFINITIONS, HeadlineReport
from portal.insights.lifetime import STATES as LIFETIME_STATES, LifetimeReport
from portal.insights.models import ReportSnapshot
from portal.insights.retention_report import RetentionReport
from portal.insights.satisfaction import SatisfactionReport
from portal.money import format_money
from portal.settings.services import organisation


def _rate(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}%"


def _days(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.0f} days" if value >= 10 else f"{value:.1f} days"


def funnel_chart(report: FunnelReport) -> Markup:
    bars = []
    for step in report.steps:
        note = "" if step.conversion is None else f"{_rate(step.conversion)} of the step before"
        if step.median_days is not None and step.conversion is not None:
            note += f" · median {_days(step.median_days)}"
        bars.append(charts.Bar(step.info.label, step.count, f"{step.count:,}", note, step.key == report.biggest_drop))
    worst = report.biggest_drop_step
    desc = "; ".join(f"{s.info.label}: {s.count:,} donors" + ("" if s.conversion is None else f" ({_rate(s.conversion)} of the step before)")
                     for s in report.steps)
    if worst is not None:
        desc += f". The biggest drop is before {worst.info.label.lower()}: {_rate(100 - worst.conversion)} of donors stop there."
    return charts.horizontal_bars("funnel-chart", "Donor journey funnel", desc, bars)


def lapse_chart(report: FunnelReport) -> Markup:
    first = report.steps[1]
    bars = [charts.Bar("Gave at least once", first.count, f"{first.count:,}")]
    for step in report.lapse_steps:
        note = f"{_rate(step.conversion)} of the step before" + (f" · median {_days(step.median_days)}" if step.median_days is not None else "")
        bars.append(charts.Bar(step.info.label, step.count, f"{step.count:,}", note))
    desc = "; ".join(f"{bar.label}: {bar.value_text}" for bar in bars)
    return charts.horizontal_bars("lapse-chart", "Lapsing and coming back", desc, bars)


RETENTION_SERIES = ["Donor retention", "New-donor retention", "Repeat-donor retention", "Value retention"]


def retention_chart(report: RetentionReport) -> Markup:
    periods = report.periods
    lines = [
        charts.Line(RETENTION_SERIES[0], [p.retention_rate for p in periods]),
        charts.Line(RETENTION_SERIES[1], [p.new_retention_rate for p in periods]),
        charts.Line(RETENTION_SERIES[2], [p.repeat_retention_rate for p in periods]),
        charts.Line(RETENTION_SERIES[3], [p.dollar_retention_rate for p in periods]),
    ]
    desc = " ".join(f"{p.label}: donor retention {_rate(p.retention_rate)}, new {_rate(p.new_retention_rate)}, "
                    f"repeat {_rate(p.repeat_retention_rate)}, value {_rate(p.dollar_retention_rate)}." for p in periods)
    return charts.line_chart("retention-chart", "Retention by 12-month period", desc, [axis_label(p) for p in periods], lines)


def axis_label(period) -> str:
    """Short period names for an axis: the calendar year, or the month the period ends."""
    return period.label if period.label.isdigit() else f"to {period.end:%b %Y}"


def cohort_heat_map(report: CohortReport) -> Markup:
    unit = "month" if report.grain == "month" else "year"
    cells = []
    for row in report.rows:
        label = report.row_label(row)
        cells.append([None if cell is None else (cell.percent, f"{label}, {unit} {i}: {cell.percent:.1f}% ({cell.donors:,} of {row.size:,})"
                                                  + (" so far" if cell.partial else ""))
                      for i, cell in enumerate(row.cells)])
    desc = (f"{len(report.rows)} cohorts by {unit} of first gift, {report.donors:,} donors. Each cell is the share of the "
            f"cohort who gave in that {unit} after their first gift; the table below lists every value.")
    return charts.heat_map("cohort-chart", f"Share of each cohort still giving, by {unit}", desc,
                           [report.row_label(row) for row in report.rows],
                           [report.column_label(i) for i in range(report.columns)], cells)


def lifetime_chart(report: LifetimeReport) -> Markup:
    currency = organisation().currency
    states = report.by_state
    series = [charts.Line("Average given so far", [s.historical_minor for s in states]),
              charts.Line("Average expected from now", [s.future_minor for s in states])]
    desc = " ".join(f"{s.label} ({s.donors:,} donors): given {format_money(s.historical_minor, currency)} on average, "
                    f"expected {format_money(s.future_minor, currency)} more." for s in states)
    return charts.grouped_bars("lifetime-chart", "Average lifetime value by donor state", desc,
                               [f"{s.label}" for s in states], series, charts.money_axis(currency))


def engagement_chart(report: EngagementReport) -> Markup:
    lines = [charts.Line("Sent", [m.sent for m in report.months]),
             charts.Line("Opened", [m.opened for m in report.months]),
             charts.Line("Clicked", [m.clicked for m in report.months])]
    desc = " ".join(f"{m.label}: {m.sent:,} sent, {m.opened:,} opened, {m.clicked:,} clicked." for m in report.months)
    return charts.line_chart("engagement-chart", "Emails by month", desc or "No emails in this range.",
                             [m.label for m in report.months], lines, unit="", minimum_top=4)


def kb_chart(report: EngagementReport) -> Markup:
    other = report.kb_sessions - report.kb_self_served - report.kb_escalated
    bars = [charts.Bar("Help-centre visits", report.kb_sessions, f"{report.kb_sessions:,}"),
            charts.Bar("Answered by an article", report.kb_self_served, f"{report.kb_self_served:,}",
                       f"{_rate(report.self_service_rate)} self-service"),
            charts.Bar("Followed by a ticket", report.kb_escalated, f"{report.kb_escalated:,}"),
            charts.Bar("Neither", other, f"{other:,}")]
    desc = "; ".join(f"{bar.label}: {bar.value_text}" for bar in bars)
    return charts.horizontal_bars("kb-chart", "Help-centre visits and what followed", desc, bars)


def _score(value: float | None, digits: int) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def nps_text(value: float | None) -> str:
    """NPS as people write it: a whole number with its sign."""
    return "—" if value is None else f"{value:+.0f}"


def csat_chart(report: SatisfactionReport) -> Markup:
    months = report.months
    desc = " ".join(f"{m.label}: CSAT average {_score(m.scores.csat_average, 2)} from {m.scores.csat_ratings:,} ratings." for m in months)
    return charts.line_chart("csat-chart", "CSAT average by month (1 to 5)", desc or "No ratings in this range.",
                             [m.label for m in months], [charts.Line("CSAT average", [m.scores.csat_average for m in months])],
                             unit="", floor=1, ceiling=5)


def nps_chart(report: SatisfactionReport) -> Markup:
    months = report.months
    desc = " ".join(f"{m.label}: NPS {nps_text(m.scores.nps)} from {m.scores.nps_ratings:,} ratings "
                    f"({m.scores.promoters:,} promoters, {m.scores.passives:,} passives, {m.scores.detractors:,} detractors)."
                    for m in months)
    return charts.line_chart("nps-chart", "NPS by month (−100 to +100)", desc or "No ratings in this range.",
                             [m.label for m in months], [charts.Line("NPS", [m.scores.nps for m in months])],
                             unit="", floor=-100, ceiling=100)


def legend(names: list[str]) -> Markup:
    return charts.legend(names)


def headline_tiles(report: HeadlineReport | None, snapshot: ReportSnapshot) -> list[dict]:
    """Tiles for portal.web.add_home_tiles: label, value and a hint that carries the sparkline."""
    timing = {"calculated_at": snapshot.computed_at, "updating": snapshot.status in ("queued", "running")}
    if report is None:
        waiting = "Calculating…" if snapshot.status in ("queued", "running") else "Not available yet"
        return [{"label": label, "value": "—", "hint": waiting, **timing}
                for label in ("Given this year", "New donors", "New-donor retention", "LYBUNT donors")]
    currency = organisation().currency

    def count(value: float) -> str:
        return f"{value:,.0f}"

    def pounds(value: float) -> str:
        return format_money(int(round(value * 100)), currency, whole=True)

    def hint(chart: Markup, text: str) -> Markup:
        return Markup('<span class="tile-trend">') + chart + Markup("</span>") + escape(text)

    tiles = [
        {"label": f"Given in {report.period}", "value": format_money(report.given_minor, currency, whole=True),
         "hint": hint(charts.sparkline("spark-given", "Given per month", report.given_by_month.labels,
                                       report.given_by_month.values, pounds), "by month"),
         "definition": HEADLINE_DEFINITIONS["given"]},
        {"label": "New donors", "value": f"{report.new_donors:,}",
         "hint": hint(charts.sparkline("spark-new", "New donors per month", report.new_by_month.labels,
                                       report.new_by_month.values, count), f"first gift in {report.period}"),
         "definition": HEADLINE_DEFINITIONS["new_donors"]},
        {"label": "New-donor retention", "value": _rate(report.new_retention_rate),
         "hint": hint(charts.sparkline("spark-retention", "New-donor retention by period", report.new_retention_by_period.labels,
                                       report.new_retention_by_period.values, lambda v: f"{v:.1f}%"),
                      f"repeat donors {_rate(report.repeat_retention_rate)}"),
         "definition": HEADLINE_DEFINITIONS["new_retention"]},
        {"label": "LYBUNT donors", "value": f"{report.lybunt:,}",
         "hint": hint(charts.sparkline("spark-lybunt", "LYBUNT donors by period", report.lybunt_by_period.labels,
                                       report.lybunt_by_period.values, count),
                      f"{format_money(report.lybunt_minor, currency, whole=True)} given the year before"),
         "definition": HEADLINE_DEFINITIONS["lybunt"]},
    ]
    return [{**tile, **timing} for tile in tiles]



def heat_scale() -> Markup:
    return charts.heat_scale()


STATE_HELP = {state: text for state, (_, text) in LIFETIME_STATES.items()}
STATE_DEFINITIONS = [(label, text) for label, text in LIFETIME_STATES.values()]
