"""Gift Aid jobs: each takes no objects, is idempotent, and is also a `flask gift-aid` command."""
from __future__ import annotations

from portal import jobs
from portal.taxrelief.claims import refresh_month_figures


@jobs.job
def refresh_figures_job() -> int:
    return refresh_month_figures()
