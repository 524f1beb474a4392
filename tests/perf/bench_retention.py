"""Retention benchmarks: rescoring every donor (set-based, one worker), the task inbox and the at-risk list."""
from __future__ import annotations

import time


def run(bench) -> None:
    from sqlalchemy import func, select

    from portal.extensions import db
    from portal.retention.models import Alert
    from portal.retention.services import recompute_all
    from portal.support.models import Task

    with bench.app.app_context():
        for label in ("first run", "steady state"):
            started = time.perf_counter()
            result = recompute_all()
            seconds = time.perf_counter() - started
            bench.record(f"risk recompute, {result.donors:,} donors ({label})", round(seconds, 2), "s",
                         target=30, ok=seconds <= 30)
        bench.record("open risk alerts after recompute", db.session.scalar(
            select(func.count()).select_from(Alert).where(Alert.status == "open")), "alerts")
        bench.record("open tasks", db.session.scalar(select(func.count()).select_from(Task).where(Task.status == "open")), "tasks")
        db.session.remove()

    support = bench.client("support")
    fundraiser = bench.client("fundraiser")
    pages = {
        "task inbox, team tasks": (support, "/staff/tasks/?view=team"),
        "task inbox, everyone's": (support, "/staff/tasks/?view=all"),
        "task inbox, my tasks": (fundraiser, "/staff/tasks/"),
        "at-risk list by score": (fundraiser, "/staff/at-risk/"),
        "at-risk list by lifetime value": (fundraiser, "/staff/at-risk/?sort=lifetime"),
    }
    for name, (client, path) in pages.items():
        def fetch(client=client, path=path):
            response = client.get(path)
            assert response.status_code == 200, (path, response.status_code)

        fetch()  # warm caches and templates once before timing
        bench.timeit(name, fetch, repeat=50, target_ms=50, stat="p95")
