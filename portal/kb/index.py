"""The Whoosh index behind help-centre search.

One writer: every change reaches the index through jobs on the `index` queue (see tasks.py); web
processes only read. Open searchers are pooled per process and reused until a writer commits a new
generation, together with the per-audience and per-tag document sets (as bitsets) that filters,
totals and tag facets need.
Queries made of plain words, the usual case, are ranked here from each term's scored postings, which
are read once per index generation and shared by the process's searchers, and added up for every match
in numpy arrays. Phrases, AND/NOT and prefixes go through Whoosh's own matcher. Only the shown hits are
highlighted (see _snippets).
A missing or unreadable index is rebuilt from the database, never a 500.
Text fields are indexed by AnalysedText, which writes the postings Whoosh's TEXT would, in one pass per document.
"""
from __future__ import annotations

import atexit
import bisect
import json
import logging
import os
import re
import shutil
import threading
import time
from collections import Counter, OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Iterable

import numpy as np
from flask import current_app
from markupsafe import Markup, escape
from whoosh import formats, qparser, query as wq, writing
from whoosh.analysis import (STOP_WORDS, LowercaseFilter, RegexTokenizer, StandardAnalyzer, StemFilter,
                             StemmingAnalyzer, StopFilter)
from whoosh.fields import ID, KEYWORD, STORED, TEXT, Schema
from whoosh.filedb.filestore import FileStorage
from whoosh.lang.porter import stem as porter_stem
from whoosh.system import pack_uint

log = logging.getLogger(__name__)

MAX_QUERY_CHARS = 200
MAX_QUERY_TERMS = 16
SNIPPET_CHARS = 220
SNIPPET_SURROUND = 60  # characters of context on either side of a passage's matches
SNIPPET_MATCHES = 24
# A full rebuild of at least this many articles is shared between processes.
PARALLEL_FROM = 2000
PARALLEL_BATCH = 100  # articles handed to a process at a time
# A rebuilding process keeps its postings in a pool until the segment is written; once Whoosh's estimate of the
# pool passes this many MB it spills sorted runs to disk (pickled) and merges them back at the end, which at
# 128 MB cost a fifth of a 20,000-article rebuild. Each of two processes then holds about 5.5M postings, estimated
# at 950 MB and taking about 1.5 GB of memory: this leaves room to grow before spilling, for at most about
# 2.3 GB per process (up to four processes). Beyond it the pool spills as before.
REBUILD_POOL_MB = 1536

# Words that fill a question ("how do I get my …") but say nothing about which article answers it.
QUESTION_WORDS = frozenset({"how", "do", "does", "did", "i", "my", "me", "mine", "get", "gets", "getting", "got", "what",
                            "why", "where", "who", "want", "need", "please", "im", "ive", "there", "about"})
_STEM = StemmingAnalyzer(stoplist=STOP_WORDS | QUESTION_WORDS)
_WHOOSH_TOKEN = r"[\w\*]+(\.?[\w\*]+)*"  # the default RegexTokenizer's pattern
# The same pattern without its capturing group, so that findall returns whole tokens.
_TOKEN = re.compile(_WHOOSH_TOKEN.replace("(", "(?:"))
# The analyzers AnalysedText indexes with: Standard- and StemmingAnalyzer as Whoosh builds them.
_INDEXABLE_CHAINS = ([RegexTokenizer, LowercaseFilter, StopFilter], [RegexTokenizer, LowercaseFilter, StopFilter, StemFilter])


class _TermCache(dict):
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
            terms = self._terms = _TermCache(*_filters_of(self.analyzer))
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
    title=AnalysedText(analyzer=_STEM, stored=True, field_boost=4.0),
    tag_text=AnalysedText(analyzer=_STEM, field_boost=2.0),
    body=AnalysedText(analyzer=_STEM, stored=True),
    # Unstemmed words of every field: the vocabulary "did you mean" draws from.
    spell=AnalysedText(analyzer=StandardAnalyzer(minsize=3), phrase=False),
    tags=KEYWORD(stored=True, commas=True, lowercase=True),
    audience=ID(stored=True),
    summary=STORED,
)
AUDIENCES_FOR_SCOPE = {"donor": ("donor", "both"), "staff": ("donor", "staff", "both")}
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class IndexUnavailable(RuntimeError):
    """The index could not be opened; a rebuild has been asked for."""


# ---------------------------------------------------------------- documents

def document_for(article) -> dict:
    from portal.kb.content import plain_text

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


# ---------------------------------------------------------------- opening, writing, rebuilding

def index_dir() -> Path:
    return Path(current_app.config["KB_INDEX_DIR"])


def _storage(directory: Path) -> FileStorage:
    # Without memory maps: Whoosh wraps each mapped segment file in a BytesIO, which copies the whole file
    # (tens of MB at 20,000 articles) every time a reader opens it. Plain reads open in microseconds.
    return FileStorage(str(directory), supports_mmap=False)


def _open(directory: Path, schema: Schema | None = None):
    if not directory.is_dir() or not any(directory.glob("*.toc")):
        raise IndexUnavailable(f"no index in {directory}")
    try:
        return _storage(directory).open_index(schema=schema)
    except Exception as exc:  # Whoosh raises many kinds of errors for damaged files
        raise IndexUnavailable(f"index in {directory} is unreadable: {exc.__class__.__name__}: {exc}") from exc


SYNC_MARKER = "synced-through.json"


def read_sync_marker(directory: Path | None = None) -> tuple[datetime | None, set[int]]:
    """How far this index has followed the database: the newest `updated_at` applied, and the articles
    applied at exactly that time (so they are not applied again)."""
    try:
        data = json.loads(((directory or index_dir()) / SYNC_MARKER).read_text())
        return datetime.fromisoformat(data["through"]), set(data["ids"])
    except (OSError, ValueError, KeyError):
        return None, set()


def write_sync_marker(through: datetime, ids: Iterable[int], directory: Path | None = None) -> None:
    target = (directory or index_dir()) / SYNC_MARKER
    staging = target.with_suffix(".tmp")
    staging.write_text(json.dumps({"through": through.isoformat(), "ids": sorted(ids)}))
    os.replace(staging, target)


def check_readable(directory: Path | None = None) -> int:
    """The number of documents in the index; raises IndexUnavailable when it is missing or unreadable."""
    return _open(directory or index_dir()).doc_count()


def _writable(directory: Path):
    """Open the index for writing, creating it (or replacing a damaged one) when needed."""
    try:
        # Written with this module's SCHEMA, not the one pickled in the index, so that an index made before a
        # change of field classes (same fields, same postings) is rewritten with the new ones.
        ix = _open(directory, SCHEMA)
        ix.reader().close()
        return ix
    except IndexUnavailable:
        if directory.exists():
            shutil.rmtree(directory)
        directory.mkdir(parents=True, exist_ok=True)
        return _storage(directory).create_index(SCHEMA)


def rebuild(articles: Iterable, directory: Path | None = None, *, expected: int = 0) -> int:
    """Replace the whole index with these articles in one commit (readers keep their snapshot meanwhile).

    From PARALLEL_FROM articles on, every core analyses a share of them into its own segment; the segments
    are left as they are (searches read them together) instead of being merged into one on the way. Each process
    keeps its postings in memory (up to REBUILD_POOL_MB) until its segment is written."""
    directory = directory or index_dir()
    started = time.perf_counter()
    ix = _writable(directory)
    procs = min(os.cpu_count() or 1, 4) if expected >= PARALLEL_FROM else 1
    writer = ix.writer(timeout=30, limitmb=REBUILD_POOL_MB, procs=procs, batchsize=PARALLEL_BATCH, multisegment=procs > 1)
    count = 0
    try:
        for article in articles:
            writer.add_document(**document_for(article))
            count += 1
    except BaseException:
        writer.cancel()
        raise
    writer.commit(mergetype=writing.CLEAR, optimize=procs == 1)
    log.info("KB index rebuilt in %s: %d articles in %.1fs (%d process%s)", directory, count,
             time.perf_counter() - started, procs, "" if procs == 1 else "es")
    return count


def update(article, directory: Path | None = None) -> None:
    """Add or replace one article, or remove it when it is no longer published."""
    ix = _writable(directory or index_dir())
    writer = ix.writer(timeout=30)
    try:
        if article is not None and article.published:
            writer.update_document(**document_for(article))
        elif article is not None:
            writer.delete_by_term("id", str(article.id))
    except BaseException:
        writer.cancel()
        raise
    writer.commit()


def remove(article_id: int, directory: Path | None = None) -> None:
    ix = _writable(directory or index_dir())
    writer = ix.writer(timeout=30)
    writer.delete_by_term("id", str(article_id))
    writer.commit()


# ---------------------------------------------------------------- the reused searcher

def bitset(docnums: Iterable[int]) -> int:
    """Document numbers as the bits of one integer: `&`, `|` and `bit_count()` then run in C."""
    buffer = bytearray()
    for doc in docnums:
        byte = doc >> 3
        if byte >= len(buffer):
            buffer.extend(bytes(byte - len(buffer) + 1))
        buffer[byte] |= 1 << (doc & 7)
    return int.from_bytes(buffer, "little")


def member_array(bits: int) -> np.ndarray:
    """The document numbers set in a bitset, ascending."""
    packed = np.frombuffer(bits.to_bytes((bits.bit_length() + 7) // 8, "little"), dtype=np.uint8)
    return np.flatnonzero(np.unpackbits(packed, bitorder="little"))


def members(bits: int) -> list[int]:
    return member_array(bits).tolist()


@dataclass
class TermScores:
    """One indexed term's documents with their BM25F scores, as arrays: a query adds them up in C."""

    bits: int
    docs: np.ndarray  # document numbers, ascending
    scores: np.ndarray

    @property
    def size(self) -> int:
        return len(self.docs)


class TermCache:
    """The scores of recently searched terms on one generation of the index, shared by every searcher open
    on it: common words are read and scored once per index write instead of on every query."""

    MAX_POSTINGS = 600_000  # about 8 MB of arrays; a few hundred articles never get near it

    def __init__(self, generation: int):
        self.generation = generation
        self.lock = threading.Lock()
        self.terms: OrderedDict[tuple[str, str], TermScores] = OrderedDict()
        self.postings = 0

    def get(self, key: tuple[str, str]) -> TermScores | None:
        with self.lock:
            found = self.terms.get(key)
            if found is not None:
                self.terms.move_to_end(key)
            return found

    def put(self, key: tuple[str, str], scores: TermScores) -> None:
        with self.lock:
            if key in self.terms:
                return
            self.terms[key] = scores
            self.postings += scores.size
            while self.postings > self.MAX_POSTINGS and len(self.terms) > 1:
                _, dropped = self.terms.popitem(last=False)
                self.postings -= dropped.size


@dataclass
class Snapshot:
    """An open searcher on one generation of the index, with the document sets filters and facets need
    (fixed until the next commit) and the generation's term scores."""

    searcher: object
    generation: int
    audience_docs: dict[str, frozenset] = field(default_factory=dict)
    audience_bits: dict[str, int] = field(default_factory=dict)
    tag_bits: dict[str, int] = field(default_factory=dict)
    term_cache: TermCache | None = None

    @property
    def doc_count(self) -> int:
        return self.searcher.reader().doc_count_all()

    @classmethod
    def open(cls, ix) -> "Snapshot":
        searcher = ix.searcher()
        reader = searcher.reader()
        deleted = bitset(doc for doc in range(reader.doc_count_all()) if reader.is_deleted(doc)) if reader.has_deletions() else 0
        tag_bits = {}
        for term in reader.lexicon("tags"):
            tag_bits[term.decode("utf-8")] = bitset(reader.postings("tags", term).all_ids()) & ~deleted
        by_audience = {}
        for audience in ("donor", "staff", "both"):
            if ("audience", audience) in reader:
                by_audience[audience] = bitset(reader.postings("audience", audience.encode()).all_ids()) & ~deleted
            else:
                by_audience[audience] = 0
        audience_bits = {}
        for scope, audiences in AUDIENCES_FOR_SCOPE.items():
            audience_bits[scope] = 0
            for audience in audiences:
                audience_bits[scope] |= by_audience[audience]
        audience_docs = {scope: frozenset(members(bits)) for scope, bits in audience_bits.items()}
        return cls(searcher, reader.generation(), audience_docs, audience_bits, tag_bits)

    def term(self, fieldname: str, text: str) -> TermScores:
        cached = self.term_cache.get((fieldname, text)) if self.term_cache else None
        if cached is not None:
            return cached
        docs: list[int] = []
        scores: list[float] = []
        weighting = self.searcher.weighting
        for leaf, offset in self.searcher.leaf_searchers():
            reader = leaf.reader()
            if (fieldname, text) not in reader:
                continue
            scorer = weighting.scorer(leaf, fieldname, text)
            postings = reader.postings(fieldname, text)  # deleted documents are already left out
            while postings.is_active():
                docs.append(offset + postings.id())
                scores.append(scorer.score(postings))
                postings.next()
        loaded = TermScores(bitset(docs), np.array(docs, dtype=np.int64), np.array(scores, dtype=np.float64))
        if self.term_cache:
            self.term_cache.put((fieldname, text), loaded)
        return loaded


class SnapshotPool:
    """Open searchers shared by every thread of the process. A thread borrows one for a search and gives it
    back, so request threads (which come and go) reuse searchers instead of reopening the index."""

    def __init__(self, size: int = 8):
        self.size = size
        self.lock = threading.Lock()
        self.free: dict[str, list[Snapshot]] = {}
        self.term_caches: dict[str, TermCache] = {}

    def borrow(self, directory: Path) -> Snapshot:
        key = str(directory)
        while True:
            with self.lock:
                snap = self.free.get(key, []).pop() if self.free.get(key) else None
            if snap is None:
                break
            try:
                if snap.searcher.up_to_date():
                    return snap
            except Exception:  # files replaced underneath: discard and look again
                pass
            snap.searcher.close()
        try:
            snap = Snapshot.open(_open(directory))
        except IndexUnavailable as exc:
            _recover(directory, str(exc))
            snap = Snapshot.open(_open(directory))
        with self.lock:
            cache = self.term_caches.get(key)
            if cache is None or cache.generation != snap.generation:
                cache = self.term_caches[key] = TermCache(snap.generation)
        snap.term_cache = cache if cache.generation == snap.generation else None
        return snap

    def give_back(self, directory: Path, snap: Snapshot) -> None:
        with self.lock:
            free = self.free.setdefault(str(directory), [])
            if len(free) < self.size:
                free.append(snap)
                return
        snap.searcher.close()

    def close_all(self) -> None:
        with self.lock:
            pooled = [snap for free in self.free.values() for snap in free]
            self.free.clear()
            self.term_caches.clear()
        for snap in pooled:
            snap.searcher.close()


_pool = SnapshotPool()
# Searchers hold the segment files open; closing them at exit keeps interpreter shutdown quiet and tidy.
atexit.register(_pool.close_all)
_rebuild_requested_at: dict[str, float] = {}
_rebuild_lock = threading.Lock()


@contextmanager
def reading():
    """A searcher on the newest committed generation of the index, reused across calls and threads."""
    directory = index_dir()
    snap = _pool.borrow(directory)
    try:
        yield snap
    finally:
        _pool.give_back(directory, snap)


def _recover(directory: Path, why: str) -> None:
    """Ask the index queue for a rebuild from the database; in-process job modes finish it before returning."""
    from portal import jobs
    from portal.kb import tasks

    with _rebuild_lock:
        last = _rebuild_requested_at.get(str(directory), 0.0)
        if time.monotonic() - last < 30:
            raise IndexUnavailable(why)
        _rebuild_requested_at[str(directory)] = time.monotonic()
    log.warning("KB index at %s is missing or damaged (%s): rebuilding it from the database", directory, why)
    job_id = jobs.enqueue_now("index", tasks.rebuild_index)
    if current_app.config["JOBS_MODE"] == "thread":
        _wait_for(job_id, seconds=20)
    _open(directory)  # still unreadable: IndexUnavailable, and the caller serves the fallback
    with _rebuild_lock:
        _rebuild_requested_at.pop(str(directory), None)


def _wait_for(job_id: str, seconds: float) -> None:
    from portal import jobs

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if jobs.job_progress(job_id)["status"] in ("finished", "failed"):
            return
        time.sleep(0.05)


def close_snapshots() -> None:
    _pool.close_all()


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
    terms = [wq.Term(name, token.text) for word in words for token in _STEM(word.lower()) for name in SCORED_FIELDS]
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


def _snippets(docnums: list[int], stems: set[str], stored: dict[int, dict]) -> dict[int, Markup]:
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
    snippets = _snippets([doc for _, doc in shown], words, stored)
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
        if len(word) < 3 or word.isdigit() or ("spell", word) in reader:
            out.append(word)
            continue
        suggestions = corrector.suggest(word, limit=1, maxdist=2, prefix=1)
        if suggestions:
            out.append(suggestions[0])
            changed = True
        else:
            out.append(word)
    return " ".join(out) if changed else None


def indexed_count() -> int:
    with reading() as snap:
        return snap.searcher.doc_count()
