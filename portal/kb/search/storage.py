"""The index on disk: opening, writing, rebuilding, and the pool of searchers each process reuses.

One writer: every change reaches the index through jobs on the `index` queue (see kb/tasks.py); web
processes only read. Open searchers are pooled per process and reused until a writer commits a new
generation, together with the per-audience and per-tag document sets (as bitsets) that filters, totals
and tag facets need, and each term's scored postings, read once per generation.
A missing or unreadable index is rebuilt from the database, never a 500.
"""
from __future__ import annotations

import atexit
import json
import logging
import os
import shutil
import threading
import time
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Iterable

import numpy as np
from flask import current_app
from whoosh import writing
from whoosh.fields import Schema
from whoosh.filedb.filestore import FileStorage

from portal import jobs
from portal.kb.search.analysis import SCHEMA, document_for

log = logging.getLogger(__name__)

# A full rebuild of at least this many articles is shared between processes.
PARALLEL_FROM = 2000
PARALLEL_BATCH = 100  # articles handed to a process at a time
# A rebuilding process keeps its postings in a pool until the segment is written; once Whoosh's estimate of the
# pool passes this many MB it spills sorted runs to disk (pickled) and merges them back at the end, which at
# 128 MB cost a fifth of a 20,000-article rebuild. Each of two processes then holds about 5.5M postings, estimated
# at 950 MB and taking about 1.5 GB of memory: this leaves room to grow before spilling, for at most about
# 2.3 GB per process (up to four processes). Beyond it the pool spills as before.
REBUILD_POOL_MB = 1536


AUDIENCES_FOR_SCOPE = {"donor": ("donor", "both"), "staff": ("donor", "staff", "both")}


class IndexUnavailable(RuntimeError):
    """The index could not be opened; a rebuild has been asked for."""


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


class TermScoreCache:
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
    term_cache: TermScoreCache | None = None

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
        self.term_caches: dict[str, TermScoreCache] = {}

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
                cache = self.term_caches[key] = TermScoreCache(snap.generation)
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
    with _rebuild_lock:
        last = _rebuild_requested_at.get(str(directory), 0.0)
        if time.monotonic() - last < 30:
            raise IndexUnavailable(why)
        _rebuild_requested_at[str(directory)] = time.monotonic()
    log.warning("KB index at %s is missing or damaged (%s): rebuilding it from the database", directory, why)
    job_id = jobs.enqueue_now("index", "portal.kb.tasks.rebuild_index")
    if current_app.config["JOBS_MODE"] == "thread":
        _wait_for(job_id, seconds=20)
    _open(directory)  # still unreadable: IndexUnavailable, and the caller serves the fallback
    with _rebuild_lock:
        _rebuild_requested_at.pop(str(directory), None)


def _wait_for(job_id: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if jobs.job_progress(job_id)["status"] in ("finished", "failed"):
            return
        time.sleep(0.05)


def close_snapshots() -> None:
    _pool.close_all()


def indexed_count() -> int:
    with reading() as snap:
        return snap.searcher.doc_count()
