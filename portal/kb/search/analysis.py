"""How article text becomes index terms: the analyzers, the schema, and AnalysedText, which indexes a
document in one pass (the same postings as Whoosh's TEXT; the tests compare them)."""
from __future__ import annotations

import re
from collections import Counter

from whoosh import formats
from whoosh.analysis import (STOP_WORDS, LowercaseFilter, RegexTokenizer, StandardAnalyzer, StemFilter,
                             StemmingAnalyzer, StopFilter)
from whoosh.fields import ID, KEYWORD, STORED, TEXT, Schema
from whoosh.system import pack_uint

from portal.kb.content import plain_text

# Words that fill a question ("how do I get my …") but say nothing about which article answers it.
QUESTION_WORDS = frozenset({"how", "do", "does", "did", "i", "my", "me", "mine", "get", "gets", "getting", "got", "what",
                            "why", "where", "who", "want", "need", "please", "im", "ive", "there", "about"})
STEM_ANALYZER = StemmingAnalyzer(stoplist=STOP_WORDS | QUESTION_WORDS)
_WHOOSH_TOKEN = r"[\w\*]+(\.?[\w\*]+)*"  # the default RegexTokenizer's pattern
# The same pattern without its capturing group, so that findall returns whole tokens.
_TOKEN = re.compile(_WHOOSH_TOKEN.replace("(", "(?:"))
# The analyzers AnalysedText indexes with: Standard- and StemmingAnalyzer as Whoosh builds them.
_INDEXABLE_CHAINS = ([RegexTokenizer, LowercaseFilter, StopFilter], [RegexTokenizer, LowercaseFilter, StopFilter, StemFilter])


class TokenTermCache(dict):
    """Token → indexed term (None for a stop word): the analyzer's filters, run once per distinct token."""

    LIMIT = 200_000  # distinct tokens remembered; beyond them terms are still right, only computed each time

    def __init__(self, stop: StopFilter, stem: StemFilter | None):
        super().__init__()
        self.stop = stop
        self.stem = stem

    def __missing__(self, token: str) -> str | None:
        text = token.lower()
        stop = self.stop
        if len(text) < stop.min or (stop.max is not None and len(text) > stop.max) or text in stop.stops:
            term = None
        elif self.stem is not None and text not in self.stem.ignore:
            term = self.stem._stem(text)  # the filter's own stemmer (its language's, if it names one)
        else:
            term = text
        if len(self) < self.LIMIT:
            self[token] = term
        return term


class AnalysedText(TEXT):
    """A TEXT field that indexes a document's text without passing each token through the analyzer's chain of
    generators, which took a quarter of a full rebuild. The postings are exactly those of TEXT (the tests compare
    them); searching and highlighting still run the analyzer itself. Its analyzer must be Whoosh's default
    RegexTokenizer | LowercaseFilter | StopFilter, optionally followed by a StemFilter."""

    def __init__(self, analyzer, **kwargs):
        _filters_of(analyzer)
        super().__init__(analyzer=analyzer, **kwargs)

    def __getstate__(self):
        # The schema is pickled into the index's table of contents; the cache is rebuilt where it is used.
        return {name: value for name, value in self.__dict__.items() if name != "_terms"}

    def index(self, value, **kwargs):
        if kwargs or not isinstance(value, str):
            return super().index(value, **kwargs)
        terms = getattr(self, "_terms", None)
        if terms is None:
            terms = self._terms = TokenTermCache(*_filters_of(self.analyzer))
        tokens = list(map(terms.__getitem__, _TOKEN.findall(value)))
        if isinstance(self.format, formats.Positions):
            return self._with_positions(tokens)
        return self._with_frequencies(tokens)

    def _with_positions(self, tokens: list[str | None]) -> list[tuple]:
        # Numbered as StopFilter renumbers: the first kept token keeps its place, the ones after it follow on.
        positions: dict[str, list[int]] = {}
        kept = [term for term in tokens if term is not None]
        if kept:
            first = next(number for number, term in enumerate(tokens) if term is not None)
            for number, term in enumerate(kept, start=first):
                positions.setdefault(term, []).append(number)
        boost, encode = self.format.field_boost, self.format.encode
        return [(term.encode("utf-8"), len(places), len(places) * boost, encode(places))
                for term, places in positions.items()]

    def _with_frequencies(self, tokens: list[str | None]) -> list[tuple]:
        counts = Counter(term for term in tokens if term is not None)
        boost = self.format.field_boost
        return [(term.encode("utf-8"), count, count * boost, pack_uint(count)) for term, count in counts.items()]


def _filters_of(analyzer) -> tuple[StopFilter, StemFilter | None]:
    """The stop and stem filters of an analyzer AnalysedText can index with; ValueError for any other."""
    items = getattr(analyzer, "items", [])
    kinds = [type(item) for item in items]
    if kinds not in _INDEXABLE_CHAINS or items[0].gaps or items[0].expression.pattern != _WHOOSH_TOKEN \
            or not items[2].renumber:
        raise ValueError(f"AnalysedText cannot index with {analyzer!r}")
    return items[2], items[3] if len(items) == 4 else None


SCHEMA = Schema(
    id=ID(stored=True, unique=True),
    slug=ID(stored=True),
    # Title and tags outweigh the body: a word in the title is the strongest sign of the right article.
    title=AnalysedText(analyzer=STEM_ANALYZER, stored=True, field_boost=4.0),
    tag_text=AnalysedText(analyzer=STEM_ANALYZER, field_boost=2.0),
    body=AnalysedText(analyzer=STEM_ANALYZER, stored=True),
    # Unstemmed words of every field: the vocabulary "did you mean" draws from.
    spell=AnalysedText(analyzer=StandardAnalyzer(minsize=3), phrase=False),
    tags=KEYWORD(stored=True, commas=True, lowercase=True),
    audience=ID(stored=True),
    summary=STORED,
)


def document_for(article) -> dict:
    tags = article.tag_list
    body = plain_text(article.body_html)
    return {
        "id": str(article.id),
        "slug": article.slug,
        "title": article.title,
        "tag_text": " ".join(tag.replace("-", " ") for tag in tags),
        "body": body,
        "spell": " ".join((article.title, " ".join(tags).replace("-", " "), body)),
        "tags": ",".join(tags),
        "audience": article.audience,
        "summary": article.summary,
    }
