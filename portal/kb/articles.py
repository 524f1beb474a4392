"""Help articles: reading them by audience, writing and publishing them, the Markdown folder they sync
from, and the staff list.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from markupsafe import Markup
from sqlalchemy import func, or_, select

from portal import jobs
from portal.config import ROOT
from portal.extensions import db
from portal.kb import content
from portal.kb.models import AUDIENCES, DONOR_AUDIENCES, Article, ArticleView
from portal.timeutil import utcnow


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
    return ROOT / "kb"


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
