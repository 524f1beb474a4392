"""Loyalty jobs: each takes no objects, is idempotent, and is also a `flask loyalty` command."""
from __future__ import annotations

from portal import jobs
from portal.loyalty import services


@jobs.job
def recompute_tiers_job() -> int:
    return services.recompute_all_tiers()


@jobs.job
def birthday_bonuses_job() -> int:
    return services.award_birthday_bonuses()


@jobs.job
def anniversary_bonuses_job() -> int:
    return services.award_anniversary_bonuses()


@jobs.job
def expire_points_job() -> int:
    return services.expire_inactive_points()
