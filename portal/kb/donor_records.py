"""The knowledge base's part in merging, erasing and exporting a donor (see portal.record_keepers)."""
from __future__ import annotations

from sqlalchemy import delete, select, update

from portal import record_keepers as records
from portal.extensions import db
from portal.kb.models import ArticleSuggestion, ArticleView, ArticleVote, SearchLog, SuggestionState


def move(from_id: int, to_id: int) -> None:
    """Reading history moves; the merged-away donor's suggestions go, and the survivor's are worked out
    again from the combined history on the next pass."""
    records.reassign(ArticleView, from_id, to_id)
    records.reassign(ArticleVote, from_id, to_id)
    records.reassign(SearchLog, from_id, to_id)
    db.session.execute(delete(ArticleSuggestion).where(ArticleSuggestion.donor_id == from_id))
    db.session.execute(delete(SuggestionState).where(SuggestionState.donor_id.in_([from_id, to_id])))


def erase(donor_id: int) -> None:
    db.session.execute(update(SearchLog).where(SearchLog.donor_id == donor_id).values(query="(erased)"))


def export(donor_id: int) -> dict[str, list[dict]]:
    searches = db.session.scalars(select(SearchLog).where(SearchLog.donor_id == donor_id).order_by(SearchLog.searched_at))
    suggested = db.session.scalars(select(ArticleSuggestion).where(ArticleSuggestion.donor_id == donor_id).order_by(ArticleSuggestion.rank))
    return {
        "help_searches": records.rows(searches, ("searched_at", "query", "result_count")),
        "suggestions": records.rows(suggested, ("computed_at", "reason"), article=lambda s: s.article.title),
    }


def register() -> None:
    records.register("kb", move=move, erase=erase, export=export)
