"""portal.sql's interval functions give the same answers on SQLite (timestamps as text) and PostgreSQL."""
from __future__ import annotations

import os
from datetime import datetime, timedelta

import pytest
from sqlalchemy import DateTime, create_engine, literal, select

from portal.sql import plus_days, plus_minutes

pytestmark = pytest.mark.postgres

MOMENTS = [
    datetime(2026, 1, 31, 23, 59, 59, 999_999),
    datetime(2026, 3, 29, 0, 30),  # a daylight-saving change in Europe: UTC has none
    datetime(2024, 2, 28, 12, 0, 0, 250_000),  # a leap year
    datetime(2025, 12, 31, 23, 0, 0, 1),
    datetime(2026, 6, 1, 9, 0),
]
AMOUNTS = [0, 1, -1, 29, 365, -400]


def _answers(engine, function) -> list[datetime]:
    with engine.connect() as connection:
        return [connection.scalar(select(function(literal(moment, DateTime), amount)))
                for moment in MOMENTS for amount in AMOUNTS]


@pytest.mark.parametrize("function, unit", [(plus_days, "days"), (plus_minutes, "minutes")])
def test_intervals_agree_on_sqlite_and_postgresql(function, unit):
    sqlite = create_engine("sqlite://")
    postgresql = create_engine(os.environ["TEST_DATABASE_URL"])
    try:
        expected = [moment + timedelta(**{unit: amount}) for moment in MOMENTS for amount in AMOUNTS]
        assert _answers(sqlite, function) == expected
        assert _answers(postgresql, function) == expected
    finally:
        sqlite.dispose()
        postgresql.dispose()


def test_the_amount_may_be_a_column():
    engine = create_engine(os.environ["TEST_DATABASE_URL"])
    amounts = select(literal(datetime(2026, 1, 31, 8, 0, 0, 5), DateTime).label("at"), literal(3).label("days")).subquery()
    try:
        with engine.connect() as connection:
            assert connection.scalar(select(plus_days(amounts.c.at, amounts.c.days))) == datetime(2026, 2, 3, 8, 0, 0, 5)
    finally:
        engine.dispose()
