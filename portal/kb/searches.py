"""Donors' and staff's searches: running them (falling back to the database when the index is away) and
logging them, one line per settled search-as-you-type.
"""
from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from markupsafe import escape
from sqlalchemy import func, or_, select

from portal.extensions import db
from portal.journey import services as journey
from portal.kb import content
from portal.kb.articles import scope_audiences
from portal.kb.models import Article, SearchLog
from portal.kb.search import ranking, spelling, storage
from portal.timeutil import utcnow

log = logging.getLogger(__name__)

PER_PAGE = 10
# Keystrokes of one search-as-you-type are logged as one search if they arrive within this gap.
SEARCH_SETTLE_SECONDS = 60
SESSION_TOUCHED_QUERIES = 50  # queries a session remembers as already having a touchpoint


@dataclass
class SearchPage:
    query: str
    hits: list[ranking.Hit]
    total: int
    page: int
    pages: int
    facets: list[tuple[str, int]]
    tag: str = ""
    did_you_mean: str | None = None     # offered as a link
    corrected_from: str | None = None   # the reader's query, when the results shown are for a correction
    degraded: bool = False              # the index was unavailable; results come from a simple title match

    @property
    def shown_query(self) -> str:
        return self.did_you_mean if self.corrected_from else self.query


def search(text: str | None, *, scope: str = "donor", tag: str | None = None, page: int = 1,
           per_page: int = PER_PAGE, typing: bool = False) -> SearchPage:
    """Search published articles the scope may read. Any input is accepted; nothing here raises for odd text."""
    query = ranking.normalise_query(text)
    tag = content.slugify(tag or "")[:40] or None
    page = max(1, min(int(page or 1), 1000))
    if not query and not tag:
        return SearchPage(query="", hits=[], total=0, page=1, pages=1, facets=[])
    try:
        found = ranking.run_search(query, scope=scope, tag=tag, page=page, per_page=per_page, typing=typing)
        if not found.total and ranking.has_syntax(query):
            # An unclosed quote or a stray operator shouldn't hide articles that contain the words.
            found = ranking.run_search(query, scope=scope, tag=tag, page=page, per_page=per_page, plain=True)
        did_you_mean = corrected_from = None
        if query:
            did_you_mean = spelling.correct(query)
            if did_you_mean:
                corrected = ranking.run_search(did_you_mean, scope=scope, tag=tag, page=page, per_page=per_page)
                if found.total == 0 and corrected.total:
                    found, corrected_from = corrected, query
                elif corrected.total < found.total:
                    did_you_mean = None  # a "correction" that finds less than what was typed helps nobody
    except storage.IndexUnavailable:
        return database_search(query, scope=scope, tag=tag, page=page, per_page=per_page)
    pages = max(1, math.ceil(found.total / per_page))
    return SearchPage(query=query, hits=found.hits, total=found.total, page=min(page, pages), pages=pages,
                      facets=found.facets, tag=tag or "", did_you_mean=did_you_mean, corrected_from=corrected_from)


def database_search(query: str, *, scope: str, tag: str | None, page: int, per_page: int) -> SearchPage:
    """While the index is being rebuilt: titles and tags containing every word, so help stays reachable."""
    statement = select(Article).where(Article.published.is_(True), Article.audience.in_(scope_audiences(scope)))
    for word in ranking.words_of(query)[:6]:
        pattern = f"%{word}%"
        statement = statement.where(or_(func.lower(Article.title).like(pattern), Article.tags.like(pattern)))
    if tag:
        statement = statement.where(or_(Article.tags == tag, Article.tags.like(f"{tag},%"), Article.tags.like(f"%,{tag},%"),
                                        Article.tags.like(f"%,{tag}")))
    rows = list(db.session.scalars(statement.order_by(Article.title).limit(per_page * page)))
    hits = [ranking.Hit(article_id=a.id, slug=a.slug, title=a.title, snippet=escape(a.summary), tags=a.tag_list,
                      audience=a.audience, score=0.0) for a in rows[(page - 1) * per_page:]]
    return SearchPage(query=query, hits=hits, total=len(rows), page=page, pages=page, facets=[], tag=tag or "",
                      degraded=True)


def index_readable() -> int:
    """For the readiness check: how many articles this node's search index holds (IndexUnavailable if none)."""
    return storage.check_readable()


@dataclass
class PendingSearch:
    """A search being typed or just settled, held in memory until the recorder writes it."""

    query: str
    scope: str
    donor_id: int | None
    result_count: int
    top_article_id: int | None
    searched_at: datetime
    touchpoint: bool  # False when this session already has a touchpoint for the query


class SearchRecorder:
    """Searches are written in batches, not one transaction (and one journey job) per request: a search
    request only updates an entry in this process's memory, and every few seconds the entries whose
    reader has stopped typing (settled for SEARCH_SETTLE_SECONDS) are written together, with their
    touchpoints, in one transaction. A process that dies loses at most its unsettled searches."""

    def __init__(self, app):
        self.app = app
        self.pending: dict[str, PendingSearch] = {}
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None

    def put(self, key: str, search: PendingSearch) -> None:
        with self.lock:
            self.pending[key] = search
            if not self.app.config["KB_SEARCH_FLUSH_SECONDS"]:  # tests flush when they choose
                return
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._flush_settled_forever, name="kb-search-log", daemon=True)
                self.thread.start()

    def flush(self, *, settled_before: datetime | None = None) -> int:
        """Write the entries settled before `settled_before` (all of them if None); returns how many."""
        with self.lock:
            keys = [key for key, search in self.pending.items()
                    if settled_before is None or search.searched_at <= settled_before]
            batch = [self.pending.pop(key) for key in keys]
        if batch:
            with self.app.app_context():
                write_searches(batch)
        return len(batch)

    def flush_at_exit(self) -> None:
        if not self.app.config["KB_SEARCH_FLUSH_SECONDS"]:  # tests flush when they choose
            return
        try:
            self.flush()
        except Exception:  # the database may already be gone; the searches are only statistics
            log.exception("writing the search log at exit failed")

    def discard(self) -> None:
        with self.lock:
            self.pending.clear()

    def _flush_settled_forever(self) -> None:
        while True:
            time.sleep(self.app.config["KB_SEARCH_FLUSH_SECONDS"])
            try:
                self.flush(settled_before=utcnow() - timedelta(seconds=SEARCH_SETTLE_SECONDS))
            except Exception:  # a failed write must not stop the next one; the batch is lost, not retried
                log.exception("writing the search log failed")
            with self.lock:
                if not self.pending:
                    self.thread = None
                    return


def write_searches(batch: list[PendingSearch]) -> None:
    """Write settled searches, with their touchpoints, in one transaction (commits)."""
    rows = []
    for search in batch:
        touchpoint = None
        if search.touchpoint and search.donor_id and search.scope == "donor":
            touchpoint = journey.record(search.donor_id, "kb_search", f"Searched the help centre for “{search.query}”",
                                        channel="portal", occurred_at=search.searched_at,
                                        data={"query": search.query, "results": search.result_count})
        rows.append((SearchLog(query=search.query[:200], scope=search.scope, donor_id=search.donor_id,
                               result_count=search.result_count, top_article_id=search.top_article_id,
                               searched_at=search.searched_at), touchpoint))
    db.session.flush()
    for row, touchpoint in rows:
        row.touchpoint_id = touchpoint.id if touchpoint is not None else None
    db.session.add_all(row for row, _ in rows)
    db.session.commit()


def _query_mark(text: str) -> str:
    return hashlib.blake2s(text.encode(), digest_size=4).hexdigest()


def search_recorder() -> SearchRecorder:
    return current_app.extensions["kb_search_recorder"]


def log_search(result: SearchPage, *, scope: str, donor_id: int | None, previous: dict | None) -> dict | None:
    """Log what was searched. Keystrokes of one active search collapse into one logged search, and a
    session gets at most one touchpoint per query; the search is written with the next batch.

    `previous` is what this function returned for the reader's last search (kept in their session); the
    return value is the state to keep for the next call.
    """
    text = result.query.lower()
    if not text:
        return previous
    now = utcnow()
    previous = previous or {}
    touched = list(previous.get("touched", []))  # short hashes of this session's queries with a touchpoint
    key = previous.get("key")
    fresh = now.timestamp() - float(previous.get("at", 0)) <= SEARCH_SETTLE_SECONDS
    same_search = text.startswith(previous.get("q", "\0")) or previous.get("q", "").startswith(text)
    if not (key and previous.get("scope") == scope and previous.get("donor_id") == donor_id and fresh and same_search):
        if key and previous.get("q") and _query_mark(previous["q"]) not in touched:
            touched = [*touched, _query_mark(previous["q"])][-SESSION_TOUCHED_QUERIES:]
        key = uuid.uuid4().hex
    top = result.hits[0].article_id if result.hits else None
    search_recorder().put(key, PendingSearch(text, scope, donor_id, result.total, top, now,
                                             touchpoint=_query_mark(text) not in touched))
    return {"key": key, "q": text, "at": now.timestamp(), "scope": scope, "donor_id": donor_id, "touched": touched}


def searches_with_no_results(*, days: int = 30, limit: int = 25) -> list[dict]:
    since = utcnow() - timedelta(days=days)
    rows = db.session.execute(
        select(SearchLog.query, func.count().label("times"), func.max(SearchLog.searched_at).label("last"))
        .where(SearchLog.result_count == 0, SearchLog.searched_at >= since)
        .group_by(SearchLog.query).order_by(func.count().desc(), func.max(SearchLog.searched_at).desc()).limit(limit)
    ).all()
    return [{"query": r.query, "times": r.times, "last": r.last} for r in rows]


def most_searched(*, days: int = 30, limit: int = 10) -> list[dict]:
    """What donors searched for most, with the article each search put first (None when it found nothing)."""
    since = utcnow() - timedelta(days=days)
    counted = (select(SearchLog.query, func.count().label("times"), func.max(SearchLog.top_article_id).label("top_id"))
               .where(SearchLog.scope == "donor", SearchLog.searched_at >= since)
               .group_by(SearchLog.query).order_by(func.count().desc(), SearchLog.query).limit(limit).subquery())
    rows = db.session.execute(
        select(counted.c.query, counted.c.times, Article.id, Article.title)
        .outerjoin(Article, Article.id == counted.c.top_id).order_by(counted.c.times.desc(), counted.c.query)
    ).all()
    return [{"query": r.query, "times": r.times, "article_id": r.id, "title": r.title} for r in rows]
