"""Periodic retention work, run by the scheduler or the `flask retention ...` commands."""
from dataclasses import asdict

from portal import jobs
from portal.retention import services


@jobs.job
def recompute_risk() -> dict[str, int]:
    return asdict(services.recompute_all())


@jobs.job
def check_ticket_service_levels() -> int:
    return services.raise_ticket_alerts()


@jobs.job
def run_check_ins() -> dict[str, int]:
    return services.run_check_ins()
