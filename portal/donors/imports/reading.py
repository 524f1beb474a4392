"""Reading an upload: decoding its bytes, finding the delimiter and the header row, walking the rows."""
from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass
from typing import Iterator

from portal.donors.models import ImportBatch

MAX_FILE_BYTES = 25 * 1024 * 1024


class ImportProblem(ValueError):
    """Something staff can fix (the file, the mapping, a choice); the message says what."""


class MappingProblem(ImportProblem):
    def __init__(self, message: str, columns: dict[int, str] | None = None):
        super().__init__(message)
        self.columns = columns or {}


def size_limit() -> str:
    kilobytes = MAX_FILE_BYTES // 1024
    return f"{kilobytes // 1024} MB" if kilobytes >= 1024 else f"{kilobytes} KB"


def decode_upload(data: bytes) -> str:
    """The file's text: UTF-8 with or without BOM, UTF-16 with BOM, else Windows-1252 (old Excel)."""
    if not data or not data.strip():
        raise ImportProblem("The file is empty.")
    if len(data) > MAX_FILE_BYTES:
        raise ImportProblem(f"The file is larger than {size_limit()}, the most that can be imported at once. "
                            "Split it into smaller files and import them one by one.")
    if data.startswith(b"PK\x03\x04"):
        raise ImportProblem("This looks like an Excel workbook. Open it in your spreadsheet program, choose "
                            "Save As › CSV, and upload that file.")
    utf16 = data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
    if not utf16 and _looks_binary(data[:65536]):
        raise ImportProblem(NOT_TEXT)
    try:
        if utf16:
            text = data.decode("utf-16")
        elif data.startswith(codecs.BOM_UTF8):
            text = data[len(codecs.BOM_UTF8):].decode("utf-8")
        else:
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                text = data.decode("cp1252")
    except UnicodeDecodeError as exc:
        raise ImportProblem("The file's text could not be read. Save it as “CSV UTF-8” and upload it again.") from exc
    if _looks_binary(text[:65536].encode("utf-8")):
        raise ImportProblem(NOT_TEXT)
    return text


NOT_TEXT = ("This doesn't look like a CSV file: it contains binary data. "
            "Export a CSV (comma-separated values) file from your spreadsheet or CRM.")
_CONTROL = bytes(c for c in range(32) if c not in (9, 10, 13)) + b"\x7f"


def _looks_binary(sample: bytes) -> bool:
    """NUL bytes, or more than 1% control characters: an image, a PDF or a workbook, not text."""
    return b"\x00" in sample or sum(sample.count(code) for code in _CONTROL) > len(sample) // 100


def _delimiter(text: str) -> str:
    """Comma, semicolon (European spreadsheets) or tab: whichever splits the header row into most columns."""
    first_line = next((line for line in text.splitlines() if line.strip()), "")
    counts = {d: len(next(csv.reader([first_line], delimiter=d), [])) for d in (",", ";", "\t")}
    best = max(counts.values())
    return next(d for d in (",", ";", "\t") if counts[d] == best)


@dataclass
class Table:
    headers: list[str]
    header_row: int
    delimiter: str
    text: str

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        """(spreadsheet row number, cells) for every non-blank row after the header."""
        reader = csv.reader(io.StringIO(self.text, newline=""), delimiter=self.delimiter)
        try:
            for number, cells in enumerate(reader, start=1):
                if number > self.header_row and any(cell.strip() for cell in cells):
                    yield number, cells
        except csv.Error as exc:
            raise ImportProblem(f"The file could not be read as CSV near row {reader.line_num}: {exc}.") from exc


def read_table(text: str) -> Table:
    delimiter = _delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        for number, cells in enumerate(reader, start=1):
            if any(cell.strip() for cell in cells):
                headers = [cell.strip() or f"Column {index}" for index, cell in enumerate(cells, start=1)]
                return Table(headers, number, delimiter, text)
    except csv.Error as exc:
        raise ImportProblem(f"The file could not be read as CSV: {exc}.") from exc
    raise ImportProblem("The file is empty.")


def batch_table(batch: ImportBatch) -> Table:
    return read_table(batch.content)
