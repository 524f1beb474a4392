"""Knowledge-base rules: articles and their lifecycle, search with its log, views and votes, deflection,
and the public functions other domains call (suggest_for_text, suggested_articles, register_text_source).

Search itself (Whoosh) lives in search/ and suggestion ranking in suggestions.py; views call only this module.
"""
from __future__ import annotations

import fcntl
import hashlib
import logging
import math
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable, Iterable

from flask import current_app
from markupsafe import Markup, escape
from sqlalchemy import case, func, or_, select
from sqlalchemy.exc import IntegrityError

from portal import jobs
from portal.extensions import db
from portal.journey import services as journey
from portal.kb import content
from portal.kb.search import ranking, spelling, storage
from portal.kb.models import (AUDIENCES, DONOR_AUDIENCES, VIEW_SOURCES, Article, ArticleSuggestion, ArticleView,
                              ArticleVote, SearchLog)
from portal.timeutil import utcnow

log = logging.getLogger(__name__)

PER_PAGE = 10
# Keystrokes of one search-as-you-type are logged as one search if they arrive within this gap.
SEARCH_SETTLE_SECONDS = 60
SESSION_TOUCHED_QUERIES = 50  # queries a session remembers as already having a touchpoint
# "Tickets avoided": see tickets_avoided() for the full definition.
DEFLECTION_WINDOW = timedelta(hours=24)


class ArticleError(ValueError):
    def __init__(self, message: str, field_name: str | None = None):
        super().__init__(message)
        self.field_name = field_name


# ---------------------------------------------------------------- reading articles

def scope_audiences(scope: str) -> tuple[str, ...]:
    return tuple(AUDIENCES) if scope == "staff" else DONOR_AUDIENCES


def get_article(article_id: int) -> Article | None:
    return db.session.get(Article, article_id)


def published_article(slug: str, scope: str = "donor") -> Article | None:
    """A published article the reader may see: donors and the public never get staff-only ones."""
    return db.session.scalar(select(Article).where(
        Article.slug == slug, Article.published.is_(True), Article.audience.in_(scope_audiences(scope))))


def related_articles(article: Article, scope: str = "donor") -> list[Article]:
    slugs = article.related_slugs
    if not slugs:
        return []
    found = {a.slug: a for a in db.session.scalars(select(Article).where(
        Article.slug.in_(slugs), Article.published.is_(True), Article.audience.in_(scope_audiences(scope))))}
    return [found[s] for s in slugs if s in found]


def popular_articles(scope: str = "donor", limit: int = 6, days: int = 90) -> list[Article]:
    """Most read in the last `days`, then the newest: what the help page shows before anyone types."""
    since = utcnow() - timedelta(days=days)
    views = (select(ArticleView.article_id, func.count().label("n")).where(ArticleView.viewed_at >= since)
             .group_by(ArticleView.article_id).subquery())
    query = (select(Article).outerjoin(views, views.c.article_id == Article.id)
             .where(Article.published.is_(True), Article.audience.in_(scope_audiences(scope)))
             .order_by(func.coalesce(views.c.n, 0).desc(), Article.title).limit(limit))
    return list(db.session.scalars(query))


def topic_tags(scope: str = "donor", limit: int = 14) -> list[str]:
    """Article topics (first tags) for browsing, most used first."""
    counts: dict[str, int] = {}
    for tags in db.session.scalars(select(Article.tags).where(
            Article.published.is_(True), Article.audience.in_(scope_audiences(scope)))):
        first = tags.split(",")[0].strip()
        if first:
            counts[first] = counts.get(first, 0) + 1
    return [tag for tag, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0]))][:limit]


# ---------------------------------------------------------------- writing articles

@dataclass
class ArticleInput:
    title: str
    body_md: str
    slug: str = ""
    tags: str | list[str] = ""
    audience: str = "both"
    related: str | list[str] = ""
    summary: str = ""


def preview_html(body_md: str) -> Markup:
    return Markup(content.render_markdown(body_md[:100_000]))


def _apply(article: Article, values: ArticleInput) -> None:
    title = (values.title or "").strip()
    if not title:
        raise ArticleError("Give the article a title.", "title")
    if not (values.body_md or "").strip():
        raise ArticleError("Write the article's text.", "body_md")
    if values.audience not in AUDIENCES:
        raise ArticleError("Choose who the article is for.", "audience")
    slug = content.slugify(values.slug or title)
    if not slug:
        raise ArticleError("Use letters or numbers in the address.", "slug")
    with db.session.no_autoflush:
        clash = db.session.scalar(select(Article.id).where(Article.slug == slug, Article.id != (article.id or 0)))
    if clash:
        raise ArticleError("Another article already uses this address.", "slug")
    related = values.related if isinstance(values.related, list) else values.related.split(",")
    related_slugs = [s for s in (content.slugify(r) for r in related) if s and s != slug][:8]
    article.title = title[:200]
    article.slug = slug
    article.body_md = values.body_md
    article.body_html = content.render_markdown(values.body_md)
    article.tags = ",".join(content.clean_tags(values.tags))
    article.audience = values.audience
    article.related = ",".join(related_slugs)
    article.summary = (values.summary or "").strip()[:300] or content.summarise(article.body_html)


def _queue_index(article: Article) -> None:
    jobs.enqueue_after_commit("index", "portal.kb.tasks.index_article", article.id)


def save_article(article: Article | None, values: ArticleInput, *, actor=None, publish: bool | None = None) -> Article:
    """Create or edit an article; the index is updated through the index queue after the commit."""
    is_new = article is None
    if is_new:
        article = Article(origin="staff")
    _apply(article, values)
    if is_new:
        db.session.add(article)
    if publish is not None:
        _set_published(article, publish)
    article.updated_at = utcnow()
    article.updated_by_id = getattr(actor, "id", None)
    if article.origin == "file":
        # Edited in the back office: `flask kb sync` no longer overwrites it.
        article.origin = "edited"
    db.session.flush()
    _queue_index(article)
    db.session.commit()
    return article


def _set_published(article: Article, published: bool) -> None:
    if published and not article.published:
        article.published_at = utcnow()
    article.published = published


def set_published(article: Article, published: bool, *, actor=None) -> Article:
    _set_published(article, published)
    article.updated_at = utcnow()
    article.updated_by_id = getattr(actor, "id", None)
    _queue_index(article)
    db.session.commit()
    return article


@dataclass
class SyncReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0
    kept_edited: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def sync_directory(directory: Path, *, queue_index: bool = True) -> SyncReport:
    """Load kb/*.md into the database. Idempotent: unchanged files do nothing; staff edits are never overwritten.

    With queue_index=False the caller brings the index up to date itself (the CLI queues one rebuild)."""
    report = SyncReport()
    existing = {a.slug: a for a in db.session.scalars(select(Article))}
    for path in sorted(directory.glob("*.md")):
        raw = path.read_text(encoding="utf-8")
        digest = hashlib.sha256(raw.encode("utf-8")).hexdigest()
        slug = content.slugify(path.stem)
        try:
            source = content.parse_article_file(slug, raw)
        except content.ContentError as exc:
            report.errors.append(f"{path.name}: {exc}")
            continue
        article = existing.get(slug)
        if article is not None and article.origin != "file":
            report.kept_edited.append(slug)
            continue
        if article is not None and article.source_hash == digest:
            report.unchanged += 1
            continue
        is_new = article is None
        if is_new:
            article = Article(origin="file")
        _apply(article, ArticleInput(title=source.title, body_md=source.body_md, slug=slug, tags=source.tags,
                                     audience=source.audience, related=source.related, summary=source.summary))
        if is_new:
            db.session.add(article)
        _set_published(article, source.published)
        article.source_hash = digest
        article.updated_at = utcnow()
        db.session.flush()
        if queue_index:
            _queue_index(article)
        (report.created if is_new else report.updated).append(slug)
    db.session.commit()
    return report


def default_content_dir() -> Path:
    from portal.config import ROOT

    return ROOT / "kb"


def articles_due_for_index(limit: int = 1000) -> list[int]:
    """Articles changed since they were last written to the index (what the sweep re-queues)."""
    return list(db.session.scalars(select(Article.id).where(
        or_(Article.indexed_at.is_(None), Article.indexed_at < Article.updated_at)).order_by(Article.id).limit(limit)))


def reindex_everything() -> int:
    """Rebuild the index from the database (the index-queue job and `flask kb reindex` both run this)."""
    published = Article.published.is_(True)
    expected = db.session.scalar(select(func.count()).select_from(Article).where(published))
    articles = db.session.scalars(select(Article).where(published).order_by(Article.id)).yield_per(500)
    started = utcnow()
    count = storage.rebuild(articles, expected=expected)
    storage.write_sync_marker(started, [])
    db.session.execute(Article.__table__.update().where(Article.updated_at <= started).values(indexed_at=started))
    db.session.commit()
    return count


def follow_database(limit: int = 500) -> int:
    """Bring this node's index up to date with every article changed since it last looked, and return how
    many it applied. Each web node keeps its own index on its own disk: the index job updates the index
    of the node whose worker ran it, and every node follows the database itself (IndexFollower)."""
    through, applied = storage.read_sync_marker()
    if through is None:
        return 0  # no index here yet (or from before markers): the rebuild writes the first marker
    changed = db.session.execute(select(Article.id, Article.updated_at).where(Article.updated_at >= through)
                                 .order_by(Article.updated_at, Article.id).limit(limit)).all()
    fresh = [(article_id, updated_at) for article_id, updated_at in changed
             if not (updated_at == through and article_id in applied)]
    for article_id, _ in fresh:
        storage.update(db.session.get(Article, article_id))
    if fresh:
        newest = fresh[-1][1]
        storage.write_sync_marker(newest, [i for i, at in changed if at == newest])
    db.session.rollback()
    return len(fresh)


class IndexFollower:
    """A daemon thread in each web process that runs follow_database() every KB_INDEX_SYNC_SECONDS, so an
    article edited on one node is found by search on every node within that time. Processes sharing a
    disk take turns through a lock file; the others skip that round."""

    def __init__(self, app):
        self.app = app
        self.thread: threading.Thread | None = None
        self.lock = threading.Lock()
        self.stopping = threading.Event()

    def start(self) -> None:
        if not self.app.config["KB_INDEX_SYNC_SECONDS"] or self.stopping.is_set():
            return
        with self.lock:
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._loop, name="kb-index-follower", daemon=True)
                self.thread.start()

    def follow_once(self) -> int:
        with self.app.app_context():
            directory = storage.index_dir()
            if not directory.is_dir():
                return 0
            with open(directory / ".follow.lock", "a") as lock_file:
                try:
                    fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    return 0
                try:
                    return follow_database()
                finally:
                    fcntl.flock(lock_file, fcntl.LOCK_UN)
                    db.session.remove()

    def stop(self) -> None:
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(timeout=30)

    def _loop(self) -> None:
        while not self.stopping.wait(self.app.config["KB_INDEX_SYNC_SECONDS"]):
            try:
                self.follow_once()
            except Exception:  # a failed round must not stop the next one
                log.exception("following the database into the search index failed")


def index_one(article_id: int) -> None:
    article = db.session.get(Article, article_id)
    if article is None:
        storage.remove(article_id)
        return
    started = utcnow()
    storage.update(article)
    if article.updated_at <= started:
        article.indexed_at = started
    db.session.commit()


# ---------------------------------------------------------------- search

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
        return _database_search(query, scope=scope, tag=tag, page=page, per_page=per_page)
    pages = max(1, math.ceil(found.total / per_page))
    return SearchPage(query=query, hits=found.hits, total=found.total, page=min(page, pages), pages=pages,
                      facets=found.facets, tag=tag or "", did_you_mean=did_you_mean, corrected_from=corrected_from)


def _database_search(query: str, *, scope: str, tag: str | None, page: int, per_page: int) -> SearchPage:
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


# ---------------------------------------------------------------- views and votes

def record_view(article: Article, *, donor_id: int | None, source: str = "direct", seen: list[int] | None = None) -> bool:
    """Count a reading of the article once per reader session (`seen` is that session's list of article ids)."""
    if seen is not None and article.id in seen:
        return False
    source = source if source in VIEW_SOURCES else "direct"
    db.session.add(ArticleView(article_id=article.id, donor_id=donor_id, source=source))
    if donor_id:
        journey.record(donor_id, "kb_article_viewed", f"Read “{article.title}”", channel="portal",
                       data={"article_id": article.id, "slug": article.slug, "source": source})
    db.session.commit()
    return True


def voter_key(*, donor_id: int | None, session_token: str | None) -> str | None:
    if donor_id:
        return f"donor:{donor_id}"
    if session_token:
        return f"session:{session_token[:64]}"
    return None


def vote(article: Article, helpful: bool, *, voter: str, donor_id: int | None) -> bool:
    """Record a "was this helpful?" answer. One per voter and article: a second answer replaces the first.
    Returns True when this voter had not voted on the article before."""
    existing = db.session.scalar(select(ArticleVote).where(ArticleVote.article_id == article.id, ArticleVote.voter_key == voter))
    if existing is not None:
        changed = existing.helpful != helpful
        existing.helpful, existing.voted_at = helpful, utcnow()
        if changed and donor_id:
            _record_vote_touchpoint(article, helpful, donor_id)
        db.session.commit()
        return False
    db.session.add(ArticleVote(article_id=article.id, voter_key=voter, donor_id=donor_id, helpful=helpful))
    if donor_id:
        _record_vote_touchpoint(article, helpful, donor_id)
    try:
        db.session.commit()
    except IntegrityError:  # the same voter answered twice at once: the first answer stands
        db.session.rollback()
        return False
    return True


def _record_vote_touchpoint(article: Article, helpful: bool, donor_id: int) -> None:
    journey.record(donor_id, "kb_helpful_vote", f"Found “{article.title}” {'helpful' if helpful else 'not helpful'}",
                   channel="portal", data={"article_id": article.id, "helpful": helpful})


def current_vote(article: Article, voter: str | None) -> bool | None:
    if not voter:
        return None
    return db.session.scalar(select(ArticleVote.helpful).where(ArticleVote.article_id == article.id, ArticleVote.voter_key == voter))


@dataclass
class ArticleStats:
    views: int = 0
    views_30d: int = 0
    helpful: int = 0
    not_helpful: int = 0
    top_result_searches: int = 0

    @property
    def helpful_percent(self) -> int | None:
        total = self.helpful + self.not_helpful
        return round(100 * self.helpful / total) if total else None


def article_stats(article_ids: Iterable[int] | None = None) -> dict[int, ArticleStats]:
    """Views, votes and searches it answered first, per article, in three grouped queries."""
    since = utcnow() - timedelta(days=30)
    stats: dict[int, ArticleStats] = {}
    view_query = select(ArticleView.article_id, func.count(),
                        func.sum(case((ArticleView.viewed_at >= since, 1), else_=0))).group_by(ArticleView.article_id)
    vote_query = select(ArticleVote.article_id, func.sum(case((ArticleVote.helpful.is_(True), 1), else_=0)),
                        func.sum(case((ArticleVote.helpful.is_(False), 1), else_=0))).group_by(ArticleVote.article_id)
    search_query = (select(SearchLog.top_article_id, func.count()).where(SearchLog.top_article_id.is_not(None))
                    .group_by(SearchLog.top_article_id))
    if article_ids is not None:
        ids = list(article_ids)
        view_query = view_query.where(ArticleView.article_id.in_(ids))
        vote_query = vote_query.where(ArticleVote.article_id.in_(ids))
        search_query = search_query.where(SearchLog.top_article_id.in_(ids))
    for article_id, total, recent in db.session.execute(view_query):
        stats.setdefault(article_id, ArticleStats()).views = int(total or 0)
        stats[article_id].views_30d = int(recent or 0)
    for article_id, yes, no in db.session.execute(vote_query):
        stats.setdefault(article_id, ArticleStats()).helpful = int(yes or 0)
        stats[article_id].not_helpful = int(no or 0)
    for article_id, total in db.session.execute(search_query):
        stats.setdefault(article_id, ArticleStats()).top_result_searches = int(total or 0)
    return stats


def recent_views(article_id: int, limit: int = 20) -> list[ArticleView]:
    return list(db.session.scalars(select(ArticleView).where(ArticleView.article_id == article_id)
                                   .order_by(ArticleView.viewed_at.desc(), ArticleView.id.desc()).limit(limit)))


@dataclass
class ArticleFilter:
    q: str = ""
    status: str = ""     # published | draft
    audience: str = ""


def list_articles(filters: ArticleFilter) -> list[Article]:
    query = select(Article)
    text = filters.q.strip().lower()[:100]
    if text:
        pattern = f"%{text}%"
        query = query.where(or_(func.lower(Article.title).like(pattern), Article.tags.like(pattern), Article.slug.like(pattern)))
    if filters.status == "published":
        query = query.where(Article.published.is_(True))
    elif filters.status == "draft":
        query = query.where(Article.published.is_(False))
    if filters.audience in AUDIENCES:
        query = query.where(Article.audience == filters.audience)
    return list(db.session.scalars(query.order_by(Article.title)))


# ---------------------------------------------------------------- deflection ("tickets avoided")

@dataclass
class DeflectionFigures:
    deflections: int      # donors who opened an article suggested beside the ticket form (counted per 24 h episode)
    avoided: int          # ... and then opened no ticket within 24 hours
    pending: int          # episodes whose 24 hours have not passed yet (not counted either way)


def tickets_avoided(*, since: datetime, until: datetime | None = None) -> DeflectionFigures:
    """Tickets avoided, defined as follows.

    A *deflection* starts when a signed-in donor opens an article that the ticket form suggested while they
    typed a subject (a view with source "ticket_form"). Further such openings by the same donor within 24
    hours belong to the same deflection. The deflection counts as a *ticket avoided* when that donor opens
    no support ticket (a `ticket_opened` touchpoint) in the 24 hours after it started. Deflections that
    started less than 24 hours ago are reported as pending.
    """
    from portal.journey.models import Touchpoint

    until = until or utcnow()
    views = db.session.execute(
        select(ArticleView.donor_id, ArticleView.viewed_at).where(
            ArticleView.source == "ticket_form", ArticleView.donor_id.is_not(None),
            ArticleView.viewed_at >= since, ArticleView.viewed_at < until)
        .order_by(ArticleView.donor_id, ArticleView.viewed_at)).all()
    episodes: list[tuple[int, datetime]] = []
    for donor_id, viewed_at in views:
        if episodes and episodes[-1][0] == donor_id and viewed_at < episodes[-1][1] + DEFLECTION_WINDOW:
            continue
        episodes.append((donor_id, viewed_at))
    if not episodes:
        return DeflectionFigures(0, 0, 0)
    donor_ids = sorted({donor for donor, _ in episodes})
    tickets: dict[int, list[datetime]] = {}
    for start in range(0, len(donor_ids), 500):
        for donor_id, occurred_at in db.session.execute(select(Touchpoint.donor_id, Touchpoint.occurred_at).where(
                Touchpoint.kind == "ticket_opened", Touchpoint.donor_id.in_(donor_ids[start:start + 500]),
                Touchpoint.occurred_at >= since)):
            tickets.setdefault(donor_id, []).append(occurred_at)
    now = utcnow()
    avoided = pending = 0
    for donor_id, started in episodes:
        ends = started + DEFLECTION_WINDOW
        if any(started <= at <= ends for at in tickets.get(donor_id, ())):
            continue
        if ends > now:
            pending += 1
        else:
            avoided += 1
    return DeflectionFigures(deflections=len(episodes) - pending, avoided=avoided, pending=pending)


# ---------------------------------------------------------------- suggestions: the public surface

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


def suggest_for_text(text: str, audience: str = "donor", limit: int = 3) -> list[ranking.Hit]:
    """Articles that may answer a piece of free text, such as a ticket subject being typed."""
    query = ranking.normalise_query(text)
    if len(ranking.words_of(query)) == 0:
        return []
    scope = "staff" if audience == "staff" else "donor"
    try:
        found = ranking.run_search(query, scope=scope, per_page=limit, typing=True, facets=False)
        if not found.total:
            corrected = spelling.correct(query)
            if corrected:
                found = ranking.run_search(corrected, scope=scope, per_page=limit, facets=False)
    except storage.IndexUnavailable:
        return _database_search(query, scope=scope, tag=None, page=1, per_page=limit).hits[:limit]
    return found.hits[:limit]


def suggestions_for(donor_id: int, limit: int = 5) -> list[ArticleSuggestion]:
    return list(db.session.scalars(
        select(ArticleSuggestion).join(Article, Article.id == ArticleSuggestion.article_id)
        .where(ArticleSuggestion.donor_id == donor_id, Article.published.is_(True), Article.audience.in_(DONOR_AUDIENCES))
        .order_by(ArticleSuggestion.rank).limit(limit)))


def suggested_articles(donor_id: int, limit: int = 3) -> list[dict]:
    """A donor's suggestions as plain values, for email templates: title, url, reason, summary.

    Falls back to getting-started articles when nothing has been computed yet (e.g. in a welcome email).
    """
    from flask import current_app

    base = current_app.config.get("BASE_URL", "").rstrip("/")
    rows = suggestions_for(donor_id, limit)
    items = [(s.article, s.reason) for s in rows]
    if not items:
        starters = db.session.scalars(select(Article).where(
            Article.published.is_(True), Article.audience.in_(DONOR_AUDIENCES),
            or_(Article.tags == "getting-started", Article.tags.like("getting-started,%"))).order_by(Article.id).limit(limit))
        items = [(a, "A good place to start") for a in starters]
    return [{"title": a.title, "url": f"{base}/help/{a.slug}", "reason": reason, "summary": a.summary} for a, reason in items]


def articles_read_by(donor_id: int, limit: int = 8) -> list[dict]:
    """The donor's most recent reading, one line per article, with how they got there."""
    last = (select(ArticleView.article_id, func.max(ArticleView.viewed_at).label("last"), func.count().label("times"))
            .where(ArticleView.donor_id == donor_id).group_by(ArticleView.article_id).subquery())
    rows = db.session.execute(select(Article, last.c.last, last.c.times).join(last, last.c.article_id == Article.id)
                              .order_by(last.c.last.desc()).limit(limit)).all()
    sources = dict(db.session.execute(
        select(ArticleView.article_id, ArticleView.source).where(ArticleView.donor_id == donor_id)
        .order_by(ArticleView.viewed_at)).all())
    return [{"article": article, "last": at, "times": times, "source": VIEW_SOURCES.get(sources.get(article.id), "")}
            for article, at, times in rows]


def request_suggestions(donor_id: int) -> None:
    """Recompute one donor's suggestions on the queue after the current transaction commits."""
    jobs.enqueue_after_commit("default", "portal.kb.tasks.compute_suggestions", donor_id)
