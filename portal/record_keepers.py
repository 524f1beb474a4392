"""Which domain keeps what about a donor: the registry a merge, an erasure and a data export go through.

Each domain that stores rows about a donor registers, from its own init_app, the functions that work on
its own tables:
- move(from_id, to_id): a merge hands the merged-away donor's rows to the survivor;
- erase(donor_id): remove or replace the personal data in its rows (amounts, dates and counts stay);
- export(donor_id) -> {"file name": [row dict, ...]}: the donor's rows for an access request.
Each only adds to the current session (never commits), so a merge or erasure is one transaction.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from sqlalchemy import update

from portal.extensions import db


@dataclass(frozen=True)
class RecordKeeper:
    name: str
    move: Callable[[int, int], None] | None = None
    erase: Callable[[int], None] | None = None
    export: Callable[[int], dict[str, list[dict]]] | None = None


_KEEPERS: dict[str, RecordKeeper] = {}


def register(name: str, *, move=None, erase=None, export=None) -> None:
    _KEEPERS[name] = RecordKeeper(name, move, erase, export)


def keepers() -> list[RecordKeeper]:
    return list(_KEEPERS.values())


def reassign(model, from_id: int, to_id: int, column: str = "donor_id") -> None:
    """The common case of a move: point every row of one table at the survivor."""
    db.session.execute(update(model).where(getattr(model, column) == from_id).values({column: to_id})
                       .execution_options(synchronize_session=False))


def rows(objects, columns: tuple[str, ...], **computed: Callable) -> list[dict]:
    """Rows for an export: the named attributes of each object, plus computed ones."""
    out = []
    for item in objects:
        row = {name: getattr(item, name) for name in columns}
        row.update({name: fn(item) for name, fn in computed.items()})
        out.append(row)
    return out
