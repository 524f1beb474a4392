"""Jobs for the `reports` queue, the periodic work behind the reports, and the touchpoint reactor."""
from __future__ import annotations

from portal import jobs
from portal.extensions import db
from portal.insights import milestones, services


@jobs.job
def compute_snapshot(snapshot_id: int) -> None:
    services.run_snapshot(snapshot_id)


@jobs.job
def refresh_milestones() -> int:
    """Bring every donor's journey milestones up to date (nightly, and after bulk loads)."""
    return milestones.refresh()


@jobs.job
def refresh_headline() -> None:
    """Keep the home page's figures warm: compute today's headline snapshot if it is missing or old."""
    services.request(services.REPORTS["headline"], services.headline_params())


def headline_moved(touchpoint) -> None:
    """Reactor: a gift received or refunded moves the home page's figures."""
    services.mark_headline_stale()


def headline_after_import(kind: str, **_details) -> None:
    """An import finished: the donors and gifts it wrote move the home page's figures."""
    services.mark_headline_stale()
    db.session.commit()


def mark_milestones_stale(touchpoint) -> None:
    """A new plan or inquiry moves the donor's journey; the next refresh rebuilds their milestones."""
    milestones.mark_stale(touchpoint.donor_id)
