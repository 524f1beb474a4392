"""The filtered donor list: what each filter and sort finds, paging, and totals past the count limit."""
from datetime import timedelta

import pytest
from werkzeug.datastructures import MultiDict

from portal.donors import search
from portal.giving import services as giving
from portal.timeutil import utcnow
from tests.conftest import make_donor, make_gift

pytestmark = pytest.mark.usefixtures("ctx")


def names(**args) -> list[str]:
    page = search.search_donors(search.parse_filters(MultiDict(args)))
    return [donor.display_name for donor in page.donors]


@pytest.fixture
def people():
    now = utcnow()
    ada = make_donor(first_name="Ada", last_name="Lovelace", email="countess@example.org", tags=["volunteer"])
    adam = make_donor(first_name="Adam", last_name="Smith", email="adam.smith@example.org")
    grace = make_donor(first_name="Grace", last_name="Adams", email="grace@navy.example")
    charity = make_donor(kind="organisation", organisation_name="Harbour Trust", first_name="", last_name="", email="hello@harbour.example")
    newcomer = make_donor(first_name="Zed", last_name="Nobody", email="zed@example.org")  # no gift, no rollup row yet
    make_gift(ada.id, 50000, now - timedelta(days=20))
    make_gift(adam.id, 1000, now - timedelta(days=400))
    make_gift(grace.id, 2500, now - timedelta(days=200))
    make_gift(charity.id, 250000, now - timedelta(days=700))
    giving.start_plan(grace.id, giving.PlanInput(kind="recurring_gift", amount_minor=1000, currency="GBP", interval="monthly",
                                                 started_at=(now - timedelta(days=30)).date()))
    return {"ada": ada, "adam": adam, "grace": grace, "charity": charity, "newcomer": newcomer}


def test_search_as_you_type_matches_surname_first_name_email_and_tag(people):
    assert names(q="ad") == ["Grace Adams", "Ada Lovelace", "Adam Smith"]  # surname Adams, first names Ada and Adam
    assert names(q="ADA") == ["Grace Adams", "Ada Lovelace", "Adam Smith"]
    assert names(q="grace@") == ["Grace Adams"]
    assert names(q="countess@example.org") == ["Ada Lovelace"]
    assert names(q="volun") == ["Ada Lovelace"]
    assert names(q="harbour t") == ["Harbour Trust"]
    assert names(q="lovelace") == ["Ada Lovelace"]
    assert names(q="nobody here") == []


def test_two_words_are_first_name_then_start_of_surname(people):
    assert names(q="ada love") == ["Ada Lovelace"]
    assert names(q="ada s") == []  # Adam Smith's first name is not "ada"
    assert names(q="adam s") == ["Adam Smith"]


def test_filters_on_the_profile_and_the_rollup(people):
    assert names(kind="organisation") == ["Harbour Trust"]
    assert names(tag="volunteer") == ["Ada Lovelace"]
    assert names(tag="no-such-tag") == []
    assert names(recurring="yes") == ["Grace Adams"]
    assert names(recurring="no") == ["Harbour Trust", "Ada Lovelace", "Zed Nobody", "Adam Smith"]
    assert names(gave_within="90") == ["Ada Lovelace"]
    assert names(gave_within="365") == ["Grace Adams", "Ada Lovelace"]
    assert names(lifetime_min="20", lifetime_max="600") == ["Grace Adams", "Ada Lovelace"]
    # A donor who has given nothing has a lifetime of zero, rollup row or not.
    assert names(lifetime_max="15") == ["Zed Nobody", "Adam Smith"]
    assert names(q="ad", recurring="no", sort="-lifetime") == ["Ada Lovelace", "Adam Smith"]


def test_sorting_by_rollup_puts_donors_without_gifts_last_both_ways(people):
    assert names(sort="-lifetime") == ["Harbour Trust", "Ada Lovelace", "Grace Adams", "Adam Smith", "Zed Nobody"]
    assert names(sort="lifetime") == ["Adam Smith", "Grace Adams", "Ada Lovelace", "Harbour Trust", "Zed Nobody"]
    assert names(sort="-last_gift") == ["Ada Lovelace", "Grace Adams", "Adam Smith", "Harbour Trust", "Zed Nobody"]
    assert names(sort="last_gift") == ["Harbour Trust", "Adam Smith", "Grace Adams", "Ada Lovelace", "Zed Nobody"]
    assert names(sort="-name") == ["Adam Smith", "Zed Nobody", "Ada Lovelace", "Harbour Trust", "Grace Adams"]


@pytest.mark.parametrize("sort", ["name", "-lifetime", "last_gift"])
def test_pages_cover_every_match_once(people, sort):
    filters = search.parse_filters(MultiDict({"sort": sort}))
    first = search.search_donors(filters, page=1, per_page=2)
    second = search.search_donors(filters, page=2, per_page=2)
    third = search.search_donors(filters, page=3, per_page=2)
    assert (first.total, first.pages, first.has_next, third.has_next) == (5, 3, True, False)
    seen = [d.id for page in (first, second, third) for d in page.donors]
    assert sorted(seen) == sorted(d.id for d in people.values())
    assert [d.display_name for d in first.donors + second.donors + third.donors] == names(sort=sort)


def test_past_the_count_limit_the_total_says_more_and_paging_still_works(people, monkeypatch):
    monkeypatch.setattr(search, "COUNT_LIMIT", 3)
    filters = search.parse_filters(MultiDict({}))
    first = search.search_donors(filters, page=1, per_page=2)
    assert (first.total, first.pages, first.has_next) == (3, None, True)
    last = search.search_donors(filters, page=3, per_page=2)
    assert ([d.display_name for d in last.donors], last.has_next, last.total, last.pages) == (["Adam Smith"], False, 5, 3)
    beyond = search.search_donors(filters, page=40, per_page=2)
    assert (beyond.page, beyond.pages, beyond.total, [d.display_name for d in beyond.donors]) == (3, 3, 5, ["Adam Smith"])


def test_a_page_number_past_a_short_list_shows_its_last_page(people):
    page = search.search_donors(search.parse_filters(MultiDict({})), page=9, per_page=2)
    assert (page.page, page.pages, len(page.donors)) == (3, 3, 1)


def test_export_uses_the_same_filters(people):
    rows = "".join(search.export_csv(search.parse_filters(MultiDict({"q": "ad", "recurring": "no"})))).splitlines()
    assert len(rows) == 3 and {row.split(",")[4] for row in rows[1:]} == {"Lovelace", "Smith"}


@pytest.mark.parametrize("args", [{"recurring": "no"}, {"recurring": "yes"}, {"lifetime_max": "15"},
                                  {"kind": "individual", "gave_within": "365"}, {"recurring": "no", "sort": "-name"},
                                  {"tag": "volunteer"}, {"tag": "volunteer", "recurring": "no"}, {"kind": "organisation"}])
def test_walking_the_list_in_order_finds_what_joining_finds(people, monkeypatch, args):
    joined = names(**args)
    monkeypatch.setattr(search, "WALK_MIN_MATCHES", 0)
    assert names(**args) == joined and joined


def test_search_as_you_type_pages_and_totals(people):
    for n in range(5):
        make_donor(first_name=f"Adele{n}", last_name="Zimmer")
    filters = search.parse_filters(MultiDict({"q": "ad"}))
    first = search.search_donors(filters, page=1, per_page=3)
    assert (first.total, first.pages, first.has_next) == (8, 3, True)
    assert [d.display_name for d in first.donors] == ["Grace Adams", "Ada Lovelace", "Adam Smith"]
    last = search.search_donors(filters, page=3, per_page=3)
    assert ([d.display_name for d in last.donors], last.has_next) == (["Adele3 Zimmer", "Adele4 Zimmer"], False)
    beyond = search.search_donors(filters, page=7, per_page=3)
    assert (beyond.page, beyond.total, [d.display_name for d in beyond.donors]) == (3, 8, ["Adele3 Zimmer", "Adele4 Zimmer"])
    assert search.search_donors(search.parse_filters(MultiDict({"q": "qqq"})), page=4).total == 0
