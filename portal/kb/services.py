"""Knowledge-base rules, as the views and other domains call them: articles and their lifecycle, search with
its log, views and votes, deflection, and the public functions other domains call (suggest_for_text,
suggested_articles, register_text_source).

The work lives by concept in articles.py, indexing.py (keeping the index in step), searches.py, usage.py
(views and votes), deflection.py and text_sources.py; search itself (Whoosh) lives in search/ and
suggestion ranking in suggestions.py. What the suggestions offer other domains is here.
"""
from __future__ import annotations

from flask import current_app
from sqlalchemy import func, or_, select

from portal import jobs
from portal.extensions import db
from portal.kb.articles import (ArticleError, ArticleFilter, ArticleInput, SyncReport, default_content_dir, get_article,
                                list_articles, popular_articles, preview_html, published_article, related_articles,
                                save_article, scope_audiences, set_published, sync_directory, topic_tags)
from portal.kb.deflection import DEFLECTION_WINDOW, DeflectionFigures, tickets_avoided
from portal.kb.indexing import IndexFollower, articles_due_for_index, follow_database, index_one, reindex_everything
from portal.kb.models import DONOR_AUDIENCES, VIEW_SOURCES, Article, ArticleSuggestion, ArticleView
from portal.kb.search import ranking, spelling, storage
from portal.kb.searches import (PER_PAGE, SEARCH_SETTLE_SECONDS, SESSION_TOUCHED_QUERIES, PendingSearch, SearchPage,
                                SearchRecorder, database_search, index_readable, log_search, most_searched, search,
                                search_recorder, searches_with_no_results, write_searches)
from portal.kb.text_sources import register_text_source, text_sources
from portal.kb.usage import ArticleStats, article_stats, current_vote, recent_views, record_view, vote, voter_key

__all__ = [
    "ArticleError", "ArticleFilter", "ArticleInput", "SyncReport", "default_content_dir", "get_article",
    "list_articles", "popular_articles", "preview_html", "published_article", "related_articles", "save_article",
    "scope_audiences", "set_published", "sync_directory", "topic_tags",
    "DEFLECTION_WINDOW", "DeflectionFigures", "tickets_avoided",
    "IndexFollower", "articles_due_for_index", "follow_database", "index_one", "reindex_everything",
    "PER_PAGE", "SEARCH_SETTLE_SECONDS", "SESSION_TOUCHED_QUERIES", "PendingSearch", "SearchPage", "SearchRecorder",
    "database_search", "index_readable", "log_search", "most_searched", "search", "search_recorder",
    "searches_with_no_results", "write_searches",
    "register_text_source", "text_sources",
    "ArticleStats", "article_stats", "current_vote", "recent_views", "record_view", "vote", "voter_key",
    "suggest_for_text", "suggestions_for", "suggested_articles", "articles_read_by", "request_suggestions",
]


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
        return database_search(query, scope=scope, tag=None, page=1, per_page=limit).hits[:limit]
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
