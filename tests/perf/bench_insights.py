"""Insights targets: every report computed from the data (not served from its snapshot) in ≤ 1 s, and the
back-office home with its headline numbers p95 ≤ 100 ms (server time).

The journey milestones are built once before the reports are timed (a report refreshes only the donors
whose history changed since); that one-off build is recorded on its own line.
"""
from __future__ import annotations

import time
from datetime import date

from portal.insights import milestones, services
from portal.insights.filters import DateRange, ReportParams
from portal.settings.services import organisation

REPORT_TARGET_MS = 1000
HOME_TARGET_MS = 100
REPEAT = 5
PAGE_REPEAT = 30


def run(bench) -> None:
    tz_name = organisation().timezone
    started = time.perf_counter()
    built = milestones.refresh()
    bench.record(f"journey milestones built for {built:,} donors (one-off; reports then refresh only changes)",
                 time.perf_counter() - started, "s")
    started = time.perf_counter()
    milestones.refresh()
    bench.record("journey milestones check when nothing changed", (time.perf_counter() - started) * 1000, "ms")

    today = services.today()
    for name, label, params in report_cases(today):
        report = services.REPORTS[name]
        bench.timeit(f"{report.title}: computed, {label}", lambda report=report, params=params: report.compute(params, tz_name=tz_name),
                     repeat=REPEAT, target_ms=REPORT_TARGET_MS)
    # The home page never waits for these: a job keeps them in a snapshot. Timed for information.
    headline = services.REPORTS["headline"]
    bench.timeit("Headline numbers: computed by their job", lambda: headline.compute(services.headline_params(), tz_name=tz_name),
                 repeat=REPEAT)

    client = bench.client("fundraiser")
    home = lambda: get(client, "/staff/")  # noqa: E731 - the first call computes the headline snapshot (warm-up)
    bench.timeit("back-office home with the headline tiles", home, repeat=PAGE_REPEAT, target_ms=HOME_TARGET_MS)
    bench.timeit("insights overview page", lambda: get(client, "/staff/insights/"), repeat=PAGE_REPEAT, target_ms=HOME_TARGET_MS)
    for name in ("funnel", "retention", "cohorts", "lifetime"):
        bench.timeit(f"{services.REPORTS[name].title} page from its snapshot", lambda name=name: get(client, f"/staff/insights/{name}"),
                     repeat=PAGE_REPEAT)
    three_years = f"start={today.replace(year=today.year - 3).isoformat()}&end={today.isoformat()}"
    bench.timeit("LYBUNT list page", lambda: get(client, "/staff/insights/retention/donors/lybunt"), repeat=REPEAT,
                 target_ms=REPORT_TARGET_MS)
    bench.timeit("donors who gave once and not again (list page)",
                 lambda: get(client, f"/staff/insights/funnel/dropped?step=second_gift&{three_years}"), repeat=REPEAT,
                 target_ms=REPORT_TARGET_MS)
    started = time.perf_counter()
    size = len(get(client, "/staff/insights/lifetime/donors.csv?start=2000-01-01"))
    bench.record(f"lifetime value per donor, CSV export ({size / 1e6:.1f} MB)", time.perf_counter() - started, "s")


def report_cases(today: date) -> list[tuple[str, str, ReportParams]]:
    """Each report with its default filters, and with the widest range it accepts where that costs more."""
    cases = []
    for name, report in services.REPORTS.items():
        if name == "headline":
            continue
        grain = next(iter(report.grains), "")
        params = ReportParams(report.default_range(today, grain), grain, 14 if report.days else 0)
        cases.append((name, "default filters", params))
    everything = DateRange(date(today.year - 29, 1, 1), today)
    cases += [
        ("funnel", "everyone (29 years)", ReportParams(everything)),
        ("cohorts", "60 monthly cohorts", ReportParams(DateRange(date(today.year - 5, today.month, 1), today), "month")),
        ("cohorts", "yearly cohorts, 29 years", ReportParams(everything, "year")),
        ("lifetime", "every donor (29 years)", ReportParams(everything)),
        ("retention", "12 periods", ReportParams(DateRange(date(today.year - 12, today.month, 1), today))),
    ]
    return cases


def get(client, url: str) -> bytes:
    response = client.get(url)
    if response.status_code != 200:
        raise AssertionError(f"GET {url} answered {response.status_code}")
    return response.get_data()
