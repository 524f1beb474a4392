""""Did you mean": each query word not in the index replaced by the closest word that is."""
from __future__ import annotations

from portal.kb.search.analysis import QUESTION_WORDS, STOP_WORDS
from portal.kb.search.ranking import words_of
from portal.kb.search.storage import Snapshot, reading


def correct(text: str) -> str | None:
    """The query with each word that isn't in the index replaced by the closest word that is, if any."""
    with reading() as snap:
        return _correct(snap, text)


def _correct(snap: Snapshot, text: str) -> str | None:
    reader = snap.searcher.reader()
    corrector = snap.searcher.corrector("spell")
    changed = False
    out = []
    for word in words_of(text):
        # Words of three letters or fewer are left alone: two edits make any of them another word ("aid", "any").
        # Stop words aren't indexed, so they would always be "corrected" ("is this" to "is them").
        if len(word) < 4 or word.isdigit() or word in STOP_WORDS or word in QUESTION_WORDS or ("spell", word) in reader:
            out.append(word)
            continue
        suggestions = corrector.suggest(word, limit=1, maxdist=2, prefix=1)
        if suggestions:
            out.append(suggestions[0])
            changed = True
        else:
            out.append(word)
    return " ".join(out) if changed else None
