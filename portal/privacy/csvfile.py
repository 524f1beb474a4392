"""The one place data-rights CSV files are written, so the spreadsheet-safety rules apply to all of them."""
from __future__ import annotations

import csv
import io
from datetime import date, datetime

# A cell starting with one of these is a formula to a spreadsheet; a leading apostrophe shows it as text.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def write_csv(rows: list[dict], columns: list[str] | None = None) -> str:
    """Rows of dicts as CSV text with a header; every cell safe to open in a spreadsheet."""
    columns = columns or list(dict.fromkeys(name for row in rows for name in row))
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(name)) for name in columns])
    return buffer.getvalue()
