"""HMRC's Gift Aid rules on hand-computed cases: no database."""
from datetime import date

import pytest

from portal.taxrelief import rules
from portal.taxrelief.rules import DeclarationTerms


@pytest.mark.parametrize("donations, limit", [
    (0, 0),
    (4_000, 1_000),  # £40: 25% = £10
    (10_000, 2_500),  # £100: 25% = £25
    (10_100, 2_505),  # £101: £25 + 5% of £1 = £25.05
    (100_000, 7_000),  # £1,000: £25 + 5% of £900 = £70
    (5_000_000, 250_000),  # £50,000: £25 + 5% of £49,900 = £2,520, capped at £2,500
    (4_960_000, 250_000),  # £49,600: £25 + 5% of £49,500 = £2,500 exactly
    (2_000_000, 102_000),  # £20,000: £25 + 5% of £19,900 = £1,020
])
def test_benefit_limit_on_hand_computed_cases(donations, limit):
    assert rules.benefit_limit(donations) == limit


def test_gift_aid_is_a_quarter_rounded_down_to_the_penny():
    assert rules.gift_aid_on(10_000) == 2_500
    assert rules.gift_aid_on(1_001) == 250


@pytest.mark.parametrize("day, year", [(date(2026, 4, 5), 2025), (date(2026, 4, 6), 2026), (date(2027, 1, 1), 2026)])
def test_tax_year_starts_on_6_april(day, year):
    assert rules.tax_year(day) == year


MADE = date(2026, 3, 10)


@pytest.mark.parametrize("scope, gift_id, received, outcome", [
    ("this_gift", 7, date(2026, 3, 1), "valid"),
    ("this_gift", 8, date(2026, 3, 10), None),
    ("future", 8, date(2026, 3, 9), None),
    ("future", 8, date(2026, 3, 10), "valid"),
    ("future", 8, date(2030, 1, 1), "valid"),
    ("past_and_future", 8, date(2022, 3, 10), "valid"),  # exactly four years back
    ("past_and_future", 8, date(2022, 3, 9), None),
])
def test_declaration_scope_and_dates(scope, gift_id, received, outcome):
    terms = DeclarationTerms(scope, "online", MADE, gift_id=7 if scope == "this_gift" else None)
    assert rules.coverage(terms, gift_id, received) == outcome


def test_cancellation_stops_cover_from_its_date_but_keeps_earlier_gifts():
    terms = DeclarationTerms("future", "online", MADE, cancelled_on=date(2026, 6, 1))
    assert rules.coverage(terms, 1, date(2026, 5, 31)) == "valid"
    assert rules.coverage(terms, 1, date(2026, 6, 1)) == "cancelled"


def test_oral_declaration_cancelled_within_30_days_of_confirmation_never_counted():
    inside = DeclarationTerms("future", "oral", MADE, cancelled_on=date(2026, 4, 11), confirmation_sent_on=date(2026, 3, 12))
    assert rules.void_from_start(inside)
    assert rules.coverage(inside, 1, date(2026, 3, 20)) == "cancelled"
    after = DeclarationTerms("future", "oral", MADE, cancelled_on=date(2026, 4, 12), confirmation_sent_on=date(2026, 3, 12))
    assert not rules.void_from_start(after)
    assert rules.coverage(after, 1, date(2026, 3, 20)) == "valid"


def test_a_valid_declaration_wins_over_a_cancelled_one():
    cancelled = DeclarationTerms("future", "online", date(2025, 1, 1), cancelled_on=date(2025, 6, 1))
    fresh = DeclarationTerms("future", "online", date(2026, 1, 1))
    assert rules.declaration_reason([cancelled], 1, date(2026, 2, 1)) == "cancelled"
    assert rules.declaration_reason([cancelled, fresh], 1, date(2026, 2, 1)) is None
    assert rules.declaration_reason([], 1, date(2026, 2, 1)) == "no_declaration"


@pytest.mark.parametrize("text, expected", [("sw1a1aa", "SW1A 1AA"), (" m1  1ae ", "M1 1AE"), ("EC1A 1BB", "EC1A 1BB"),
                                            ("12345", None), ("", None)])
def test_postcodes_in_capitals_with_one_space(text, expected):
    assert rules.normalise_postcode(text) == expected


@pytest.mark.parametrize("line, house", [("12a High Street", "12a"), ("Rose Cottage, Mill Lane", "Rose Cottage"),
                                         ("Flat 2, 4 Sea Road", "4"), ("High Street", ""), ("The Old Rectory", "The Old Rectory"), ("", "")])
def test_house_name_or_number(line, house):
    assert rules.house_name_or_number(line) == house


def test_address_problems_say_what_is_missing():
    assert rules.address_problems(address_line1="12 High St", postcode="SW1A 1AA", country="United Kingdom") == []
    assert rules.address_problems(address_line1="", postcode="", country="UK") == [
        "No house name or number in the first address line", "No postcode"]
    assert rules.address_problems(address_line1="1 Rue X", postcode="75001", country="France") == [
        "The home address is not in the UK", "“75001” is not a UK postcode"]


def test_schedule_fields():
    assert rules.schedule_title("Prof.") == "Prof"
    assert rules.schedule_title("Reverend") == ""
    assert rules.schedule_name("Bowes-Lyon") == "Bowes Lyon"
    assert len(rules.schedule_name("x" * 50)) == 35
    assert rules.schedule_amount(123405) == "1234.05"
    assert rules.schedule_date(date(2026, 4, 6)) == "06/04/26"
