"""Queries and ranking. Queries made of plain words, the usual case, are ranked from each term's scored
postings (storage.TermScoreCache), added up for every match in numpy arrays; phrases, AND/NOT and prefixes go
through Whoosh's own matcher. Only the shown hits get snippets (snippets.py)."""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from markupsafe import Markup
from whoosh import qparser, query as wq

from portal.kb.search.analysis import SCHEMA, STEM_ANALYZER
from portal.kb.search.snippets import snippets_for
from portal.kb.search.storage import Snapshot, bitset, member_array, members, reading

MAX_QUERY_CHARS = 200
MAX_QUERY_TERMS = 16


_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


# ---------------------------------------------------------------- queries

_PARSERS: dict[str, qparser.QueryParser] = {}
SCORED_FIELDS = ("title", "tag_text", "body")
QUERY_SCALE = 0.9  # the OR group's coordination bonus: documents with more of the words rank higher


def _parser() -> qparser.QueryParser:
    """Words, "phrases", (groups) and AND/OR/NOT; no field names, wildcards, ranges or boosts from users."""
    parser = _PARSERS.get("default")
    if parser is None:
        parser = qparser.MultifieldParser(list(SCORED_FIELDS), SCHEMA, group=qparser.OrGroup.factory(QUERY_SCALE))
        for plugin in (qparser.FieldsPlugin, qparser.WildcardPlugin, qparser.RangePlugin, qparser.BoostPlugin,
                       qparser.EveryPlugin, qparser.SingleQuotePlugin):
            parser.remove_plugin_class(plugin)
        _PARSERS["default"] = parser
    return parser


def normalise_query(text: str | None) -> str:
    text = _CONTROL.sub(" ", text or "")
    return " ".join(text.split())[:MAX_QUERY_CHARS]


def words_of(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)][:MAX_QUERY_TERMS]


def _plain_query(text: str) -> wq.Query:
    """The fallback for anything the parser refuses: every word, in any field."""
    stem = SCHEMA["body"].analyzer
    terms = []
    for word in words_of(text):
        for token in stem(word):
            for name in ("title", "tag_text", "body"):
                terms.append(wq.Term(name, token.text))
    return wq.Or(terms) if terms else wq.NullQuery


SYNTAX = re.compile(r'["()]|\b(AND|OR|NOT|ANDNOT)\b')


def has_syntax(text: str) -> bool:
    return bool(SYNTAX.search(text))


_PLAIN_WORD = re.compile(r"[^\W_]+")


def _words_query(text: str) -> wq.Query | None:
    """What the parser makes of plain lower-case words (the usual query), built without running it: each word's
    stem in each scored field, in one OR with the parser's coordination scale. None when the text holds
    anything else (punctuation, quotes, brackets, capitalised words that could be operators)."""
    words = text.split()
    if not all(_PLAIN_WORD.fullmatch(word) and not word.isupper() for word in words):
        return None
    terms = [wq.Term(name, token.text) for word in words for token in STEM_ANALYZER(word.lower()) for name in SCORED_FIELDS]
    return wq.Or(terms, scale=QUERY_SCALE).normalize() if terms else wq.NullQuery


def build_query(text: str, *, typing: bool = False, plain: bool = False) -> wq.Query:
    """The reader's words as a query; `plain` ignores quotes, brackets and operators altogether."""
    words = words_of(text)
    if not words:
        return wq.NullQuery
    try:
        parsed = _plain_query(text) if plain else (_words_query(text) or _parser().parse(text))
        if len(list(parsed.leaves())) > MAX_QUERY_TERMS * 3:
            parsed = _plain_query(text)
    except Exception:  # the parser is lenient, but user text must never reach the reader as an error
        parsed = _plain_query(text)
    if parsed is wq.NullQuery:
        parsed = _plain_query(text)
    last = words[-1]
    if typing and len(last) >= 3 and not text.endswith((" ", '"', ")")):
        # The reader is still typing the last word: let "recei" find "receipts".
        partial = wq.Or([wq.Prefix("title", last, boost=1.5), wq.Prefix("body", last, boost=0.5)])
        parsed = wq.Or([parsed, partial]) if parsed is not wq.NullQuery else partial
    return parsed


# ---------------------------------------------------------------- search

@dataclass
class Hit:
    article_id: int
    slug: str
    title: str
    snippet: Markup
    tags: list[str]
    audience: str
    score: float


@dataclass
class Found:
    hits: list[Hit]
    total: int
    facets: list[tuple[str, int]]
    correction: str | None = None


def _word_terms(q: wq.Query) -> list[wq.Term] | None:
    """The terms of a query made only of words (the usual case), or None for phrases, AND, NOT, prefixes..."""
    if isinstance(q, wq.Term):
        leaves = [q]
    elif isinstance(q, wq.Or) and q.boost == 1.0 and not q.minmatch:
        leaves = list(q.subqueries)
    else:
        return None
    if not all(type(leaf) is wq.Term and leaf.fieldname in SCORED_FIELDS for leaf in leaves):
        return None
    return leaves


def _coordinated(total, matching, termcount: int, scale: float | None):
    """Whoosh's coordination bonus (the "SQR" of the Or group): documents with more of the words rank higher.
    Works on one score or on arrays of them, with the operations in Whoosh's order, so the figures are equal."""
    if not scale or termcount <= 1 or termcount == scale:
        return total
    return (total + (matching - 1) / (termcount - scale) ** 2) * (termcount - 1) / termcount


def _best_of_words(snap: Snapshot, terms: list[wq.Term], scale: float | None, allowed_bits: int,
                   limit: int) -> tuple[list[tuple[float, int]], int]:
    """The best `limit` documents for an OR of words, and the bitset of every allowed match.

    Every match is scored: each term's scores are added into one array per query (in the terms' order, as
    Whoosh adds them), then the best are picked, ties going to the lower document number as in Whoosh."""
    loaded = [(scores, t.boost) for scores, t in ((snap.term(t.fieldname, t.text), t) for t in terms) if scores.size]
    matched = 0
    for scores, _ in loaded:
        matched |= scores.bits
    matched &= allowed_bits
    if not matched:
        return [], 0
    total = np.zeros(snap.doc_count)
    matching = np.zeros(snap.doc_count, dtype=np.int64)
    for scores, boost in loaded:
        total[scores.docs] += scores.scores * boost
        matching[scores.docs] += 1
    candidates = member_array(matched)
    values = _coordinated(total[candidates], matching[candidates], len(loaded), scale)
    if len(candidates) > limit:
        threshold = np.partition(values, len(values) - limit)[len(values) - limit]
        keep = values >= threshold
        candidates, values = candidates[keep], values[keep]
    order = np.lexsort((candidates, -values))[:limit]
    return [(float(values[i]), int(candidates[i])) for i in order], matched


def _best_of_query(snap: Snapshot, q: wq.Query, allowed_docs: frozenset, allowed_bits: int,
                   limit: int) -> tuple[list[tuple[float, int]], int]:
    """Phrases, AND/NOT and prefixes: Whoosh's own matching, without recording matched terms per document."""
    searcher = snap.searcher
    results = searcher.search(q, limit=limit, filter=set(allowed_docs))
    top = [(hit.score or 0.0, hit.docnum) for hit in results]
    matched = bitset(searcher.docs_for_query(q)) & allowed_bits
    return top, matched


def _highlight_words(q: wq.Query, reader) -> set[str]:
    return {text.decode("utf-8") if isinstance(text, bytes) else text
            for fieldname, text in q.existing_terms(reader, expand=True) if fieldname == "body"}


def run_search(text: str, *, scope: str = "donor", tag: str | None = None, page: int = 1, per_page: int = 10,
               typing: bool = False, facets: bool = True, plain: bool = False) -> Found:
    with reading() as snap:
        return _run(snap, text, scope=scope, tag=tag, page=page, per_page=per_page, typing=typing, facets=facets, plain=plain)


def _run(snap: Snapshot, text: str, *, scope: str, tag: str | None, page: int, per_page: int, typing: bool, facets: bool,
         plain: bool) -> Found:
    scope = scope if scope in snap.audience_bits else "donor"
    allowed_bits = snap.audience_bits[scope]
    allowed_docs = snap.audience_docs[scope]
    if tag:
        allowed_bits &= snap.tag_bits.get(tag, 0)
        allowed_docs = frozenset(members(allowed_bits))
    q = build_query(text, typing=typing, plain=plain) if words_of(text) else (wq.Every() if tag else wq.NullQuery)
    if q is wq.NullQuery or not allowed_bits:
        return Found([], 0, [])
    searcher = snap.searcher
    limit = page * per_page
    terms = _word_terms(q)
    if terms is not None:
        top, matched = _best_of_words(snap, terms, getattr(q, "scale", None), allowed_bits, limit)
        words = {t.text for t in terms if t.fieldname == "body"}
    elif isinstance(q, wq.Every):
        top, matched = [(0.0, doc) for doc in members(allowed_bits)[:limit]], allowed_bits
        words = set()
    else:
        top, matched = _best_of_query(snap, q, allowed_docs, allowed_bits, limit)
        words = _highlight_words(q, searcher.reader())
    shown = top[(page - 1) * per_page: limit]
    stored = {doc: searcher.stored_fields(doc) for _, doc in shown}
    snippets = snippets_for([doc for _, doc in shown], words, stored)
    hits = [Hit(article_id=int(stored[doc]["id"]), slug=stored[doc]["slug"], title=stored[doc]["title"], snippet=snippets[doc],
                tags=[t for t in stored[doc].get("tags", "").split(",") if t], audience=stored[doc]["audience"], score=score)
            for score, doc in shown]
    facet_counts = []
    if facets and matched:
        for name, docs in snap.tag_bits.items():
            count = (docs & matched).bit_count()
            if count:
                facet_counts.append((name, count))
        facet_counts.sort(key=lambda item: (-item[1], item[0]))
    return Found(hits, matched.bit_count(), facet_counts[:12])
