"""Date arithmetic and bit masks that SQLite and PostgreSQL spell differently, as SQL expressions.

SQLite keeps SQLAlchemy datetimes as text ('YYYY-MM-DD HH:MM:SS.ffffff'), PostgreSQL as timestamps;
each helper compiles to the native form for the database at hand, so every report stays one
set-based query on either.
"""
from __future__ import annotations

from numbers import Integral

from sqlalchemy import BigInteger, DateTime, Integer, case, literal, select, text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement, FunctionElement

from portal.extensions import db


class seconds_between(FunctionElement):
    """Whole seconds from `earlier` to `later` (NULL if either is NULL)."""

    type = BigInteger()
    inherit_cache = True


@compiles(seconds_between, "sqlite")
def _seconds_between_sqlite(element, compiler, **kw):
    later, earlier = (compiler.process(arg, **kw) for arg in element.clauses)
    return f"CAST(round((julianday({later}) - julianday({earlier})) * 86400.0) AS INTEGER)"


@compiles(seconds_between, "postgresql")
def _seconds_between_pg(element, compiler, **kw):
    later, earlier = (compiler.process(arg, **kw) for arg in element.clauses)
    return f"CAST(round(EXTRACT(EPOCH FROM ({later} - {earlier}))) AS BIGINT)"


class month_index(FunctionElement):
    """year * 12 + month - 1 of a date or datetime: consecutive months are consecutive integers."""

    type = Integer()
    inherit_cache = True


@compiles(month_index, "sqlite")
def _month_index_sqlite(element, compiler, **kw):
    value = compiler.process(element.clauses, **kw)
    return f"(CAST(substr({value}, 1, 4) AS INTEGER) * 12 + CAST(substr({value}, 6, 2) AS INTEGER) - 1)"


@compiles(month_index, "postgresql")
def _month_index_pg(element, compiler, **kw):
    value = compiler.process(element.clauses, **kw)
    return f"(CAST(EXTRACT(YEAR FROM {value}) AS INTEGER) * 12 + CAST(EXTRACT(MONTH FROM {value}) AS INTEGER) - 1)"


class as_timestamp(FunctionElement):
    """A date or datetime as a datetime, in the form the database stores datetimes."""

    type = DateTime()
    inherit_cache = True


@compiles(as_timestamp, "sqlite")
def _as_timestamp_sqlite(element, compiler, **kw):
    # strftime's %f has milliseconds; SQLAlchemy writes microseconds, and text compares must line up.
    return f"(strftime('%Y-%m-%d %H:%M:%f', {compiler.process(element.clauses, **kw)}) || '000')"


@compiles(as_timestamp, "postgresql")
def _as_timestamp_pg(element, compiler, **kw):
    return f"CAST({compiler.process(element.clauses, **kw)} AS TIMESTAMP WITHOUT TIME ZONE)"


class _plus_interval(FunctionElement):
    """A datetime moved by a whole number of UNITs: a column, or a number (sent as a bound parameter, so
    cached SQL fits any amount).
    The one way to add an interval in SQL: tests/unit/test_sql_intervals.py holds both databases to the same answers."""

    type = DateTime()
    inherit_cache = True
    UNIT = ""

    def __init__(self, value, amount: int | ColumnElement):
        super().__init__(value, literal(int(amount), Integer) if isinstance(amount, Integral) else amount)


class plus_days(_plus_interval):
    inherit_cache = True
    UNIT = "days"


class plus_minutes(_plus_interval):
    inherit_cache = True
    UNIT = "minutes"


@compiles(_plus_interval, "sqlite")
def _plus_interval_sqlite(element, compiler, **kw):
    # SQLite moves the whole seconds (given without the fraction, which it would round to milliseconds) and
    # the microseconds are carried over as written: the result is text in SQLAlchemy's own format, so it
    # compares with stored timestamps exactly as PostgreSQL's timestamp would.
    value, amount = (compiler.process(arg, **kw) for arg in element.clauses)
    moved = f"strftime('%Y-%m-%d %H:%M:%S', substr({value}, 1, 19), CAST({amount} AS TEXT) || ' {element.UNIT}')"
    micro = f"CASE WHEN length({value}) > 19 THEN substr({value} || '000000', 20, 7) ELSE '.000000' END"
    return f"({moved} || {micro})"


@compiles(_plus_interval, "postgresql")
def _plus_interval_pg(element, compiler, **kw):
    value, amount = (compiler.process(arg, **kw) for arg in element.clauses)
    return f"({value} + CAST({amount} AS INTEGER) * INTERVAL '1 {element.UNIT}')"


class bit(FunctionElement):
    """2 ** position as a 64-bit integer (positions 0..62)."""

    type = BigInteger()
    inherit_cache = True


@compiles(bit)
def _bit(element, compiler, **kw):
    return f"(CAST(1 AS BIGINT) << ({compiler.process(element.clauses, **kw)}))"


class has_bit(FunctionElement):
    """1 when bit `position` of a mask is set, else 0."""

    type = Integer()
    inherit_cache = True

    def __init__(self, mask, position: int):
        super().__init__(mask, literal(int(position), Integer))


@compiles(has_bit)
def _has_bit(element, compiler, **kw):
    mask, position = (compiler.process(arg, **kw) for arg in element.clauses)
    return f"(({mask} >> {position}) & 1)"


def least_of(first: ColumnElement, second: ColumnElement) -> ColumnElement:
    """The smaller value, ignoring NULLs (SQLite's min() and PostgreSQL's LEAST() disagree about NULL)."""
    return case((first.is_(None), second), (second.is_(None), first), (first <= second, first), else_=second)


def greatest_of(first: ColumnElement, second: ColumnElement) -> ColumnElement:
    return case((first.is_(None), second), (second.is_(None), first), (first >= second, first), else_=second)


def median(values, count: int) -> float | None:
    """Median of the single column of a Select whose `count` rows are all non-NULL, in the database:
    the middle one or two values in sorted order (ORDER BY ... LIMIT/OFFSET is several times faster on
    SQLite than a window function over the same rows)."""
    if not count:
        return None
    source = values.subquery()
    column = list(source.c)[0]
    middle = db.session.scalars(select(column).order_by(column).offset((count - 1) // 2).limit(2 - count % 2)).all()
    return sum(middle) / len(middle)


class if_else(FunctionElement):
    """`then` when `condition` holds, else `otherwise`. SQLite evaluates iif() markedly faster than CASE
    in aggregates over a million rows; PostgreSQL gets the standard CASE."""

    inherit_cache = True

    def __init__(self, condition, then, otherwise):
        super().__init__(condition, then, otherwise)
        self.type = then.type if hasattr(then, "type") else BigInteger()


@compiles(if_else, "sqlite")
def _if_else_sqlite(element, compiler, **kw):
    condition, then, otherwise = (compiler.process(arg, **kw) for arg in element.clauses)
    return f"iif({condition}, {then}, {otherwise})"


@compiles(if_else)
def _if_else_default(element, compiler, **kw):
    condition, then, otherwise = (compiler.process(arg, **kw) for arg in element.clauses)
    return f"CASE WHEN {condition} THEN {then} ELSE {otherwise} END"


def without_jit() -> None:
    """Switch off PostgreSQL's JIT compiler for the current transaction. For these one-off analytic
    queries it spends longer compiling than the query runs (seconds on an almost empty database, a few
    hundred milliseconds on a large one) and nothing is reused."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SET LOCAL jit = off"))


class no_index(FunctionElement):
    """A column that SQLite must not use an index for (its documented unary-plus idiom), so the planner
    keeps the index that serves the GROUP BY; other databases see the plain column."""

    inherit_cache = True

    def __init__(self, column):
        super().__init__(column)
        self.type = column.type


@compiles(no_index, "sqlite")
def _no_index_sqlite(element, compiler, **kw):
    return f"+{compiler.process(element.clauses, **kw)}"


@compiles(no_index)
def _no_index_default(element, compiler, **kw):
    return compiler.process(element.clauses, **kw)


class flag(FunctionElement):
    """1 << position when a condition holds, else 0: flags added together make one integer per row."""

    type = BigInteger()
    inherit_cache = True

    def __init__(self, condition, position: int):
        super().__init__(condition, literal(int(position), Integer))


@compiles(flag, "sqlite")
def _flag_sqlite(element, compiler, **kw):
    condition, position = (compiler.process(arg, **kw) for arg in element.clauses)
    return f"(({condition}) << {position})"


@compiles(flag)
def _flag_default(element, compiler, **kw):
    condition, position = (compiler.process(arg, **kw) for arg in element.clauses)
    return f"(CAST(({condition}) AS INTEGER) << {position})"
