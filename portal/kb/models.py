"""Help-centre articles and what donors do with them: views, votes, searches and suggestions."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.timeutil import utcnow

AUDIENCES = {"donor": "Donors", "staff": "Staff only", "both": "Donors and staff"}
# Who may read what: donors and the public never see staff-only articles.
DONOR_AUDIENCES = ("donor", "both")
VIEW_SOURCES = {"direct": "Opened directly", "search": "From a search", "suggestion": "Suggested to them",
                "ticket_form": "Suggested while writing to us", "related": "From a related article"}


class Article(db.Model):
    __tablename__ = "kb_articles"
    __table_args__ = (Index("ix_kb_articles_published_audience", "published", "audience"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(120), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(String(300), default="")
    body_md: Mapped[str] = mapped_column(Text, default="")
    # Rendered from body_md on every save and sanitised; pages show this, never raw Markdown output.
    body_html: Mapped[str] = mapped_column(Text, default="")
    # Lower-case, comma-separated; the first tag is the article's topic (suggestion rules look for it).
    tags: Mapped[str] = mapped_column(String(400), default="")
    audience: Mapped[str] = mapped_column(String(10), default="both")
    related: Mapped[str] = mapped_column(String(600), default="")  # comma-separated slugs
    published: Mapped[bool] = mapped_column(default=False)
    published_at: Mapped[datetime | None]
    # "file" articles come from kb/ and are refreshed by `flask kb sync` until staff edit them.
    origin: Mapped[str] = mapped_column(String(10), default="staff")
    source_hash: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # The index is up to date with this row when indexed_at >= updated_at; the sweep re-queues the rest.
    indexed_at: Mapped[datetime | None]

    updated_by = relationship("User")

    @property
    def tag_list(self) -> list[str]:
        return [tag for tag in (t.strip() for t in self.tags.split(",")) if tag]

    @property
    def related_slugs(self) -> list[str]:
        return [slug for slug in (s.strip() for s in self.related.split(",")) if slug]

    @property
    def for_donors(self) -> bool:
        return self.audience in DONOR_AUDIENCES


class ArticleView(db.Model):
    __tablename__ = "kb_article_views"
    __table_args__ = (
        Index("ix_kb_article_views_article_time", "article_id", "viewed_at"),
        Index("ix_kb_article_views_donor_time", "donor_id", "viewed_at"),
        Index("ix_kb_article_views_source_time", "source", "viewed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("kb_articles.id", ondelete="CASCADE"))
    donor_id: Mapped[int | None] = mapped_column(ForeignKey("donors.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(20), default="direct")
    viewed_at: Mapped[datetime] = mapped_column(default=utcnow)


class ArticleVote(db.Model):
    """One "was this helpful?" answer per voter and article: a donor, or an anonymous browser session."""

    __tablename__ = "kb_article_votes"
    __table_args__ = (UniqueConstraint("article_id", "voter_key", name="uq_kb_article_votes_article_voter"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("kb_articles.id", ondelete="CASCADE"), index=True)
    voter_key: Mapped[str] = mapped_column(String(80))
    donor_id: Mapped[int | None] = mapped_column(ForeignKey("donors.id", ondelete="CASCADE"))
    helpful: Mapped[bool]
    voted_at: Mapped[datetime] = mapped_column(default=utcnow)


class SearchLog(db.Model):
    """A search as the reader settled on it: the keystrokes of one search-as-you-type collapse into one row."""

    __tablename__ = "kb_searches"
    __table_args__ = (
        Index("ix_kb_searches_results_time", "result_count", "searched_at"),
        Index("ix_kb_searches_donor_time", "donor_id", "searched_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    query: Mapped[str] = mapped_column(String(200))
    scope: Mapped[str] = mapped_column(String(10), default="donor")  # donor | staff
    result_count: Mapped[int] = mapped_column(default=0)
    top_article_id: Mapped[int | None] = mapped_column(ForeignKey("kb_articles.id", ondelete="SET NULL"))
    donor_id: Mapped[int | None] = mapped_column(ForeignKey("donors.id", ondelete="CASCADE"))
    touchpoint_id: Mapped[int | None] = mapped_column(ForeignKey("touchpoints.id", ondelete="SET NULL"))
    searched_at: Mapped[datetime] = mapped_column(default=utcnow)


class ArticleSuggestion(db.Model):
    __tablename__ = "kb_suggestions"
    __table_args__ = (UniqueConstraint("donor_id", "article_id", name="uq_kb_suggestions_donor_article"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    donor_id: Mapped[int] = mapped_column(ForeignKey("donors.id", ondelete="CASCADE"), index=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("kb_articles.id", ondelete="CASCADE"), index=True)
    rank: Mapped[int] = mapped_column(default=1)
    score: Mapped[float] = mapped_column(default=0.0)
    reason: Mapped[str] = mapped_column(String(200), default="")
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)

    article = relationship(Article, lazy="joined")


class SuggestionState(db.Model):
    """When a donor's suggestions were last computed, and up to which touchpoint: the sweep's memory."""

    __tablename__ = "kb_suggestion_state"

    donor_id: Mapped[int] = mapped_column(ForeignKey("donors.id", ondelete="CASCADE"), primary_key=True)
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)
    through_touchpoint_id: Mapped[int] = mapped_column(default=0, index=True)
