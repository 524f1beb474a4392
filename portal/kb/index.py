"""The Whoosh index behind help-centre search.

One writer: every change reaches the index through jobs on the `index` queue (see tasks.py); web
processes only read. Open searchers are pooled per process and reused until a writer commits a new
generation, together with the per-audience and per-tag document sets filters need, so a query pays
only for matching, scoring and highlighting.
Body text is indexed with character positions, so highlights come from stored offsets instead of
re-analysing the text. A missing or unreadable index is rebuilt from the database, never a 500.
"""
from __future__ import annotations

import logging
import re
import shutil
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from flask import current_app
from markupsafe import Markup, escape
from whoosh import highlight, index as whoosh_index, qparser, query as wq, writing
from whoosh.analysis import STOP_WORDS, StandardAnalyzer, StemmingAnalyzer
from whoosh.fields import ID, KEYWORD, STORED, TEXT, Schema

log = logging.getLogger(__name__)

MAX_QUERY_CHARS = 200
MAX_QUERY_TERMS = 16
SNIPPET_CHARS = 220

# Words that fill a question ("how do I get my …") but say nothing about which article answers it.
QUESTION_WORDS = frozenset({"how", "do", "does", "did", "i", "my", "me", "mine", "get", "gets", "getting", "got", "what",
                            "why", "where", "who", "want", "need", "please", "im", "ive", "there", "about"})
_STEM = StemmingAnalyzer(stoplist=STOP_WORDS | QUESTION_WORDS)

SCHEMA = Schema(
    id=ID(stored=True, unique=True),
    slug=ID(stored=True),
    # Title and tags outweigh the body: a word in the title is the strongest sign of the right article.
    title=TEXT(analyzer=_STEM, stored=True, field_boost=4.0),
    tag_text=TEXT(analyzer=_STEM, field_boost=2.0),
    body=TEXT(analyzer=_STEM, stored=True, chars=True),
    # Unstemmed words of every field: the vocabulary "did you mean" draws from.
    spell=TEXT(analyzer=StandardAnalyzer(minsize=3), phrase=False),
    tags=KEYWORD(stored=True, commas=True, lowercase=True),
    audience=ID(stored=True),
    summary=STORED,
)
AUDIENCES_FOR_SCOPE = {"donor": ("donor", "both"), "staff": ("donor", "staff", "both")}
_SPELL_ANALYZER = StandardAnalyzer(minsize=3)
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


def _open(directory: Path):
    if not directory.is_dir() or not any(directory.glob("*.toc")):
        raise IndexUnavailable(f"no index in {directory}")
    try:
        return whoosh_index.open_dir(str(directory))
    except Exception as exc:  # Whoosh raises many kinds of errors for damaged files
        raise IndexUnavailable(f"index in {directory} is unreadable: {exc.__class__.__name__}: {exc}") from exc


def _writable(directory: Path):
    """Open the index for writing, creating it (or replacing a damaged one) when needed."""
    try:
        ix = _open(directory)
        ix.reader().close()
        return ix
    except IndexUnavailable:
        if directory.exists():
            shutil.rmtree(directory)
        directory.mkdir(parents=True, exist_ok=True)
        return whoosh_index.create_in(str(directory), SCHEMA)


def rebuild(articles: Iterable, directory: Path | None = None) -> int:
    """Replace the whole index with these articles in one commit (readers keep their snapshot meanwhile)."""
    directory = directory or index_dir()
    started = time.perf_counter()
    ix = _writable(directory)
    writer = ix.writer(timeout=30, limitmb=256)
    count = 0
    try:
        for article in articles:
            writer.add_document(**document_for(article))
            count += 1
    except BaseException:
        writer.cancel()
        raise
    writer.commit(mergetype=writing.CLEAR, optimize=True)
    log.info("KB index rebuilt in %s: %d articles in %.1fs", directory, count, time.perf_counter() - started)
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

@dataclass
class Snapshot:
    """An open searcher on one generation of the index, with the document sets filters need."""

    searcher: object
    generation: int
    audience_docs: dict[str, frozenset] = field(default_factory=dict)
    tag_docs: dict[str, frozenset] = field(default_factory=dict)

    @classmethod
    def open(cls, ix) -> "Snapshot":
        searcher = ix.searcher()
        reader = searcher.reader()
        tag_docs = {}
        for term in reader.lexicon("tags"):
            tag_docs[term.decode("utf-8")] = frozenset(reader.postings("tags", term).all_ids())
        by_audience = {}
        for audience in ("donor", "staff", "both"):
            if ("audience", audience) in reader:
                by_audience[audience] = frozenset(reader.postings("audience", audience.encode()).all_ids())
            else:
                by_audience[audience] = frozenset()
        deleted = frozenset(doc for doc in range(reader.doc_count_all()) if reader.is_deleted(doc)) if reader.has_deletions() else frozenset()
        audience_docs = {scope: frozenset().union(*(by_audience[a] for a in audiences)) - deleted
                         for scope, audiences in AUDIENCES_FOR_SCOPE.items()}
        return cls(searcher, ix.latest_generation(), audience_docs, {t: d - deleted for t, d in tag_docs.items()})


class SnapshotPool:
    """Open searchers shared by every thread of the process. A thread borrows one for a search and gives it
    back, so request threads (which come and go) reuse searchers instead of reopening the index."""

    def __init__(self, size: int = 8):
        self.size = size
        self.lock = threading.Lock()
        self.free: dict[str, list[Snapshot]] = {}

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
            return Snapshot.open(_open(directory))
        except IndexUnavailable as exc:
            _recover(directory, str(exc))
            return Snapshot.open(_open(directory))

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
        for snap in pooled:
            snap.searcher.close()


_pool = SnapshotPool()
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


def _parser() -> qparser.QueryParser:
    """Words, "phrases", (groups) and AND/OR/NOT; no field names, wildcards, ranges or boosts from users."""
    parser = _PARSERS.get("default")
    if parser is None:
        parser = qparser.MultifieldParser(["title", "tag_text", "body"], SCHEMA, group=qparser.OrGroup.factory(0.9))
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


def build_query(text: str, *, typing: bool = False, plain: bool = False) -> wq.Query:
    """The reader's words as a query; `plain` ignores quotes, brackets and operators altogether."""
    words = words_of(text)
    if not words:
        return wq.NullQuery
    try:
        parsed = _plain_query(text) if plain else _parser().parse(text)
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


_FORMATTER = highlight.HtmlFormatter(tagname="mark", between=" … ")
_HIGHLIGHTER = highlight.Highlighter(fragmenter=highlight.PinpointFragmenter(maxchars=SNIPPET_CHARS, surround=60, autotrim=True),
                                     formatter=_FORMATTER)


def _snippet(hit, stored: dict) -> Markup:
    try:
        fragment = _HIGHLIGHTER.highlight_hit(hit, "body", top=2)
    except Exception:  # a highlight is a nicety; the summary serves when it can't be built
        fragment = ""
    if fragment:
        # HtmlFormatter escapes the text around the <mark> tags; line breaks separate the article's blocks.
        return Markup(fragment.replace("\n", " · "))
    return escape(stored.get("summary") or stored.get("body", "")[:SNIPPET_CHARS])


def run_search(text: str, *, scope: str = "donor", tag: str | None = None, page: int = 1, per_page: int = 10,
               typing: bool = False, facets: bool = True, plain: bool = False) -> Found:
    with reading() as snap:
        return _run(snap, text, scope=scope, tag=tag, page=page, per_page=per_page, typing=typing, facets=facets, plain=plain)


def _run(snap: Snapshot, text: str, *, scope: str, tag: str | None, page: int, per_page: int, typing: bool, facets: bool,
         plain: bool) -> Found:
    allowed = snap.audience_docs.get(scope, snap.audience_docs["donor"])
    if tag:
        allowed = allowed & snap.tag_docs.get(tag, frozenset())
    q = build_query(text, typing=typing, plain=plain) if words_of(text) else (wq.Every() if tag else wq.NullQuery)
    if q is wq.NullQuery or not allowed:
        return Found([], 0, [])
    searcher = snap.searcher
    results = searcher.search(q, limit=page * per_page, filter=set(allowed), terms=True)
    matched = results.docs()
    total = len(matched)
    hits = []
    for hit in results[(page - 1) * per_page: page * per_page]:
        stored = hit.fields()
        hits.append(Hit(article_id=int(stored["id"]), slug=stored["slug"], title=stored["title"],
                        snippet=_snippet(hit, stored), tags=[t for t in stored.get("tags", "").split(",") if t],
                        audience=stored["audience"], score=hit.score or 0.0))
    facet_counts = []
    if facets and total:
        matched_set = matched if isinstance(matched, (set, frozenset)) else set(matched)
        base = snap.audience_docs.get(scope, snap.audience_docs["donor"])
        scoped = matched_set if tag else matched_set & base
        for name, docs in snap.tag_docs.items():
            count = len(docs.intersection(scoped))
            if count:
                facet_counts.append((name, count))
        facet_counts.sort(key=lambda item: (-item[1], item[0]))
    return Found(hits, total, facet_counts[:12])


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
