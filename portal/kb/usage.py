"""How articles are used: views, helpful votes, and the figures staff see per article."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Iterable

from sqlalchemy import case, func, select
from sqlalchemy.exc import IntegrityError

from portal.extensions import db
from portal.journey import services as journey
from portal.kb.models import VIEW_SOURCES, Article, ArticleView, ArticleVote, SearchLog
from portal.timeutil import utcnow


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
