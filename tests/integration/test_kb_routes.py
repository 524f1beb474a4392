"""Every help-centre route through the test client, with bad input."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.extensions import db, limiter
from portal.kb import services
from portal.kb.models import Article, ArticleView, ArticleVote, SearchLog
from portal.timeutil import utcnow
from tests.conftest import login, make_donor, make_user


@pytest.fixture
def shipped(app):
    with app.app_context():
        services.sync_directory(services.default_content_dir(), queue_index=False)
        services.reindex_everything()
        return {a.slug: a.id for a in db.session.scalars(select(Article))}


@pytest.fixture
def donor_client(app, shipped):
    with app.app_context():
        donor = make_donor(email="amy@example.org", first_name="Amy")
        make_user("donor", "amy@example.org", donor_id=donor.id)
        donor_id = donor.id
    client = app.test_client()
    assert login(client, "amy@example.org").status_code == 303
    client.donor_id = donor_id
    return client


HX = {"HX-Request": "true"}


def test_public_help_search_and_htmx_fragment(client, shipped):
    page = client.get("/help")
    assert page.status_code == 200 and b"How can we help?" in page.data and b"Popular articles" in page.data
    full = client.get("/help?q=renewing")
    assert full.status_code == 200 and b"How sponsorship renewal works" in full.data and b"<html" in full.data
    fragment = client.get("/help?q=renewing", headers=HX)
    assert b"How sponsorship renewal works" in fragment.data and b"<html" not in fragment.data
    assert "HX-Request" in fragment.headers.get("Vary", "")
    typo = client.get("/help?q=recept")
    assert b"Showing results for" in typo.data and b"Getting a receipt for your gift" in typo.data


@pytest.mark.parametrize("query", ["", " ", "*", '"', "((", "AND", "title:x", "<script>alert(1)</script>", "x" * 20000,
                                   "%00", "\x00", "💙", "NOT NOT NOT", "[a TO z]"])
def test_bad_queries_never_error(client, shipped, query):
    for url in ("/help", "/help"):
        response = client.get(url, query_string={"q": query, "page": "abc", "tag": "<b>"})
        assert response.status_code == 200
        assert b"<script>alert(1)</script>" not in response.data


def test_paging_and_tag_filter(client, shipped):
    response = client.get("/help?q=gift&page=2")
    assert response.status_code == 200 and b"Page 2 of" in response.data
    tagged = client.get("/help?q=gift&tag=receipts")
    assert b"tagged" in tagged.data and b"Getting a receipt" in tagged.data


def test_staff_only_article_is_404_for_public_and_donors(client, donor_client, shipped):
    assert client.get("/help/staff-handling-refund-requests").status_code == 404
    assert donor_client.get("/me/help/staff-handling-refund-requests").status_code == 404
    assert b"Staff guide" not in client.get("/help?q=staff+guide+refund").data
    assert b"Staff guide" not in donor_client.get("/me/help?q=staff+guide+refund").data
    assert client.get("/help/no-such-article").status_code == 404


def test_article_page_counts_a_view_once_per_session(app, client, shipped):
    for _ in range(3):
        response = client.get("/help/receipts?via=search")
        assert response.status_code == 200 and b"Was this helpful?" in response.data
    with app.app_context():
        views = list(db.session.scalars(select(ArticleView)))
        assert [(v.article_id, v.source, v.donor_id) for v in views] == [(shipped["receipts"], "search", None)]


def test_anonymous_vote_counted_once_per_session(app, client, shipped):
    client.get("/help/receipts")
    first = client.post("/help/receipts/vote", data={"helpful": "yes"}, headers=HX)
    assert first.status_code == 200 and b"Thank you for your feedback" in first.data
    again = client.post("/help/receipts/vote", data={"helpful": "no"})
    assert again.status_code == 303
    with app.app_context():
        votes = list(db.session.scalars(select(ArticleVote)))
        assert len(votes) == 1 and votes[0].helpful is False


def test_vote_bad_input(app, client, shipped):
    assert client.post("/help/receipts/vote", data={"helpful": "maybe"}).status_code == 400
    assert client.post("/help/receipts/vote", data={"helpful": "yes"}, csrf=False).status_code == 400
    assert client.post("/help/staff-handling-refund-requests/vote", data={"helpful": "yes"}).status_code == 404
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ArticleVote)) == 0


@pytest.fixture
def limited_app(app):
    """The session app with the production vote limit and fresh counters."""
    test_limit = app.config["KB_VOTE_RATE_LIMIT"]
    app.config["KB_VOTE_RATE_LIMIT"] = "10 per minute"
    limiter.reset()
    try:
        yield app
    finally:
        app.config["KB_VOTE_RATE_LIMIT"] = test_limit
        limiter.reset()


def test_votes_without_a_session_are_rate_limited_and_counted_once_each(limited_app, shipped):
    statuses = []
    for _ in range(12):
        fresh = limited_app.test_client()  # no cookie kept between attempts: a new session every time
        statuses.append(fresh.post("/help/receipts/vote", data={"helpful": "yes"}).status_code)
    assert statuses[:10] == [303] * 10, statuses
    assert statuses[10:] == [429, 429]
    with limited_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ArticleVote)) == 10
        assert len(set(db.session.scalars(select(ArticleVote.voter_key)))) == 10


def test_donor_help_page_search_logs_touchpoint_and_suggestions(app, donor_client, shipped):
    page = donor_client.get("/me/help")
    assert page.status_code == 200 and b"Ask us" in page.data
    donor_client.get("/me/help?q=rec", headers=HX)
    donor_client.get("/me/help?q=receipt", headers=HX)
    with app.app_context():
        services.search_recorder().flush()
        logged = list(db.session.scalars(select(SearchLog)))
        assert [(s.query, s.donor_id) for s in logged] == [("receipt", donor_client.donor_id)]
    article = donor_client.get("/me/help/receipts?via=suggestion")
    assert article.status_code == 200 and b"Getting a receipt" in article.data
    vote = donor_client.post("/help/receipts/vote", data={"helpful": "yes"}, headers=HX)
    assert vote.status_code == 200
    with app.app_context():
        assert db.session.scalar(select(ArticleVote.voter_key)) == f"donor:{donor_client.donor_id}"


def test_me_help_requires_a_donor(client, staff_client, shipped):
    assert client.get("/me/help").status_code == 302
    assert client.get("/me/help/suggest?subject=card").status_code == 302
    assert staff_client("support").get("/me/help").status_code == 403


def test_deflection_endpoint(app, donor_client, shipped):
    fragment = donor_client.get("/me/help/suggest?subject=my+card+expired",
                                headers={**HX, "HX-Current-URL": "http://localhost/me/support/new"})
    assert fragment.status_code == 200 and b"<html" not in fragment.data
    assert b"How to update your card details" in fragment.data
    assert b"via=ticket_form" in fragment.data and b"next=/me/support/new" in fragment.data
    foreign = donor_client.get("/me/help/suggest?subject=card", headers={**HX, "HX-Current-URL": "http://evil.example/x"})
    assert b"next=" not in foreign.data
    empty = donor_client.get("/me/help/suggest?subject=", headers=HX)
    assert empty.status_code == 200 and b"<li>" not in empty.data
    huge = donor_client.get("/me/help/suggest", query_string={"subject": "card " * 5000}, headers=HX)
    assert huge.status_code == 200
    page = donor_client.get("/me/help/suggest?subject=receipt")  # without JavaScript: the whole page
    assert b"<html" in page.data and b"Getting a receipt" in page.data
    opened = donor_client.get("/me/help/update-card-details?via=ticket_form&next=/me/support/new")
    assert b"Back to your message" in opened.data
    with app.app_context():
        assert db.session.scalar(select(ArticleView.source)) == "ticket_form"


def test_staff_pages(app, staff_client, shipped):
    support = staff_client("support")
    index = support.get("/staff/kb/")
    assert index.status_code == 200 and b"Searches that found nothing" in index.data and b"Tickets avoided" in index.data
    assert b"No donor has searched the help centre in the last 30 days" in index.data
    with app.app_context():
        services.log_search(services.search("receipt"), scope="donor", donor_id=None, previous=None)
        services.search_recorder().flush()
    most = support.get("/staff/kb/").get_data(as_text=True)
    assert re.search(r'id="most-searched-table".*<td>receipt</td><td class="num">1</td>\s*<td><a href="/staff/kb/articles/\d+">Getting a receipt for your gift</a>',
                     most, re.DOTALL)
    assert b"Getting a receipt" in support.get("/staff/kb/?q=receipt", headers=HX).data
    assert support.get("/staff/kb/?status=nonsense&audience=x").status_code == 200
    search = support.get("/staff/kb/search?q=refund+requests")
    assert b"Staff guide: handling refund requests" in search.data and b"Staff only" in search.data
    show = support.get(f"/staff/kb/articles/{shipped['receipts']}")
    assert show.status_code == 200 and b"How it performs" in show.data
    assert support.get("/staff/kb/articles/999999").status_code == 404
    assert support.get("/staff/kb/articles/999999/edit").status_code == 404


def test_staff_create_edit_preview_publish(app, staff_client, shipped):
    support = staff_client("support")
    assert support.get("/staff/kb/new").status_code == 200
    preview = support.post("/staff/kb/preview", data={"body_md": "## Hi\n\n<script>alert(1)</script>**bold**"}, headers=HX)
    assert preview.status_code == 200 and b"<strong>bold</strong>" in preview.data and b"<script>" not in preview.data
    assert support.post("/staff/kb/preview", data={"body_md": "x"}, csrf=False).status_code == 400
    bad = support.post("/staff/kb/new", data={"title": "", "body_md": "", "audience": "both", "slug": "Bad Slug!"})
    assert bad.status_code == 400 and b"Give the article a title." in bad.data and b"Use lower-case letters" in bad.data
    clash = support.post("/staff/kb/new", data={"title": "Receipts again", "body_md": "x", "audience": "both", "slug": "receipts"})
    assert clash.status_code == 400 and b"Another article already uses this address." in clash.data
    created = support.post("/staff/kb/new", data={"title": "Harbour lighthouse tours", "audience": "donor", "tags": "events",
                                                  "body_md": "Book a lighthouse tour. <script>alert(1)</script>", "published": "y"})
    assert created.status_code == 303
    with app.app_context():
        article = db.session.scalar(select(Article).where(Article.slug == "harbour-lighthouse-tours"))
        assert article.published and "<script" not in article.body_html
        article_id = article.id
    assert b">Harbour lighthouse tours</a>" in support.get("/help?q=lighthouse").data
    assert support.post(f"/staff/kb/articles/{article_id}/unpublish").status_code == 303
    assert b">Harbour lighthouse tours</a>" not in support.get("/help?q=lighthouse").data
    assert support.get("/help/harbour-lighthouse-tours").status_code == 404
    assert support.post(f"/staff/kb/articles/{article_id}/publish").status_code == 303
    assert support.post(f"/staff/kb/articles/{article_id}/delete").status_code == 404
    assert support.post(f"/staff/kb/articles/{article_id}/publish", csrf=False).status_code == 400
    edit = support.post(f"/staff/kb/articles/{article_id}/edit", data={"title": "Harbour beacon tours", "audience": "donor",
                                                                       "body_md": "Beacon tours.", "slug": "harbour-lighthouse-tours",
                                                                       "published": "y"})
    assert edit.status_code == 303 and b">Harbour beacon tours</a>" in support.get("/help?q=beacon").data
    assert support.post("/staff/kb/reindex").status_code == 303


def test_fundraiser_reads_but_cannot_edit(staff_client, shipped):
    fundraiser = staff_client("fundraiser")
    assert fundraiser.get("/staff/kb/").status_code == 200
    assert fundraiser.get("/staff/kb/new").status_code == 403
    assert fundraiser.post("/staff/kb/preview", data={"body_md": "x"}).status_code == 403


def test_staff_donor_page_panel_shows_suggested_and_read(app, staff_client, donor_client):
    donor_client.get("/me/help/receipts?via=search")
    with app.app_context():
        from portal.kb import suggestions

        suggestions.recompute_donor(donor_client.donor_id)
    page = staff_client("support").get(f"/staff/donors/{donor_client.donor_id}")
    assert page.status_code == 200 and b"Help articles" in page.data
    assert b"Suggested to them" in page.data and b"Getting a receipt for your gift" in page.data
    assert b"from a search" in page.data


def test_staff_ticket_reply_offers_articles_from_the_subject_and_draft(app, staff_client, donor_client):
    from portal.support.services import open_ticket

    with app.app_context():
        ticket_id = open_ticket(donor_client.donor_id, "Where is my receipt?", "I gave in March.").id
    support = staff_client("support")
    page = support.get(f"/staff/tickets/{ticket_id}")
    assert b'hx-get="/staff/kb/suggest"' in page.data
    hits = support.get("/staff/kb/suggest?subject=Where+is+my+receipt&body=for+my+gift", headers=HX)
    assert b"receipt" in hits.data.lower() and b"/staff/kb/articles/" in hits.data
    assert support.get("/staff/kb/suggest?subject=&body=").data.strip() == b""


def test_donor_ticket_form_asks_the_help_centre_while_typing(donor_client):
    page = donor_client.get("/me/support/new")
    assert b'hx-get="/me/help/suggest"' in page.data
    hits = donor_client.get("/me/help/suggest?subject=my+card+has+expired", headers=HX)
    assert b"via=ticket_form" in hits.data


def test_searching_writes_nothing_and_queues_nothing_until_the_batch(app, donor_client, monkeypatch):
    """Under load every search used to write a row and a touchpoint and queue a journey job."""
    from sqlalchemy import event

    from portal import jobs

    app.extensions["kb_search_recorder"].flush()
    writes, submitted = [], []
    monkeypatch.setattr(jobs.JobRunner, "submit", lambda self, pending: submitted.append(pending.func.__name__))

    def remember_writes(_conn, _cursor, statement, *_args):
        if statement.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")):
            writes.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", remember_writes)
    try:
        for query in ("rec", "receipt", "gift aid", "direct debit", "receipt", "gift aid"):
            assert donor_client.get("/me/help", query_string={"q": query}, headers=HX).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", remember_writes)
    assert (writes, submitted) == ([], [])

    with app.app_context():
        assert services.search_recorder().flush() == 5  # "rec" became "receipt" as it was typed
        logged = [(s.query, s.touchpoint_id is not None) for s in db.session.scalars(select(SearchLog).order_by(SearchLog.id))]
    assert logged == [("receipt", True), ("gift aid", True), ("direct debit", True), ("receipt", False), ("gift aid", False)]
    # The batch's three touchpoints: one journey job and one suggestions job, not one each per search.
    assert sorted(submitted) == ["compute_suggestions", "process_pending"]


def test_settled_searches_are_written_by_the_recorder_and_fresh_ones_kept(app, donor_client):
    donor_client.get("/me/help?q=receipt", headers=HX)
    with app.app_context():
        recorder = services.search_recorder()
        assert recorder.flush(settled_before=utcnow() - timedelta(seconds=60)) == 0
        assert recorder.flush(settled_before=utcnow()) == 1
        assert db.session.scalar(select(SearchLog.query)) == "receipt"
