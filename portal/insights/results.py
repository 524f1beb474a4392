"""Report results are dataclasses; snapshots keep them as JSON. These two functions convert both ways."""
from __future__ import annotations

import dataclasses
import types
import typing
from datetime import date, datetime
from functools import cache
from typing import Any


def dump(value: Any) -> Any:
    """Dataclasses, lists, dicts, dates and datetimes as JSON-compatible values."""
    if dataclasses.is_dataclass(value):
        return {f.name: dump(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [dump(item) for item in value]
    if isinstance(value, dict):
        return {str(key): dump(item) for key, item in value.items()}
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def load(kind: Any, data: Any) -> Any:
    """The inverse of dump for a type annotation: a dataclass, list[...], dict[str, ...], Optional, scalars."""
    if data is None:
        return None
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        options = [arg for arg in typing.get_args(kind) if arg is not type(None)]
        return load(options[0], data)
    if origin is list:
        (item,) = typing.get_args(kind)
        return [load(item, value) for value in data]
    if origin is dict:
        _, item = typing.get_args(kind)
        return {key: load(item, value) for key, value in data.items()}
    if dataclasses.is_dataclass(kind):
        hints = _hints(kind)
        return kind(**{f.name: load(hints[f.name], data.get(f.name)) for f in dataclasses.fields(kind) if f.name in data})
    if kind is datetime:
        return datetime.fromisoformat(data)
    if kind is date:
        return date.fromisoformat(data)
    if kind is float and isinstance(data, int):
        return float(data)
    return data
