"""Keeping the search index in step with the articles: what is due, the full rebuild, and the follower
that applies the database's changes in each web process.
"""
from __future__ import annotations

import fcntl
import logging
import threading

from sqlalchemy import func, or_, select

from portal.extensions import db
from portal.kb.models import Article
from portal.kb.search import storage
from portal.timeutil import utcnow

log = logging.getLogger(__name__)


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
