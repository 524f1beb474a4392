"""Highlighted passages of the shown hits, cut by our own code from the stored text (Whoosh's highlighter
cost more than the search)."""
from __future__ import annotations

import bisect
import re
from functools import lru_cache

from markupsafe import Markup, escape
from whoosh.lang.porter import stem as porter_stem

SNIPPET_CHARS = 220
SNIPPET_SURROUND = 60  # characters of context on either side of a passage's matches
SNIPPET_MATCHES = 24


def snippets_for(docnums: list[int], stems: set[str], stored: dict[int, dict]) -> dict[int, Markup]:
    """Highlighted passages of each shown document's body.

    The stored body is searched for words starting like a searched stem and only those are stemmed to
    confirm the match. Reading stored character offsets instead costs more here: Whoosh decodes a whole
    block of postings (positions and offsets of 128 documents) for every word of every hit."""
    prefixes = sorted({stem[:max(3, len(stem) - 2)] for stem in stems if stem})
    snippets = {}
    for doc in docnums:
        text = stored[doc].get("body", "")
        matches = [(start, end, stem) for start, end, stem in _words_starting(text, prefixes) if stem in stems]
        snippets[doc] = (_snippet(text, matches[:SNIPPET_MATCHES]) if matches
                         else escape(stored[doc].get("summary") or text[:SNIPPET_CHARS]))
    return snippets


_WORD_AT = re.compile(r"\w+(?:\.?\w+)*")


def _words_starting(text: str, prefixes: list[str]) -> list[tuple[int, int, str]]:
    """Each word of the text that starts with one of the (lower-case) prefixes, as (start, end, stem), in order.
    str.find on the lower-cased text runs in C and skips most of a long body at once."""
    lowered = text.lower()
    if len(lowered) != len(text):  # a few characters lower-case to two: offsets would no longer line up
        pattern = re.compile(r"\b(?=%s)\w+(?:\.?\w+)*" % "|".join(map(re.escape, prefixes)), re.IGNORECASE)
        return [(m.start(), m.end(), _stem_word(m.group().lower())) for m in pattern.finditer(text)]
    starts = set()
    for prefix in prefixes:
        at = lowered.find(prefix)
        while at >= 0:
            if at == 0 or not (lowered[at - 1].isalnum() or lowered[at - 1] == "_"):
                starts.add(at)
            at = lowered.find(prefix, at + len(prefix))
    words = []
    for start in sorted(starts):
        word = _WORD_AT.match(lowered, start)
        if word is not None:
            words.append((start, word.end(), _stem_word(word.group())))
    return words


@lru_cache(maxsize=50_000)
def _stem_word(word: str) -> str:
    return porter_stem(word)


def _windows(text: str, matches: list[tuple[int, int, str]]) -> list[tuple[int, int, int, int]]:
    """Candidate passages of at most SNIPPET_CHARS, one starting a little before each match, cut at whole
    words. Each is (start, end, index of its first match, index after its last)."""
    starts = [start for start, _, _ in matches]
    windows = []
    for start in starts:
        begin = max(0, start - SNIPPET_SURROUND)
        if begin > 0:
            space = text.find(" ", begin, start)
            begin = space + 1 if space >= 0 else start
        end = min(len(text), begin + SNIPPET_CHARS)
        first = last = bisect.bisect_left(starts, begin)  # earlier matches in the lead-in are marked too
        while last + 1 < len(matches) and matches[last + 1][1] <= end:
            last += 1
        if end < len(text):
            space = text.rfind(" ", matches[last][1], end)
            end = space if space >= 0 else matches[last][1]
        windows.append((begin, end, first, last + 1))
    return windows


def _snippet(text: str, matches: list[tuple[int, int, str]]) -> Markup:
    """The best one or two passages (most different words, then most matches), in reading order, with the
    matched words marked and an ellipsis wherever text is left out. The body's blocks are separated by line
    breaks, shown as " · "."""
    def worth(window):
        found = matches[window[2]:window[3]]
        return len({stem for _, _, stem in found}), len(found), -window[0]

    ranked = sorted(_windows(text, matches), key=worth, reverse=True)
    chosen = [ranked[0]]
    for window in ranked[1:]:
        if window[0] >= chosen[0][1] or window[1] <= chosen[0][0]:
            chosen.append(window)
            break
    chosen.sort()
    passages = []
    for begin, end, first, after in chosen:
        parts, at = [], begin
        for start, stop, _ in matches[first:after]:
            parts += (escape(text[at:start]), "<mark>", escape(text[start:stop]), "</mark>")
            at = stop
        parts.append(escape(text[at:end]))
        passages.append("".join(parts).strip())
    lead = "… " if chosen[0][0] > 0 else ""
    tail = " …" if chosen[-1][1] < len(text) else ""
    return Markup((lead + " … ".join(passages) + tail).replace("\n", " · "))
