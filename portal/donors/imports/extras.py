"""Columns another domain adds to the imports, such as "Gift Aid" from tax relief.

Donors sit below those domains and import none of them, so a domain registers its columns here from its
init_app: the imports read and check the cells (yes/no, dates) like their own, ask the domain at the check
how many records the valid rows will make, and hand it the rows written, inside the import's transaction.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Callable

from portal.donors.imports.fields import TARGETS, Target

VALUE_TYPES = ("yes_no", "date")


@dataclass(frozen=True)
class ExtraField:
    target: Target
    value_type: str  # "yes_no" (True, False, or None when blank) or "date" (a date, or None when blank)


@dataclass(frozen=True)
class ExtraRow:
    """A valid row as an extra sees it: its typed extra values, the donor and (gift files) the gift."""

    row: int
    values: dict[str, Any]
    donor_id: int | None = None  # None at the check of a donor file: the donor isn't written yet
    donor_kind: str = ""  # donor files: individual or organisation
    gift_id: int | None = None  # None at the check
    received_at: datetime | None = None  # gift files
    amount_minor: int = 0  # gift files
    import_day: date | None = None  # today in the organisation's time zone


@dataclass(frozen=True)
class ExtraColumns:
    key: str
    kinds: tuple[str, ...]
    fields: tuple[ExtraField, ...]
    offered: Callable[[], bool]  # whether staff can map these columns now
    # Read only, at the check: how many records the rows would make, and notes on rows that make none
    # although they ask to, as (row number, field name, message); the notes are shown as warnings.
    planned: Callable[[str, list[ExtraRow]], tuple[int, list[tuple[int, str, str]]]]
    write: Callable[[str, list[ExtraRow], Any], int]  # make them (kind, rows, actor); no commit
    nouns: tuple[str, str]  # one record, several: "Gift Aid declaration", "Gift Aid declarations"

    def describe(self, count: int) -> str:
        return f"{count:,} {self.nouns[0] if count == 1 else self.nouns[1]}"


_REGISTERED: dict[str, ExtraColumns] = {}


def register(extra: ExtraColumns) -> None:
    """Add (or replace, when the app is created again) a domain's columns."""
    for item in extra.fields:
        if item.value_type not in VALUE_TYPES:
            raise ValueError(f"unknown value type {item.value_type!r}")
    _REGISTERED[extra.key] = extra


def offered_extras(kind: str) -> list[ExtraColumns]:
    return [extra for extra in _REGISTERED.values() if kind in extra.kinds and extra.offered()]


def extra_by_key(key: str) -> ExtraColumns | None:
    return _REGISTERED.get(key)


def targets_for(kind: str) -> dict[str, Target]:
    """The fields a column can fill now: the import's own, then those of the extras on offer."""
    targets = dict(TARGETS[kind])
    for extra in offered_extras(kind):
        targets.update({item.target.name: item.target for item in extra.fields})
    return targets
