"""Tax relief on gifts: UK Gift Aid declarations, per-gift eligibility with reasons and HMRC donor-benefit limits.
Offers claims for a date range (aggregated, split at 1,000 lines, refund adjustments) exported as HMRC's .ods schedule,
plus receipt wording, segment fields, a workflow, home tiles and insights figures; other schemes can sit beside it."""
from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    # Loaded when the app is built: importing the package's models must not load its pages and every domain they call.
    from portal.taxrelief import wiring

    wiring.init_app(app)
