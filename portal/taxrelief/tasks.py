"""Gift Aid jobs: each takes no objects, is idempotent, and is also a `flask gift-aid` command."""
from __future__ import annotations

from portal import jobs


@jobs.job
def refresh_figures_job() -> int:
    from portal.taxrelief.claims import refresh_month_figures

    return refresh_month_figures()
