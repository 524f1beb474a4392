"""Knowledge-base jobs. Index writes run only on the `index` queue, so the index has a single writer."""
from __future__ import annotations

import logging

from sqlalchemy import event
from sqlalchemy.orm import Session

from portal import jobs
from portal.journey.models import Touchpoint
from portal.kb import services, suggestions

log = logging.getLogger(__name__)


@jobs.job
def index_article(article_id: int) -> None:
    """Bring one article's index entry in line with the database (add, replace or remove). Idempotent."""
    services.index_one(article_id)


@jobs.job
def rebuild_index() -> int:
    return services.reindex_everything()


@jobs.job
def compute_suggestions(donor_id: int) -> int:
    return len(suggestions.recompute_donor(donor_id))


@jobs.job
def compute_all_suggestions() -> dict:
    return suggestions.recompute_all(progress=lambda done, total: jobs.report_progress(done, total, "Suggesting articles"))


def sweep_index() -> int:
    due = services.articles_due_for_index()
    for article_id in due:
        jobs.enqueue_now("index", index_article, article_id)
    return len(due)


def sweep_suggestions() -> int:
    due = suggestions.donors_due()
    for donor_id in due:
        jobs.enqueue_now("default", compute_suggestions, donor_id)
    return len(due)


@event.listens_for(Session, "after_flush")
def _queue_suggestions_for_new_touchpoints(session: Session, flush_context) -> None:
    """A relevant touchpoint queues its donor's suggestions, once per donor per transaction, after commit."""
    queued: set = session.info.setdefault("kb_suggestions_queued", set())
    for obj in session.new:
        if isinstance(obj, Touchpoint) and obj.kind in suggestions.RELEVANT_KINDS and obj.donor_id and obj.donor_id not in queued:
            queued.add(obj.donor_id)
            session.info.setdefault("pending_jobs", []).append(jobs.PendingJob("default", compute_suggestions, (obj.donor_id,), {}))


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _forget_queued(session: Session) -> None:
    session.info.pop("kb_suggestions_queued", None)
