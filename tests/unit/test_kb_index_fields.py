"""AnalysedText must index exactly what Whoosh's TEXT field indexes with the same analyzer."""
from __future__ import annotations

import pickle
from types import SimpleNamespace

import pytest
from whoosh.analysis import NgramAnalyzer, StandardAnalyzer, StemmingAnalyzer
from whoosh.fields import TEXT, Schema

from portal.kb import content
from portal.kb.search import analysis, storage
from tests.unit.test_kb_plain_text import KB_DIR, shipped_bodies

ANALYSED_FIELDS = ["title", "tag_text", "body", "spell"]

TEXTS = [
    "",
    "   \n\t ",
    "How do I get my Gift Aid receipt?",
    "the a an of to is it be by I me my",
    "Donations, donating, donated and DONOR donors: running runs ran runner.",
    "Café naïve résumé Ærøskøbing straße İstanbul ΣΊΣΥΦΟΣ 日本語のテキスト emoji 🎉 zero\u200bwidth",
    "e.g. i.e. U.K. U.S.A. 3.141 v2.0.1 1,000.50 £25.00 2026-11-23 10:30",
    "don't can't it's donors' O'Brien rock'n'roll",
    "wild*card *star* a*b ** *",
    "under_score snake_case_name __dunder__ a_ _b",
    "x" * 300 + " " + "supercalifragilisticexpialidocious" * 5 + " short",
    "repeat repeat repeat the repeat, and REPEAT; repeat.",
    "line one\nline two\n\nline three with (brackets) [and] {braces} <angle> \"quotes\" 'single'",
    "Gift Aid gift aid GIFT-AID gift_aid giftaid",
    "a b c d e f g h i j k l m n o p q r s t u v w x y z 1 2 3 42 007",
    "Über ünïcödé ÀÉÎÕÜ ﬁne ligature ß",
]


def stock_field(field):
    """A plain Whoosh TEXT field configured as the given one."""
    return TEXT(analyzer=field.analyzer, phrase=field.format.__class__.__name__ == "Positions",
                field_boost=field.format.field_boost)


@pytest.mark.parametrize("name", ANALYSED_FIELDS)
@pytest.mark.parametrize("text", TEXTS)
def test_index_matches_stock_text_field(name, text):
    field = analysis.SCHEMA[name]
    assert isinstance(field, analysis.AnalysedText)
    assert list(field.index(text)) == list(stock_field(field).index(text))


@pytest.mark.parametrize("name", ANALYSED_FIELDS)
def test_index_matches_stock_text_field_on_shipped_articles(name):
    field, stock = analysis.SCHEMA[name], stock_field(analysis.SCHEMA[name])
    for body_md in shipped_bodies():
        text = content.plain_text(content.render_markdown(body_md))
        assert list(field.index(text)) == list(stock.index(text))


def test_positions_follow_on_after_stop_words():
    postings = {term: (freq, weight) for term, freq, weight, _ in analysis.SCHEMA["title"].index("How do I get my gift aid gift")}
    assert postings == {b"gift": (2, 8.0), b"aid": (1, 4.0)}
    decoded = {term: analysis.SCHEMA["title"].format.decode_positions(value)
               for term, _, _, value in analysis.SCHEMA["title"].index("How do I get my gift aid gift")}
    assert decoded == {b"gift": [5, 7], b"aid": [6]}


def test_survives_pickling_into_the_table_of_contents():
    field = analysis.SCHEMA["body"]
    field.index("warm the cache")
    copy = pickle.loads(pickle.dumps(field))
    assert "_terms" not in copy.__dict__
    assert list(copy.index("Donors donate")) == list(field.index("Donors donate"))


def test_refuses_an_analyzer_it_cannot_follow():
    for analyzer in (NgramAnalyzer(3), StandardAnalyzer(expression=r"\S+"), StemmingAnalyzer(gaps=True)):
        with pytest.raises(ValueError):
            analysis.AnalysedText(analyzer=analyzer)


def test_a_long_run_of_distinct_words_is_still_analysed_right(monkeypatch):
    monkeypatch.setattr(analysis.TokenTermCache, "LIMIT", 3)
    field = analysis.AnalysedText(analyzer=analysis.STEM_ANALYZER)
    text = "running donors gave gifts running donors gave gifts"
    assert list(field.index(text)) == list(stock_field(field).index(text))
    assert len(field._terms) == 3


def shipped_articles() -> list[SimpleNamespace]:
    articles = []
    for number, path in enumerate(sorted(KB_DIR.glob("*.md")), start=1):
        source = content.parse_article_file(path.stem, path.read_text())
        articles.append(SimpleNamespace(id=number, slug=source.slug, title=source.title, tag_list=source.tags,
                                        body_html=content.render_markdown(source.body_md), audience=source.audience,
                                        summary=source.summary))
    return articles


def stock_schema() -> Schema:
    fields = {name: stock_field(field) if name in ANALYSED_FIELDS else field for name, field in analysis.SCHEMA.items()}
    return Schema(**fields)


def postings(directory) -> dict:
    """Every analysed field's terms with their (document, weight, encoded value) postings."""
    found = {}
    with storage._open(directory).reader() as reader:
        for name, term in reader.all_terms():
            if name in ANALYSED_FIELDS:
                matcher, found[name, term] = reader.postings(name, term), []
                while matcher.is_active():
                    found[name, term].append((matcher.id(), matcher.weight(), matcher.value()))
                    matcher.next()
    return found


def test_rebuild_indexes_what_the_stock_fields_index(tmp_path):
    articles = shipped_articles()
    stock_dir = tmp_path / "stock"
    stock_dir.mkdir()
    writer = storage._storage(stock_dir).create_index(stock_schema()).writer()
    for article in articles:
        writer.add_document(**analysis.document_for(article))
    writer.commit()

    assert storage.rebuild(articles, tmp_path / "new") == len(articles)
    expected = postings(stock_dir)
    assert len(expected) > 1000
    assert postings(tmp_path / "new") == expected


def test_rebuild_rewrites_an_older_index_with_the_current_fields(tmp_path):
    articles = shipped_articles()
    stock_dir = tmp_path / "index"
    stock_dir.mkdir()
    storage._storage(stock_dir).create_index(stock_schema())
    assert type(storage._open(stock_dir).schema["body"]) is TEXT

    storage.rebuild(articles, stock_dir)
    assert isinstance(storage._open(stock_dir).schema["body"], analysis.AnalysedText)
