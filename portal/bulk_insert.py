"""Writing thousands of rows at once (CSV imports), where the ORM's row-by-row flush is far too slow.

On PostgreSQL rows go in with COPY, on SQLite with one executemany; both inside the caller's transaction.
"""
from __future__ import annotations

import json

from sqlalchemy import JSON, insert, text

from portal.extensions import db


def insert_rows(model, records: list[dict]) -> None:
    """Insert records (dicts with the same keys) into the model's table (or a Table) in the current transaction."""
    if not records:
        return
    table = getattr(model, "__table__", model)
    connection = db.session.connection()
    if connection.dialect.name != "postgresql":
        db.session.execute(insert(table), records)
        return
    quote = connection.dialect.identifier_preparer.quote
    columns = list(records[0])
    as_json = [isinstance(table.c[name].type, JSON) for name in columns]
    with connection.connection.driver_connection.cursor() as cursor:
        with cursor.copy(f"COPY {quote(table.name)} ({', '.join(quote(name) for name in columns)}) FROM STDIN") as copy:
            for record in records:
                copy.write_row([json.dumps(record[name]) if encode and record[name] is not None else record[name]
                                for name, encode in zip(columns, as_json)])


def insert_returning_ids(model, records: list[dict]) -> list[int]:
    """insert_rows, returning the new ids in the order of `records`.

    PostgreSQL: the ids are drawn from the table's sequence first and written with the rows. SQLite:
    multi-row INSERT ... RETURNING; SQLite numbers the rows of an INSERT in order (one more than the largest
    id so far, under its single write lock), so the returned ids, sorted, are in order. (SQLAlchemy's own
    ordered RETURNING sends one INSERT per row on SQLite, and is five times slower than this on PostgreSQL.)
    """
    if not records:
        return []
    table = model.__table__
    if db.session.get_bind().dialect.name == "postgresql":
        ids = list(db.session.scalars(text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :count)"),
                                      {"table": table.name, "count": len(records)}))
        insert_rows(model, [{**record, "id": new_id} for record, new_id in zip(records, ids)])
        return ids
    return sorted(db.session.scalars(insert(table).returning(table.c.id), records))
