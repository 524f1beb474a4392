"""Donors' own words other domains feed to suggestions (ticket subjects, survey comments...)."""
from __future__ import annotations

from datetime import datetime
from typing import Callable, Iterable


TextSource = Callable[[list[int], datetime], Iterable[tuple[int, str, str]]]
_TEXT_SOURCES: dict[str, TextSource] = {}


def register_text_source(name: str, source: TextSource) -> None:
    """Let another domain feed suggestions with donors' own words (ticket subjects, survey comments...).

    `source(donor_ids, since)` yields (donor_id, text, reason) for text written since `since`, where reason
    completes "Because you …", e.g. 'asked us about “my receipt”'. It is called with batches of donor ids
    and should run one query per call, not one per donor.
    """
    _TEXT_SOURCES[name] = source


def text_sources() -> dict[str, TextSource]:
    return dict(_TEXT_SOURCES)
