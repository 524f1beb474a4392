"""Periodic audit work, run by the scheduler or `flask jobs run audit_read_log_purge`."""
from portal import jobs
from portal.audit import services


@jobs.job
def purge_read_log() -> int:
    return services.purge_read_log()
