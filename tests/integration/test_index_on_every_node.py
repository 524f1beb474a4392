"""Two web nodes, one database, each with the search index on its own disk: an article edited through one
is found by search on the other within KB_INDEX_SYNC_SECONDS, by that node's index follower."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from portal import create_app
from portal.config import TestConfig
from portal.extensions import db
from portal.kb.search import storage as index
from portal.kb import services as kb
from portal.kb.models import Article
from tests.conftest import CSRFClient, login, make_user
from tests.processes import wait_until

SYNC_SECONDS = 1.0


def node(app, directory, sync_seconds: float):
    overrides = {"SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
                 "SQLALCHEMY_ENGINE_OPTIONS": app.config["SQLALCHEMY_ENGINE_OPTIONS"],
                 "KB_INDEX_DIR": str(directory), "KB_INDEX_SYNC_SECONDS": sync_seconds}
    instance = create_app(type("NodeConfig", (TestConfig,), overrides))
    instance.test_client_class = CSRFClient
    with instance.app_context():
        kb.reindex_everything()
    return instance


@pytest.fixture
def two_nodes(app, tmp_path):
    with app.app_context():
        kb.sync_directory(kb.default_content_dir(), queue_index=False)
        make_user("support", "editor@example.org", name="Eddie")
    nodes = [node(app, tmp_path / "node-a-index", 0), node(app, tmp_path / "node-b-index", SYNC_SECONDS)]
    yield nodes
    for instance in nodes:
        instance.extensions["kb_index_follower"].stop()
        with instance.app_context():
            db.session.remove()
            db.engine.dispose()


def found(client, words: str) -> bool:
    return b"Getting a receipt" in client.get("/help", query_string={"q": words}).data


def test_an_article_edited_on_one_node_is_found_on_the_other_within_the_sync_interval(two_nodes):
    node_a, node_b = two_nodes
    reader_b = node_b.test_client()
    assert not found(reader_b, "quokka")  # also starts node B's follower, as any first request does
    with node_a.app_context():
        article = db.session.scalar(select(Article).where(Article.slug == "receipts"))
        article_id, title, body = article.id, article.title, article.body_md

    editor = node_a.test_client()
    assert login(editor, "editor@example.org").status_code == 303
    response = editor.post(f"/staff/kb/articles/{article_id}/edit", data={
        "title": title, "slug": "receipts", "summary": "", "tags": "", "audience": "both", "related": "",
        "body_md": body + "\n\nReceipts for gifts made at the quokka sanctuary are sent by post.", "published": "y"})
    assert response.status_code in (302, 303), response.get_data(as_text=True)[:500]
    assert found(editor, "quokka")  # node A's own index, updated by its index job

    wait_until(lambda: found(reader_b, "quokka"), timeout=SYNC_SECONDS + 10, what="node B's index to follow the edit")


def test_the_follower_applies_each_change_once(two_nodes):
    _, node_b = two_nodes
    with node_b.app_context():
        through, _ = index.read_sync_marker()
        assert through is not None
        article = db.session.scalar(select(Article).where(Article.slug == "receipts"))
        kb.save_article(article, kb.ArticleInput(title=article.title, slug=article.slug,
                                                 body_md=article.body_md + "\n\nWombats welcome."))
        follower = node_b.extensions["kb_index_follower"]
        assert follower.follow_once() == 1
        assert follower.follow_once() == 0
        assert kb.search("wombats").total == 1
