"""Checking a batch's rows a chunk at a time: the shared machinery of the donor and gift checkers."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from typing import Iterator
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from portal.donors.imports.extras import ExtraColumns, ExtraRow, extra_by_key, offered_extras
from portal.donors.imports.fields import DONOR_IDENTIFIERS, DONOR_TARGETS, GIFT_TARGETS, TARGETS
from portal.donors.imports.reading import batch_table
from portal.donors.imports.values import NO, YES, _key, parse_when
from portal.donors.models import ImportBatch
from portal.settings.services import organisation
from portal.timeutil import utcnow

CHUNK = 1000


@dataclass
class Checked:
    row: int
    values: dict
    ok: bool  # False when the row already has a problem; the database checks still report theirs


@dataclass
class Chunk:
    valid: list[Checked]
    problems: list[dict]
    rows_done: int


ERASED_MESSAGE = "This address belonged to a donor whose data was erased at their request."


def erased_only_rows(problems: list[dict]) -> set[int]:
    """Rows whose only errors are an erased donor's address: staff may import them when that person asked
    to be added again."""
    erased = {p["row"] for p in problems if p["level"] == "error" and p.get("erased")}
    return erased - {p["row"] for p in problems if p["level"] == "error" and not p.get("erased")}


def skipped_rows(batch: ImportBatch) -> set[int]:
    """The rows the import leaves out by what staff chose at the confirm step: rows with errors (but an
    erased donor's address when staff said they asked to be added again) and likely duplicates (unless staff
    chose to import them anyway)."""
    problems = batch.errors or []
    skipped = {p["row"] for p in problems if p["level"] == "error"}
    if batch.include_erased:
        skipped -= erased_only_rows(problems)
    if not batch.include_duplicates:
        skipped |= {p["row"] for p in problems if p["level"] == "duplicate"}
    return skipped


class RowChecker(ABC):
    """Checks a batch's rows a chunk at a time: each row on its own, then the chunk against the database.

    recheck=True is the import's second look, inside its transaction: the rows that failed the check are
    passed over (staff chose to skip them), and what cannot have changed since (an email's spelling) is not
    checked again; everything the database or the calendar decides is.
    """

    def __init__(self, batch: ImportBatch, *, recheck: bool = False):
        self.recheck = recheck
        self.skipped_rows = skipped_rows(batch) if recheck else set()
        org = organisation()
        self.currency, self.tz = org.currency, org.timezone
        try:
            self.today = datetime.now(ZoneInfo(org.timezone)).date()
        except (ZoneInfoNotFoundError, ValueError):
            self.today = utcnow().date()
        self.table = batch_table(batch)
        mapping = batch.mapping or {}
        self.kind = batch.kind
        self.columns = {name: index for index, name in enumerate(mapping.get("columns", [])) if name}
        self.day_first = bool(mapping.get("day_first", True))
        self.headers = self.table.headers
        # Other domains' columns, when mapped and still on offer (a scheme switched off since is ignored).
        self.extras: list[ExtraColumns] = [extra for extra in offered_extras(self.kind)
                                           if any(item.target.name in self.columns for item in extra.fields)]

    def chunks(self) -> Iterator[Chunk]:
        pending: list[tuple[int, list[str]]] = []
        done = 0
        for number, cells in self.table.rows():
            pending.append((number, cells))
            if len(pending) == CHUNK:
                done += len(pending)
                yield self._chunk(pending, done)
                pending = []
        if pending:
            done += len(pending)
            yield self._chunk(pending, done)

    def _chunk(self, rows: list[tuple[int, list[str]]], done: int) -> Chunk:
        problems: list[dict] = []
        checked = []
        for number, cells in rows:
            if number in self.skipped_rows:
                continue
            raw = {name: (cells[index].strip() if index < len(cells) else "") for name, index in self.columns.items()}
            row_problems: list[dict] = []
            values = self.check_row(number, raw, row_problems)
            values["extras"] = self._check_extras(number, raw, row_problems)
            problems.extend(row_problems)
            checked.append(Checked(number, values, not any(p["level"] == "error" for p in row_problems)))
        return Chunk(self.check_against_database(checked, problems), problems, done)

    def problem(self, problems: list[dict], row: int, field_name: str | None, value: str, message: str,
                level: str = "error", *, overridable: bool = False, erased: bool = False) -> None:
        """Levels: "error" (the row is not imported), "warning" (imported, with a note), "on_file" (already
        on file, so not imported; staff may import an overridable one anyway) and "duplicate" (a likely
        duplicate of a donor on file or of an earlier row, skipped unless staff import such rows anyway)."""
        column = self.headers[self.columns[field_name]] if field_name in self.columns else ""
        problem = {"row": row, "column": column, "value": value[:120], "message": message, "level": level}
        if overridable:
            problem["overridable"] = True
        if erased:
            problem["erased"] = True
        problems.append(problem)

    def _check_extras(self, number: int, raw: dict, problems: list[dict]) -> dict:
        """The typed values of other domains' columns: yes/no with the import's own words, and past dates."""
        values: dict = {}
        for extra in self.extras:
            for item in extra.fields:
                name, label = item.target.name, item.target.label
                text = raw.get(name, "")
                values[name] = None
                if not text:
                    continue
                if item.value_type == "yes_no":
                    if _key(text) in YES:
                        values[name] = True
                    elif _key(text) in NO:
                        values[name] = False
                    else:
                        self.problem(problems, number, name, text, f"{label} must be yes or no (or left blank).")
                    continue
                when = parse_when(text, day_first=self.day_first)
                if when is None:
                    self.problem(problems, number, name, text, f"{label} not understood: use a date such as "
                                 + ("2025-03-31 or 31/03/2025." if self.day_first else "2025-03-31 or 03/31/2025."))
                elif when.day > self.today:
                    self.problem(problems, number, name, text, f"{label} is in the future.")
                else:
                    values[name] = when.day
        return values

    def extra_row(self, item: Checked, **ids) -> ExtraRow:
        v = item.values
        return ExtraRow(item.row, v.get("extras", {}), donor_kind=v.get("kind", ""), received_at=v.get("received_at"),
                        amount_minor=v.get("amount_minor", 0), import_day=self.today, **ids)

    def planned_extras(self, valid: list[Checked], problems: list[dict]) -> dict[str, int]:
        """How many records each extra would make from these valid rows (the donors are not written yet);
        its notes on rows that make none are added to `problems` as warnings."""
        counts = {}
        for extra in self.extras:
            counts[extra.key], notes = extra.planned(self.kind, [
                self.extra_row(item, donor_id=item.values.get("donor_id")) for item in valid])
            for row, name, message in notes:
                self.problem(problems, row, name, "", message, "warning")
        return counts

    def write_extras(self, rows: list[ExtraRow], actor) -> dict[str, int]:
        """Each extra makes its records for the rows just written, in the import's transaction."""
        return {extra.key: extra.write(self.kind, rows, actor) for extra in self.extras}

    @abstractmethod
    def check_row(self, number: int, raw: dict, problems: list[dict]) -> dict:
        """The row's typed values; its problems are appended to `problems`."""

    @abstractmethod
    def check_against_database(self, checked: list[Checked], problems: list[dict]) -> list[Checked]:
        """Add the problems found with the database (one query per kind of check) for every row of a chunk,
        and return the rows that are valid: no problem of their own and none from the database."""

    @abstractmethod
    def preview(self, item: Checked) -> list[str]:
        """The cells shown for a valid row's own fields, in the order of preview_fields()."""

    def preview_row(self, item: Checked) -> list[str]:
        """All the cells shown for a valid row, in the order of preview_columns(): its own, then the extras'."""
        cells = self.preview(item)
        extras = item.values.get("extras", {})
        for name in _mapped_extra_fields(self.extras, self.columns):
            value = extras.get(name)
            cells.append("" if value is None else ("Yes" if value else "No") if isinstance(value, bool)
                         else value.isoformat())
        return cells


def preview_fields(kind: str, mapped) -> list[str]:
    """The fields a preview row shows, in order: the mapped ones (for gifts, the matched donor instead of
    the columns that identify them)."""
    if kind == "gifts":
        return ["donor"] + [name for name in GIFT_TARGETS if name in mapped and name not in DONOR_IDENTIFIERS]
    return [name for name in DONOR_TARGETS if name in mapped]


def _mapped_extra_fields(extras: list[ExtraColumns], mapped) -> list[str]:
    return [item.target.name for extra in extras for item in extra.fields if item.target.name in mapped]


def preview_columns(batch: ImportBatch) -> list[str]:
    mapped = (batch.mapping or {}).get("columns", [])
    labels = {"donor": "Donor", **{name: target.label for name, target in TARGETS[batch.kind].items()}}
    # The extras the check ran with: those it counted records for.
    checked = [extra for extra in map(extra_by_key, batch.extra_counts or {}) if extra is not None]
    labels.update({item.target.name: item.target.label for extra in checked for item in extra.fields})
    return [labels[name] for name in preview_fields(batch.kind, mapped) + _mapped_extra_fields(checked, mapped)]
