"""Numbers from paths, query strings and forms, bounded to what the database can hold.

Every id column is an INTEGER, 32 bits on PostgreSQL. A larger number cannot name a row, and handing it to
the database fails (SQLite raises OverflowError, PostgreSQL "integer out of range"), so such a value is
treated as no id at all: a path gives 404, a query parameter its default, a form field its error."""
from __future__ import annotations

from flask import Flask
from werkzeug.routing import IntegerConverter

MAX_ID = 2**31 - 1
MAX_PAGE = 100_000
MIN_YEAR, MAX_YEAR = 1900, 9000  # years a history or statement can be asked for


def parse_id(value: object) -> int | None:
    """A row id written as digits (a leading '#' allowed, as people type ticket numbers), or None."""
    text = str(value if value is not None else "").strip().lstrip("#")
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(MAX_ID)):
        return None
    number = int(text)
    return number if number <= MAX_ID else None


def query_id(value: str) -> int:
    """For `request.args.get(name, type=query_id)`: a ValueError makes Werkzeug use the default."""
    number = parse_id(value)
    if number is None:
        raise ValueError(f"not an id: {value[:30]!r}")
    return number


def page_number(value: str) -> int:
    """For `request.args.get("page", 1, type=page_number)`: 1 to MAX_PAGE, anything else is the default."""
    number = parse_id(value)
    if number is None or not 1 <= number <= MAX_PAGE:
        raise ValueError(f"not a page number: {value[:30]!r}")
    return number


def year_number(value: str) -> int:
    number = parse_id(value)
    if number is None or not MIN_YEAR <= number <= MAX_YEAR:
        raise ValueError(f"not a year: {value[:30]!r}")
    return number


class IdConverter(IntegerConverter):
    """`<int:...>` in every route: ASCII digits up to MAX_ID, so an oversized id is a 404 before any view runs
    (Werkzeug's own converter takes any Unicode digit, such as Arabic-Indic ones, and numbers of any size)."""

    regex = r"[0-9]+"

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def init_app(app: Flask) -> None:
    app.url_map.converters["int"] = IdConverter
