"""The safety net behind the queues: finds work the database says is due and enqueues it again.

Each domain registers a function here that returns how many items it re-enqueued. Running the sweep
twice in a row must be harmless, because every job it enqueues is idempotent.
"""
from __future__ import annotations

from typing import Callable

from portal import jobs

_SWEEPERS: dict[str, Callable[[], int]] = {}


def register(name: str, sweeper: Callable[[], int]) -> None:
    _SWEEPERS[name] = sweeper


def run_all() -> dict[str, int]:
    return {name: sweeper() for name, sweeper in _SWEEPERS.items()}


@jobs.job
def sweep_due_work() -> dict[str, int]:
    """The periodic safety net: re-enqueue whatever the database says is due."""
    return run_all()
