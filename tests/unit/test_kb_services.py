"""Articles, sanitising, sync, votes, the search log, deflection, and suggestions for hand-built donors."""
from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.giving.services import PlanInput, change_plan_status, start_plan
from portal.journey import services as journey
from portal.journey.models import Touchpoint
from portal.kb import content, services, suggestions, text_sources
from portal.kb.models import Article, ArticleSuggestion, ArticleView, SearchLog, SuggestionState
from portal.timeutil import utcnow
from tests.conftest import make_donor, make_gift


@pytest.fixture
def shipped(ctx):
    services.sync_directory(services.default_content_dir(), queue_index=False)
    services.reindex_everything()
    return {a.slug: a for a in db.session.scalars(select(Article))}


def reasons(donor_id: int) -> dict[str, str]:
    return {s.article.slug: s.reason for s in services.suggestions_for(donor_id, limit=10)}


# ---------------------------------------------------------------- content

def test_markdown_is_sanitised():
    html = content.render_markdown('Hi <script>alert(1)</script><img src=x onerror="alert(2)"> [x](javascript:alert(3)) '
                                   '<a href="https://example.org" onclick="evil()">ok</a>\n\n<iframe src="https://evil"></iframe>')
    assert "<script" not in html and "onerror" not in html and "onclick" not in html and "<iframe" not in html
    assert "javascript:" not in html
    assert '<a href="https://example.org" rel="noopener noreferrer">ok</a>' in html


def test_code_is_escaped_once_and_only_links_outside_code_are_linked():
    html = content.render_markdown("Type `a < b & c` or see https://example.org/help.\n\n    x < y https://example.org/raw\n")
    assert "<code>a &lt; b &amp; c</code>" in html and "<pre><code>x &lt; y https://example.org/raw" in html
    assert '<a href="https://example.org/help" rel="noopener noreferrer">https://example.org/help</a>' in html
    assert html.count("<a ") == 1 and "&amp;lt;" not in html


def test_front_matter_parsing_and_errors():
    source = content.parse_article_file("x", "---\ntitle: A: b\ntags: [Receipts, Tax Relief]\naudience: staff\n"
                                        "related: one, two\n---\nBody")
    assert (source.title, source.tags, source.audience, source.related, source.body_md) == (
        "A: b", ["receipts", "tax-relief"], "staff", ["one", "two"], "Body")
    for bad in ("no front matter", "---\ntitle: x\n", "---\naudience: everyone\ntitle: x\n---\n", "---\njust words\n---\n"):
        with pytest.raises(content.ContentError):
            content.parse_article_file("x", bad)


def test_shipped_articles_are_complete(ctx):
    report = services.sync_directory(services.default_content_dir(), queue_index=False)
    assert report.errors == []
    articles = list(db.session.scalars(select(Article)))
    donor_facing = [a for a in articles if a.audience in ("donor", "both")]
    assert len(donor_facing) >= 30
    slugs = {a.slug for a in articles}
    for article in articles:
        assert article.published and article.summary and article.tag_list
        assert set(article.related_slugs) <= slugs, article.slug
        assert len(content.plain_text(article.body_html).split()) >= 120, article.slug


def test_sync_is_idempotent_and_keeps_staff_edits(ctx, tmp_path):
    (tmp_path / "one.md").write_text("---\ntitle: One\ntags: [a]\n---\nFirst text.")
    (tmp_path / "broken.md").write_text("no front matter")
    first = services.sync_directory(tmp_path, queue_index=False)
    assert first.created == ["one"] and len(first.errors) == 1
    again = services.sync_directory(tmp_path, queue_index=False)
    assert again.created == again.updated == [] and again.unchanged == 1
    article = db.session.scalar(select(Article).where(Article.slug == "one"))
    services.save_article(article, services.ArticleInput(title="One, edited", body_md="Edited.", slug="one"))
    (tmp_path / "one.md").write_text("---\ntitle: One v2\n---\nSecond text.")
    third = services.sync_directory(tmp_path, queue_index=False)
    assert third.kept_edited == ["one"]
    assert db.session.get(Article, article.id).title == "One, edited"


def test_save_validates_and_never_saves_half(ctx):
    services.save_article(None, services.ArticleInput(title="Taken", body_md="x"))
    for values, field_name in ((services.ArticleInput(title=" ", body_md="x"), "title"),
                               (services.ArticleInput(title="T", body_md=" "), "body_md"),
                               (services.ArticleInput(title="T", body_md="x", audience="everyone"), "audience"),
                               (services.ArticleInput(title="T", body_md="x", slug="taken"), "slug")):
        with pytest.raises(services.ArticleError) as caught:
            services.save_article(None, values)
        db.session.rollback()
        assert caught.value.field_name == field_name
    assert db.session.scalar(select(func.count()).select_from(Article)) == 1


# ---------------------------------------------------------------- votes, views and the search log

def test_vote_counts_once_per_voter_and_can_change(shipped):
    article = shipped["receipts"]
    assert services.vote(article, True, voter="session:abc", donor_id=None) is True
    assert services.vote(article, False, voter="session:abc", donor_id=None) is False
    assert services.vote(article, True, voter="session:def", donor_id=None) is True
    stats = services.article_stats([article.id])[article.id]
    assert (stats.helpful, stats.not_helpful, stats.helpful_percent) == (1, 1, 50)


def test_donor_vote_and_view_are_touchpoints(shipped):
    donor = make_donor(email="v@example.org")
    article = shipped["receipts"]
    assert services.record_view(article, donor_id=donor.id, source="search", seen=[])
    assert not services.record_view(article, donor_id=donor.id, source="search", seen=[article.id])
    services.vote(article, True, voter=services.voter_key(donor_id=donor.id, session_token=None), donor_id=donor.id)
    kinds = [t.kind for t in db.session.scalars(select(Touchpoint).where(Touchpoint.donor_id == donor.id))]
    assert kinds.count("kb_article_viewed") == 1 and kinds.count("kb_helpful_vote") == 1
    assert services.article_stats([article.id])[article.id].views == 1


def test_search_keystrokes_collapse_into_one_logged_search(shipped):
    donor = make_donor(email="s@example.org")
    state = None
    for typed in ("rec", "rece", "receip", "receipt"):
        state = services.log_search(services.search(typed, typing=True), scope="donor", donor_id=donor.id, previous=state)
    state = services.log_search(services.search("zzqx"), scope="donor", donor_id=donor.id, previous=state)
    assert services.search_recorder().flush() == 2
    logged = list(db.session.scalars(select(SearchLog).order_by(SearchLog.id)))
    assert [(row.query, row.result_count > 0) for row in logged] == [("receipt", True), ("zzqx", False)]
    touchpoints = list(db.session.scalars(select(Touchpoint).where(Touchpoint.kind == "kb_search").order_by(Touchpoint.id)))
    assert [t.data["query"] for t in touchpoints] == ["receipt", "zzqx"]
    assert services.searches_with_no_results()[0]["query"] == "zzqx"


def test_tickets_avoided_definition(shipped):
    now = utcnow()
    avoided, asked, recent = (make_donor(email=f"d{i}@example.org") for i in range(3))
    article = shipped["receipts"]
    day_ago = now - timedelta(days=3)
    db.session.add_all([
        ArticleView(article_id=article.id, donor_id=avoided.id, source="ticket_form", viewed_at=day_ago),
        # a second opening within 24 hours belongs to the same deflection
        ArticleView(article_id=shipped["annual-giving-statement"].id, donor_id=avoided.id, source="ticket_form",
                    viewed_at=day_ago + timedelta(hours=2)),
        ArticleView(article_id=article.id, donor_id=asked.id, source="ticket_form", viewed_at=day_ago),
        ArticleView(article_id=article.id, donor_id=recent.id, source="ticket_form", viewed_at=now - timedelta(hours=1)),
        ArticleView(article_id=article.id, donor_id=avoided.id, source="search", viewed_at=day_ago),
    ])
    journey.record(asked.id, "ticket_opened", "Where is my receipt?", occurred_at=day_ago + timedelta(hours=5))
    db.session.commit()
    figures = services.tickets_avoided(since=now - timedelta(days=30))
    assert (figures.deflections, figures.avoided, figures.pending) == (2, 1, 1)


def test_suggest_for_text_and_email_token(shipped, app):
    assert services.suggest_for_text("my card expired")[0].slug == "update-card-details"
    assert services.suggest_for_text("") == []
    donor = make_donor(email="t@example.org")
    db.session.execute(ArticleSuggestion.__table__.delete())
    db.session.commit()
    starters = services.suggested_articles(donor.id, limit=2)
    assert starters[0]["title"].startswith("Welcome") and starters[0]["url"].endswith("/help/getting-started")


# ---------------------------------------------------------------- suggestions for hand-built donors

def test_renewal_due_suggests_renewal_article_with_the_date(shipped):
    donor = make_donor(email="r@example.org", interests=["lifeboats"])
    renews = utcnow().date() + timedelta(days=20)
    start_plan(donor.id, PlanInput(kind="sponsorship", amount_minor=1500, currency="GBP", interval="monthly",
                                   started_at=date(2020, 1, 1), description="the Whitby crew", renews_on=renews))
    suggestions.recompute_donor(donor.id)
    got = reasons(donor.id)
    day = f"{renews.day} {renews:%B}" + ("" if renews.year == utcnow().year else f" {renews.year}")
    assert got["sponsorship-renewal"] == f"Because your sponsorship renews on {day}"
    assert services.suggestions_for(donor.id)[0].article.slug == "sponsorship-renewal"
    assert got["how-sponsorship-works"] == "Because you sponsor: the Whitby crew"
    assert got["how-your-gift-is-used"] == "Because you're interested in lifeboats"


def test_recent_gift_and_new_supporter(shipped):
    donor = make_donor(email="g@example.org")
    make_gift(donor.id, 7500, received_at=utcnow() - timedelta(days=2))
    got = reasons(donor.id)  # recomputed by the queued job the gift's touchpoint triggered
    gift_day = utcnow() - timedelta(days=2)
    assert got["receipts"].startswith("Because you gave £75.00 on " + f"{gift_day.day} {gift_day:%B}")
    assert got["getting-started"] == "Welcome! A good place to start"


def test_tier_change_paused_plan_search_reading_and_tickets(shipped):
    donor = make_donor(email="x@example.org")
    db.session.execute(Donor_table().update().where(Donor_table().c.id == donor.id).values(created_at=datetime(2020, 1, 1)))
    plan = start_plan(donor.id, PlanInput(kind="recurring_gift", amount_minor=1000, currency="GBP", interval="monthly",
                                          started_at=date(2020, 1, 1)))
    change_plan_status(plan, "pause")
    journey.record(donor.id, "tier_changed", "Moved up to Champion", data={"tier": "Champion"})
    journey.record(donor.id, "ticket_opened", "Gift matching form from my employer")
    db.session.commit()
    services.log_search(services.search("legacy will"), scope="donor", donor_id=donor.id, previous=None)
    services.search_recorder().flush()
    services.record_view(shipped["supporter-tiers"], donor_id=donor.id, seen=[])
    got = reasons(donor.id)
    assert got["change-pause-or-stop-regular-gift"] == "Because your regular gift is paused"
    assert got["how-loyalty-points-work"].startswith("Because you became a Champion supporter on ")
    assert got["leaving-a-legacy"] == "Because you searched for “legacy will”"
    assert got["corporate-matching"] == "Because you asked us about “Gift matching form from my employer”"
    assert "supporter-tiers" not in got  # already read
    assert got["redeeming-rewards"] == "Related to “Supporter tiers explained”, which you read"
    assert len(services.suggestions_for(donor.id)) == suggestions.KEEP


def Donor_table():
    from portal.donors.models import Donor

    return Donor.__table__


def test_registered_text_source_feeds_suggestions_and_a_failing_one_is_skipped(shipped):
    donor = make_donor(email="y@example.org")
    services.register_text_source("test-comments", lambda ids, since: [(d, "volunteer at the station", "told us you'd like to volunteer") for d in ids])
    services.register_text_source("test-broken", lambda ids, since: 1 / 0)
    try:
        suggestions.recompute_donor(donor.id)
    finally:
        text_sources._TEXT_SOURCES.pop("test-comments")
        text_sources._TEXT_SOURCES.pop("test-broken")
    assert reasons(donor.id)["volunteering"] == "Because you told us you'd like to volunteer"


def test_recompute_all_is_set_based_and_the_sweep_finds_new_activity(shipped):
    donors = [make_donor(email=f"n{i}@example.org", interests=["water"]) for i in range(5)]
    result = suggestions.recompute_all(batch=2)
    assert result["donors"] == 5
    assert db.session.scalar(select(func.count()).select_from(SuggestionState)) == 5
    assert suggestions.donors_due() == []
    db.session.add(Touchpoint(donor_id=donors[2].id, kind="gift_received", summary="bulk-loaded"))  # no listener: Core-style
    db.session.execute(Touchpoint.__table__.insert().values(donor_id=donors[3].id, kind="kb_search", summary="x", channel="",
                                                            occurred_at=utcnow(), actor_label=""))
    db.session.commit()
    assert donors[3].id in suggestions.donors_due()
    from portal.kb import tasks

    assert tasks.sweep_suggestions() >= 1
    assert suggestions.donors_due() == []
