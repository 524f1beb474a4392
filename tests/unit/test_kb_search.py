"""Search on the shipped articles: relevance, typo correction, facets, paging, audiences, odd input, index recovery."""
from __future__ import annotations

import html as html_lib
import logging
import random
import re
import shutil
import string
from pathlib import Path

import pytest
from flask import current_app
from whoosh import query as wq

from portal.extensions import db
from portal.kb import services
from portal.kb.search import ranking, snippets, spelling, storage
from portal.kb.models import Article


@pytest.fixture
def shipped(ctx):
    """The kb/ articles in the database and a fresh index built from them."""
    services.sync_directory(services.default_content_dir(), queue_index=False)
    services.reindex_everything()
    return {a.slug: a for a in db.session.scalars(db.select(Article))}


def titles(result) -> list[str]:
    return [hit.title for hit in result.hits]


def test_stemming_finds_renewal_for_renewing(shipped):
    result = services.search("renewing")
    assert result.hits[0].slug == "sponsorship-renewal"
    assert "<mark" in str(result.hits[0].snippet)


def test_title_match_ranks_before_body_mentions(shipped):
    result = services.search("receipt")
    assert result.hits[0].slug == "receipts"
    assert result.total > 3  # the word also appears in other articles' bodies, which rank below
    result = services.search("volunteering")
    assert result.hits[0].slug == "volunteering"


def test_typo_gives_did_you_mean_from_index_vocabulary_and_results_for_it(shipped):
    result = services.search("recept")
    assert result.corrected_from == "recept"
    assert result.did_you_mean in ("receipt", "receipts")
    assert result.hits[0].slug == "receipts"
    partial = services.search("sponsorship letterz")
    assert partial.total > 0
    assert partial.did_you_mean == "sponsorship letters"


def test_natural_question_finds_the_task_article(shipped):
    assert services.search("how do I change my card details").hits[0].slug == "update-card-details"
    assert services.search("leave money in my will").hits[0].slug == "leaving-a-legacy"
    assert services.search("stop getting emails").hits[0].slug == "email-preferences"


def test_search_as_you_type_matches_a_partial_last_word(shipped):
    typing = services.search("recei", typing=True)
    assert typing.hits[0].slug == "receipts" and typing.corrected_from is None
    # A finished word that isn't one is served as a correction. ("recei" alone is as close to "receive" as to
    # "receipt", and which the corrector prefers follows the articles' word counts.)
    submitted = services.search("receip", typing=False)
    assert submitted.corrected_from == "receip" and submitted.hits[0].slug == "receipts"


def test_snippets_are_escaped_html_with_marks(shipped):
    snippet = str(services.search("direct debit").hits[0].snippet)
    assert "<mark" in snippet and "<script" not in snippet


def test_staff_only_articles_never_reach_donor_search(shipped):
    staff_slugs = {slug for slug, a in shipped.items() if a.audience == "staff"}
    assert len(staff_slugs) >= 3
    for text in ("staff guide", "refund requests approve", "data request erasure", "tone escalate", "writing help articles"):
        donor = services.search(text)
        assert not staff_slugs & {hit.slug for hit in donor.hits}
        assert all(name != "staff-guide" for name, _ in donor.facets)
    staff = services.search("refund requests", scope="staff")
    assert "staff-handling-refund-requests" in {hit.slug for hit in staff.hits}
    assert services.suggest_for_text("staff guide refund approval", "donor")[0].audience in ("donor", "both")
    assert services.search("", tag="staff-guide").total == 0
    assert services.search("", scope="staff", tag="staff-guide").total == 4


def test_tag_facets_and_filter(shipped):
    result = services.search("gift")
    facets = dict(result.facets)
    assert facets["receipts"] >= 2
    filtered = services.search("gift", tag="receipts")
    assert 0 < filtered.total == facets["receipts"]
    assert all("receipts" in hit.tags for hit in filtered.hits)


def test_paging(shipped):
    first = services.search("gift", per_page=5)
    second = services.search("gift", per_page=5, page=2)
    assert first.total == second.total > 5
    assert first.pages == second.pages >= 2
    assert not {h.slug for h in first.hits} & {h.slug for h in second.hits}
    beyond = services.search("gift", per_page=5, page=999)
    assert beyond.hits == [] and beyond.total == first.total


NASTY = [
    "", " ", "*", "?", "**", "a*", '"', '""', '"unclosed phrase', "(", ")", "((((", "))", "AND", "OR", "NOT", "AND OR NOT",
    "title:staff", "audience:staff", "id:1", "[a TO z]", "{a TO z}", "renew^99", "renew~", "renew~2", "-", "+", "+-+-",
    "*:*", "\\", "\\\\", "'", "don't", "\x00", "\x07bell", "<script>alert(1)</script>", "' OR 1=1 --", "%", "_", "%s%s%n",
    "ñandú ☃ 💙 中文", "\u202e", "a" * 5000, "receipt " * 300, "(receipt OR card) AND NOT \"direct debit\"", "NOT receipt",
    "/help/receipts", "𝔲𝔫𝔦𝔠𝔬𝔡𝔢", "1e309", "-1", "0", "null", "None", "undefined", "${jndi:ldap://x}", "{{7*7}}",
]


def test_query_syntax_never_raises(shipped):
    rng = random.Random(20260)
    alphabet = string.printable + "“”’—…ßøñ中☃💙" + '"()*?~^:+-'
    randoms = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 80))) for _ in range(150)]
    for text in NASTY + randoms:
        for scope in ("donor", "staff"):
            result = services.search(text, scope=scope, typing=True)
            assert result.total >= 0
            assert len(result.query) <= ranking.MAX_QUERY_CHARS
            if result.query:
                services.suggest_for_text(text)


def test_syntax_laden_query_still_finds_the_words(shipped):
    result = services.search('"unclosed receipt')
    assert result.total > 0 and result.hits[0].slug == "receipts"


def test_missing_index_is_rebuilt_from_database_with_a_log_line(shipped, caplog):
    storage.close_snapshots()
    shutil.rmtree(current_app.config["KB_INDEX_DIR"])
    storage._rebuild_requested_at.clear()
    with caplog.at_level(logging.WARNING, logger="portal.kb.search.storage"):
        result = services.search("receipt")
    assert result.hits[0].slug == "receipts" and not result.degraded
    assert any("missing or damaged" in r.getMessage() and "rebuilding it from the database" in r.getMessage()
               for r in caplog.records)


# Whoosh leaves a damaged table-of-contents file open when it refuses it; Python reports that when collecting it.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_corrupt_index_is_rebuilt(shipped, caplog):
    storage.close_snapshots()
    directory = Path(current_app.config["KB_INDEX_DIR"])
    for path in directory.iterdir():
        path.write_bytes(b"\x00garbage" * 10)
    storage._rebuild_requested_at.clear()
    with caplog.at_level(logging.WARNING, logger="portal.kb.search.storage"):
        result = services.search("card")
    assert result.hits[0].slug == "update-card-details"
    assert any("rebuilding it from the database" in r.getMessage() for r in caplog.records)


def test_unavailable_index_falls_back_to_title_search(shipped, monkeypatch):
    def unavailable(*args, **kwargs):
        raise storage.IndexUnavailable("rebuild in progress")

    monkeypatch.setattr(ranking, "run_search", unavailable)
    result = services.search("receipt")
    assert result.degraded and result.hits[0].slug == "receipts"
    assert all("receipt" in h.title.lower() or "receipts" in h.tags for h in result.hits)


def test_saving_unpublishing_and_editing_update_the_index_through_the_queue(shipped):
    article = services.save_article(None, services.ArticleInput(
        title="Harbour lighthouse tours", body_md="Book a **lighthouse** tour with the keepers.", tags="events, lighthouse"),
        publish=True)
    assert services.search("lighthouse").hits[0].article_id == article.id
    db.session.refresh(article)
    assert article.indexed_at is not None and article.indexed_at >= article.updated_at
    services.save_article(article, services.ArticleInput(title="Harbour beacon tours", body_md="Book a beacon tour.",
                                                         slug=article.slug, tags="events"))
    assert services.search("lighthouse").total == 0
    assert services.search("beacon").hits[0].title == "Harbour beacon tours"
    services.set_published(article, False)
    assert services.search("beacon").total == 0
    assert services.articles_due_for_index() == []


WORD_QUERIES = ["receipt", "gift", "card details", "direct debit", "sponsorship renewal", "tax relief on gifts", "email"]


def _whoosh_matches(snap, text: str, scope: str, tag: str | None = None) -> set[int]:
    allowed = set(snap.audience_docs[scope])
    if tag:
        allowed &= set(storage.members(snap.tag_bits[tag]))
    return set(snap.searcher.docs_for_query(ranking.build_query(text))) & allowed


def test_word_queries_count_and_facet_exactly_what_whoosh_matches(shipped):
    with storage.reading() as snap:
        for text in WORD_QUERIES:
            for scope in ("donor", "staff"):
                matched = _whoosh_matches(snap, text, scope)
                result = services.search(text, scope=scope)
                assert result.total == len(matched)
                expected = {}
                for name, bits in snap.tag_bits.items():
                    count = len(matched & set(storage.members(bits)))
                    if count:
                        expected[name] = count
                assert dict(result.facets) == dict(sorted(expected.items(), key=lambda i: (-i[1], i[0]))[:12])
                assert result.hits[0].article_id == int(snap.searcher.stored_fields(
                    snap.searcher.search(ranking.build_query(text), limit=1, filter=set(snap.audience_docs[scope]))[0].docnum)["id"])
        assert services.search("gift", tag="receipts").total == len(_whoosh_matches(snap, "gift", "donor", "receipts"))


def _ranked_one_by_one(snap, text: str, scope: str) -> list[tuple[int, float]]:
    """The ranking computed the plain way: every allowed match scored in Python from Whoosh's BM25F scorers."""
    q = ranking.build_query(text)
    per_term = []
    for term in (q.subqueries if isinstance(q, wq.Or) else [q]):
        scores = {}
        for leaf, offset in snap.searcher.leaf_searchers():
            if (term.fieldname, term.text) in leaf.reader():
                scorer = snap.searcher.weighting.scorer(leaf, term.fieldname, term.text)
                postings = leaf.reader().postings(term.fieldname, term.text)
                while postings.is_active():
                    scores[offset + postings.id()] = scorer.score(postings) * term.boost
                    postings.next()
        if scores:
            per_term.append(scores)
    ranked = []
    for doc in set().union(*per_term) & snap.audience_docs[scope]:
        total, matching = 0.0, 0
        for scores in per_term:
            if doc in scores:
                total += scores[doc]
                matching += 1
        ranked.append((ranking._coordinated(total, matching, len(per_term), getattr(q, "scale", None)), doc))
    ranked.sort(key=lambda item: (-item[0], item[1]))
    return [(int(snap.searcher.stored_fields(doc)["id"]), round(score, 9)) for score, doc in ranked]


def test_pages_rank_every_match_by_its_score(shipped):
    with storage.reading() as snap:
        for text in WORD_QUERIES:
            for scope in ("donor", "staff"):
                pages = [(hit.article_id, round(hit.score, 9)) for page in range(1, 5)
                         for hit in services.search(text, scope=scope, per_page=4, page=page).hits]
                assert pages == _ranked_one_by_one(snap, text, scope)[:16], (text, scope)


def test_bitsets_round_trip():
    docs = [0, 1, 7, 8, 9, 63, 64, 1000, 20_001]
    bits = storage.bitset(docs)
    assert storage.members(bits) == docs and bits.bit_count() == len(docs)
    assert storage.members(storage.bitset([])) == [] and storage.members(bits & storage.bitset([7, 64, 5])) == [7, 64]


def test_rebuild_shared_between_processes_gives_the_same_results(shipped, monkeypatch):
    def every_hit(text: str) -> set[tuple[str, float, str]]:
        # Documents are numbered differently in the two layouts, so equal scores may swap places: compare sets.
        return {(h.slug, round(h.score, 9), str(h.snippet)) for h in services.search(text, per_page=100).hits}

    single = {text: every_hit(text) for text in WORD_QUERIES}
    monkeypatch.setattr(storage, "PARALLEL_FROM", 1)
    monkeypatch.setattr(storage, "PARALLEL_BATCH", 5)
    assert services.reindex_everything() == len([a for a in shipped.values() if a.published])
    with storage.reading() as snap:
        assert len(snap.searcher.leaf_searchers()) > 1
    for text, hits in single.items():
        assert every_hit(text) == hits


def test_words_are_found_by_the_start_of_a_stem_at_word_boundaries_only():
    text = "Update your CARD. Discard old cards; card_holder and updating."
    found = [(text[start:end], stem) for start, end, stem in snippets._words_starting(text, ["car", "upd"])]
    assert found == [("Update", "updat"), ("CARD", "card"), ("cards", "card"), ("card_holder", "card_hold"),
                     ("updating", "updat")]
    # "İ" lower-cases to two characters: offsets are then taken from the original text instead.
    dotted = "İstanbul card update"
    assert [dotted[s:e] for s, e, _ in snippets._words_starting(dotted, ["car", "upd"])] == ["card", "update"]


def test_a_snippet_marks_every_match_in_its_passages_and_escapes_the_rest():
    body = ("Intro text about nothing much at all. " * 12 + "Update the <b>card</b> here: card & update. "
            + "Filler words follow here. " * 20 + "Another card mention far away.")
    matches = [m for m in snippets._words_starting(body, ["car", "upd"]) if m[2] in {"card", "updat"}]
    html = str(snippets._snippet(body, matches))
    assert "&lt;b&gt;<mark>card</mark>&lt;/b&gt;" in html and "<mark>card</mark> &amp; <mark>update</mark>" in html
    assert html.count("<mark>") == html.count("</mark>") == 5 and "<b>" not in html
    assert html.startswith("… ")
    first, second = html[2:].split(" … ")
    assert first.startswith(("Intro", "text", "about", "nothing", "much", "at", "all"))
    shown = html_lib.unescape(re.sub(r"</?mark>", "", first))
    assert "<mark>Update</mark>" in first and len(shown) <= snippets.SNIPPET_CHARS
    assert second.endswith("Another <mark>card</mark> mention far away.")


def test_a_match_just_before_the_best_passage_is_marked_too():
    body = "Word " * 40 + "card then some text and then update card card details " + "word " * 60
    matches = [m for m in snippets._words_starting(body, ["car", "upd"]) if m[2] in {"card", "updat"}]
    html = str(snippets._snippet(body, matches))
    assert html.count("<mark>") == 4 and ">card</mark> then" in html


def test_plain_words_build_the_query_the_parser_would():
    vocabulary = ["update", "card", "receipt", "how", "do", "I", "my", "the", "renewing", "gifts", "Tax", "relief", "café",
                  "100", "x", "naïve", "UK", "AND", "OR", "NOT", "ANDMAYBE", "card's", "gift-aid", '"card', "(tax"]
    rng = random.Random(3)
    built = 0
    for _ in range(3000):
        text = " ".join(rng.choice(vocabulary) for _ in range(rng.randint(1, 5)))
        fast = ranking._words_query(text)
        if fast is None:
            continue
        built += 1
        parsed = ranking._parser().parse(text)
        assert fast == parsed and getattr(fast, "scale", None) == getattr(parsed, "scale", None), text
    assert built > 500
    assert ranking._words_query("tax AND relief") is None and ranking._words_query('"tax relief"') is None


def test_a_short_word_is_not_corrected_into_another_word(shipped):
    result = services.search("gift aid tax")
    assert result.did_you_mean is None and result.corrected_from is None
    assert result.hits[0].slug == "how-gift-aid-works" and "tax-relief-on-gifts" in [hit.slug for hit in result.hits[:3]]


def test_a_correction_is_only_offered_when_it_finds_at_least_as_much(shipped, monkeypatch):
    monkeypatch.setattr(spelling, "correct", lambda text: "zzzz qqqq")  # finds nothing
    assert services.search("sponsorship letters").did_you_mean is None
