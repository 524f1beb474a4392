"""Every CSV the app writes goes through `writer()`, so no cell can run as a spreadsheet formula.

OWASP's rule for CSV injection: a text cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return
is read by Excel, LibreOffice and Google Sheets as a formula (`=HYPERLINK(...)` sends the sheet's data away
when clicked). Such a cell is written with a leading apostrophe, which spreadsheets show as text and
hide. Numbers written as numbers (int, float, Decimal) are left alone: a negative amount stays a number."""
from __future__ import annotations

import csv
import io
from typing import Any, Iterable, Iterator

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """The cell as it is safe to write: text that a spreadsheet would run gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class SafeWriter:
    """csv.writer's writerow/writerows, with every cell neutralised first."""

    def __init__(self, stream, **options: Any):
        self._writer = csv.writer(stream, **options)

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._writer.writerow([neutralise(cell) for cell in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def writer(stream, **options: Any) -> SafeWriter:
    return SafeWriter(stream, **options)


def stream(rows: Iterable[Iterable[Any]], *, rows_per_chunk: int = 500) -> Iterator[str]:
    """CSV text for a streamed response, a chunk of rows at a time."""
    buffer = io.StringIO()
    safe = writer(buffer)
    for number, row in enumerate(rows, start=1):
        safe.writerow(row)
        if number % rows_per_chunk == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
