"""Small helpers shared by every domain's WTForms forms."""
from __future__ import annotations

from typing import Iterable, Mapping

from wtforms.fields.choices import SelectChoice


def choices(options: Mapping[str, str] | Iterable[tuple[str, str]]) -> list[SelectChoice]:
    """Select options from {value: label} or (value, label) pairs, in WTForms 3.3's own form."""
    pairs = options.items() if isinstance(options, Mapping) else options
    return [SelectChoice(value, label) for value, label in pairs]
