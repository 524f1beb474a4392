"""Periodic survey work, run by the scheduler or `flask feedback send-surveys`."""
from portal import jobs
from portal.feedback import services


@jobs.job
def send_due_surveys() -> dict[str, int]:
    return services.run_due()


def sweep_due_invitations() -> int:
    """Invitations whose delay has passed but were not sent (the hourly run was missed): run it now."""
    count = services.due_invitation_count()
    if count:
        jobs.enqueue_now("default", send_due_surveys)
    return count
