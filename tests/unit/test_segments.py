"""Segments: every condition against a hand-built set of six donors, on SQLite and PostgreSQL alike."""
from datetime import date, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import event, select, update

from portal.donors.models import Donor
from portal.donors.services import set_marketing_consent
from portal.engagement.segments import services as segments
from portal.engagement.models import EmailMessage, Segment
from portal.extensions import db
from portal.giving.services import PlanInput, start_plan
from portal.journey.models import Touchpoint
from tests.conftest import make_donor, make_gift

pytestmark = pytest.mark.usefixtures("ctx")
NOW = datetime(2026, 6, 1, 12, 0)


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def _backdate_creation(donor, created: datetime) -> None:
    db.session.execute(update(Donor).where(Donor.id == donor.id).values(created_at=created))
    db.session.execute(update(Touchpoint).where(Touchpoint.donor_id == donor.id, Touchpoint.kind == "donor_created")
                       .values(occurred_at=created))
    db.session.commit()


@pytest.fixture
def donors(frozen):
    """Ada: loyal local volunteer. Bob Ltd: one big gift 400 days ago. Cat: unsubscribed sponsor giving often.
    Dan: prospect, quiet for 200 days. Eve: one gift two years ago. Fay: brand new, monthly giver, birthday today."""
    ada = make_donor(first_name="Ada", last_name="Lovelace", email="ada@example.org", marketing_opt_in=True, city="Whitby",
                     region="North Yorkshire", postcode="YO21 3PU", country="United Kingdom", source="Spring appeal",
                     birthday=date(1980, 5, 14), tags=["volunteer"], interests=["lifeboats"])
    _backdate_creation(ada, datetime(2023, 8, 1))
    for when, amount in ((datetime(2023, 9, 1), 2500), (datetime(2024, 7, 1), 5000), (datetime(2025, 7, 1), 5000),
                         (datetime(2026, 3, 1), 10000)):
        make_gift(ada.id, amount, when)
    db.session.add(EmailMessage(donor_id=ada.id, to_email="ada@example.org", subject="News", text_body="x",
                                idempotency_key="opened:ada", message_id="<opened-ada@test>", status="sent",
                                opened_at=NOW - timedelta(days=10)))

    bob = make_donor(kind="organisation", first_name="", last_name="", organisation_name="Bob Ltd", city="Leeds",
                     country="United Kingdom", source="Event", preferred_channel="post", tags=["corporate"])
    _backdate_creation(bob, datetime(2025, 1, 1))
    make_gift(bob.id, 200000, NOW - timedelta(days=400))

    cat = make_donor(first_name="Cat", last_name="Stevens", email="cat@example.org", marketing_opt_in=True, city="whitby",
                     postcode="YO22 4AA", interests=["education", "lifeboats"])
    _backdate_creation(cat, datetime(2026, 3, 1))
    for when in (datetime(2026, 4, 1), datetime(2026, 4, 15), datetime(2026, 5, 1), datetime(2026, 5, 15), datetime(2026, 5, 25)):
        make_gift(cat.id, 1000, when)
    set_marketing_consent(cat, False, source="unsubscribe link")
    start_plan(cat.id, PlanInput(kind="sponsorship", amount_minor=1500, currency="GBP", interval="monthly",
                                 started_at=date(2025, 6, 21), renews_on=date(2026, 6, 21)))

    dan = make_donor(first_name="Dan", last_name="Brown", email="dan@example.org", city="York")
    _backdate_creation(dan, NOW - timedelta(days=200))

    eve = make_donor(first_name="Eve", last_name="Online", email="eve@example.org", marketing_opt_in=True)
    _backdate_creation(eve, datetime(2024, 6, 1))
    make_gift(eve.id, 3000, datetime(2024, 6, 20))

    fay = make_donor(first_name="Fay", last_name="Wray", email="fay@example.org", marketing_opt_in=True, birthday=date(1990, 6, 1))
    _backdate_creation(fay, datetime(2026, 5, 20))
    make_gift(fay.id, 50000, datetime(2026, 5, 22))
    start_plan(fay.id, PlanInput(kind="recurring_gift", amount_minor=2000, currency="GBP", interval="monthly",
                                 started_at=date(2026, 5, 22)))
    db.session.commit()
    return {"Ada": ada.id, "Bob Ltd": bob.id, "Cat": cat.id, "Dan": dan.id, "Eve": eve.id, "Fay": fay.id}


def _names(rules, donors) -> set[str]:
    by_id = {v: k for k, v in donors.items()}
    return {by_id[i] for i in db.session.scalars(segments.members_select(rules))}


def one(field, op, value=None, match="all"):
    return {"match": match, "conditions": [{"field": field, "op": op, "value": value}]}


EVERYONE = {"Ada", "Bob Ltd", "Cat", "Dan", "Eve", "Fay"}
CASES = {
    "kind is organisation": (one("kind", "eq", "organisation"), {"Bob Ltd"}),
    "kind is not organisation": (one("kind", "ne", "organisation"), EVERYONE - {"Bob Ltd"}),
    "city is whitby (any case)": (one("city", "eq", "WHITBY"), {"Ada", "Cat"}),
    "city contains or": (one("city", "contains", "or"), {"Dan"}),
    "city is not whitby": (one("city", "ne", "Whitby"), EVERYONE - {"Ada", "Cat"}),
    "postcode starts YO21": (one("postcode", "starts", "yo21"), {"Ada"}),
    "postcode starts yo2": (one("postcode", "starts", "yo2"), {"Ada", "Cat"}),
    "percent is literal": (one("postcode", "contains", "%"), set()),
    "country empty": (one("country", "empty"), {"Cat", "Dan", "Eve", "Fay"}),
    "source set": (one("source", "present"), {"Ada", "Bob Ltd"}),
    "channel is not email": (one("preferred_channel", "ne", "email"), {"Bob Ltd"}),
    "joined in the last 30 days": (one("created_at", "within_last", 30), {"Fay"}),
    "joined before 2024": (one("created_at", "before", "2024-01-01"), {"Ada"}),
    "joined on or after 2026-03-01": (one("created_at", "on_or_after", "2026-03-01"), {"Cat", "Fay"}),
    "born before 1985": (one("birthday", "before", "1985-01-01"), {"Ada"}),
    "no birthday": (one("birthday", "empty"), {"Bob Ltd", "Cat", "Dan", "Eve"}),
    "has no email": (one("has_email", "false"), {"Bob Ltd"}),
    "can receive marketing": (one("marketing_ok", "true"), {"Ada", "Eve", "Fay"}),
    "cannot receive marketing": (one("marketing_ok", "false"), {"Bob Ltd", "Cat", "Dan"}),
    "unsubscribed": (one("unsubscribed", "true"), {"Cat"}),
    "tagged volunteer": (one("tags", "has", "volunteer"), {"Ada"}),
    "not tagged volunteer": (one("tags", "lacks", "volunteer"), EVERYONE - {"Ada"}),
    "interested in lifeboats": (one("interests", "has", "lifeboats"), {"Ada", "Cat"}),
    "interested in education": (one("interests", "has", "education"), {"Cat"}),
    "lifetime at least 1,000": (one("lifetime", "gte", "1,000"), {"Bob Ltd"}),
    "lifetime is zero": (one("lifetime", "eq", "0"), {"Dan"}),
    "lifetime under 100": (one("lifetime", "lt", "100"), {"Cat", "Dan", "Eve"}),
    "stored lifetime in minor units": (one("lifetime", "gte", 50000), {"Bob Ltd", "Fay"}),
    "five gifts or more": (one("gift_count", "gte", "5"), {"Cat"}),
    "exactly one gift": (one("gift_count", "eq", "1"), {"Bob Ltd", "Eve", "Fay"}),
    "first gift in the last 30 days": (one("first_gift", "within_last", "30"), {"Fay"}),
    "never gave": (one("first_gift", "empty"), {"Dan"}),
    "last gift over 548 days ago": (one("last_gift", "before_last", 548), {"Eve"}),
    "last gift in the last 14 days": (one("last_gift", "within_last", 14), {"Cat", "Fay"}),
    "gave in the last 12 months": (one("last_12m", "gt", "0"), {"Ada", "Cat", "Fay"}),
    "gave in the 12 months before": (one("prev_12m", "gt", "0"), {"Ada", "Bob Ltd", "Eve"}),
    "average gift at least 100": (one("average_gift", "gte", "100"), {"Bob Ltd", "Fay"}),
    "largest gift at least 100": (one("largest_gift", "gte", "100.00"), {"Ada", "Bob Ltd", "Fay"}),
    "gave in each of the last 3 years": (one("years_given", "gte", "3"), {"Ada"}),
    "gave in none of the last 3 years": (one("years_given", "eq", "0"), {"Dan"}),
    "has an active plan": (one("has_active_plan", "true"), {"Cat", "Fay"}),
    "no active plan": (one("has_active_plan", "false"), {"Ada", "Bob Ltd", "Dan", "Eve"}),
    "active sponsorship": (one("active_plan_kinds", "has", "sponsorship"), {"Cat"}),
    "active recurring gift": (one("active_plan_kinds", "has", "recurring_gift"), {"Fay"}),
    "renewal in the next 30 days": (one("next_renewal", "within_next", 30), {"Cat"}),
    "renewal in the next 10 days": (one("next_renewal", "within_next", 10), set()),
    "inactive for 180 days": (one("last_activity", "before_last", 180), {"Bob Ltd", "Dan", "Eve"}),
    # Cat changed her email preferences today; Fay's gift and plan start are dated ten days back.
    "active in the last 7 days": (one("last_activity", "within_last", 7), {"Cat"}),
    "opened an email in the last 30 days": (one("last_email_opened", "within_last", 30), {"Ada"}),
    "AND with a nested OR": ({"match": "all", "conditions": [
        {"field": "marketing_ok", "op": "true"},
        {"match": "any", "conditions": [{"field": "city", "op": "eq", "value": "Whitby"},
                                        {"field": "last_gift", "op": "within_last", "value": 14}]}]}, {"Ada", "Fay"}),
    "OR at the top": ({"match": "any", "conditions": [{"field": "kind", "op": "eq", "value": "organisation"},
                                                      {"field": "gift_count", "op": "gte", "value": 5}]}, {"Bob Ltd", "Cat"}),
    "no conditions: everyone": ({"match": "all", "conditions": []}, EVERYONE),
}


def test_each_condition_selects_exactly_the_expected_donors(donors):
    actual = {name: _names(rules, donors) for name, (rules, _) in CASES.items()}
    assert actual == {name: expected for name, (_, expected) in CASES.items()}


def test_ready_made_segments(donors):
    assert segments.seed_ready_made() == 8
    assert segments.seed_ready_made() == 0  # idempotent
    expected = {"new_donors": {"Fay"}, "loyal": {"Ada", "Cat"}, "major": {"Bob Ltd"}, "lapsing": {"Bob Ltd", "Eve"},
                "lapsed": {"Eve"}, "inactive_180": {"Bob Ltd", "Dan", "Eve"}, "sponsors_renewing": {"Cat"},
                "gift_aid_undeclared": {"Ada", "Eve", "Fay"}}
    actual = {key: _names(segments.segment_by_key(key), donors) for key in expected}
    assert actual == expected


def test_count_is_one_sql_statement_whatever_the_rules(donors):
    rules = {"match": "all", "conditions": [{"field": "marketing_ok", "op": "true"},
                                            {"field": "last_activity", "op": "within_last", "value": 365},
                                            {"field": "interests", "op": "has", "value": "lifeboats"}]}
    tree = segments.parse_rules(rules)
    statements = []
    engine = db.session.get_bind()
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        assert segments.count_members(tree) == 1
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert len(statements) == 1 and statements[0].lstrip().upper().startswith("SELECT")


def test_members_select_nests_inside_another_query_over_donors(donors):
    inner = segments.members_select(one("interests", "has", "lifeboats"))
    names = db.session.scalars(select(Donor.first_name).where(Donor.id.in_(inner), Donor.city == "Whitby")).all()
    assert names == ["Ada"]


def test_member_page_and_csv_export(donors):
    page = segments.members_page(one("marketing_ok", "true"), per_page=2)
    assert (page.total, page.pages, [d.first_name for d in page.donors]) == (3, 2, ["Ada", "Eve"])
    rows = "".join(segments.export_csv(one("marketing_ok", "true"), currency="GBP")).splitlines()
    assert rows[0].startswith("id,type,first_name")
    assert [row.split(",")[2] for row in rows[1:]] == ["Ada", "Eve", "Fay"]
    assert rows[1].split(",")[11] == "£225.00"


INVALID = [
    (one("nope", "eq", "x"), "0", "no field called"),
    (one("", "eq", "x"), "0", "Choose what to look at"),
    (one("lifetime", "contains", "x"), "0", "Choose how to compare"),
    (one("lifetime", "gte", ""), "0", "Enter a value"),
    (one("lifetime", "gte", "lots"), "0", "amount such as"),
    (one("gift_count", "gte", "2.5"), "0", "whole number"),
    (one("last_gift", "within_last", "a week"), "0", "number of days"),
    (one("last_gift", "before", "31/01/2026"), "0", "YYYY-MM-DD"),
    (one("kind", "eq", "alien"), "0", "listed values"),
    (one("tags", "has", "no-such-tag"), "0", "listed values"),
    ({"match": "all", "conditions": [{"match": "any", "conditions": []}]}, "0", "Add a condition to this group"),
    ({"match": "all", "conditions": [{"match": "any", "conditions": [{"match": "all", "conditions": []}]}]}, "0.0", "one level deep"),
    ({"match": "sometimes", "conditions": []}, "", "all or any"),
    ({"match": "all", "conditions": [{"field": "gift_count", "op": "gte", "value": 1}] * 41}, "", "at most 40"),
]


def test_invalid_rules_are_refused_with_a_message_for_the_condition():
    found = []
    for rules, path, _ in INVALID:
        try:
            segments.parse_rules(rules)
        except segments.RuleError as exc:
            found.append((path, exc.errors.get(path, "")))
        else:
            found.append((path, "accepted"))
    assert [(path, message in text) for (path, text), (_, _, message) in zip(found, INVALID)] == \
        [(path, True) for _, path, _ in INVALID], found


def test_saving_an_invalid_segment_saves_nothing():
    with pytest.raises(segments.SegmentError) as caught:
        segments.save_segment(None, name="Broken", description="", rules=one("lifetime", "gte", "lots"))
    assert "amount" in caught.value.rule_errors["0"]
    db.session.rollback()
    assert db.session.scalar(select(Segment.id)) is None


def test_save_stores_typed_money_in_minor_units_and_refuses_a_duplicate_name(donors):
    saved = segments.save_segment(None, name="Big givers", description="", rules=one("lifetime", "gte", "1,000"))
    assert saved.rules["conditions"][0]["value"] == 100000
    assert _names(saved, donors) == {"Bob Ltd"}
    with pytest.raises(segments.SegmentError, match="already has this name"):
        segments.save_segment(None, name="big GIVERS", description="", rules=one("gift_count", "gte", 1))


def test_a_registered_field_is_usable_in_rules(monkeypatch):
    monkeypatch.setitem(segments.FIELDS, "phone_set", None)  # removed again after the test
    segments.register_field("phone_set", "Has a phone number", "boolean", lambda: Donor.phone != "", group="Donor")
    with_phone = make_donor(first_name="Dan", phone="01234 567890")
    make_donor(first_name="Eve")
    assert list(db.session.scalars(segments.members_select(one("phone_set", "true")))) == [with_phone.id]
    with pytest.raises(ValueError, match="unknown value type"):
        segments.register_field("bad", "Bad", "colour", lambda: Donor.phone)


def test_describe_reads_like_a_sentence():
    make_donor(interests=["lifeboats"])
    lines = segments.describe({"match": "all", "conditions": [
        {"field": "lifetime", "op": "gte", "value": 100000},
        {"match": "any", "conditions": [{"field": "last_gift", "op": "within_last", "value": 30},
                                        {"field": "interests", "op": "has", "value": "lifeboats"}]}]})
    assert lines == ["Lifetime giving is at least £1,000", "(Last gift in the last 30 days or Interests includes lifeboats)"]


def test_a_calendar_date_starts_at_the_organisations_midnight(frozen):
    late = make_donor(first_name="Late", last_name="Joiner")
    # 23:30 UTC on 31 May is 00:30 on 1 June in London (summer time): a June joiner there.
    _backdate_creation(late, datetime(2026, 5, 31, 23, 30))
    early = make_donor(first_name="Early", last_name="Joiner")
    _backdate_creation(early, datetime(2026, 5, 31, 22, 30))

    def names(op: str) -> set[str]:
        rules = one("created_at", op, "2026-06-01")
        return {d.first_name for d in db.session.scalars(select(Donor).where(Donor.id.in_(segments.members_select(rules))))}

    assert names("before") == {"Early"}
    assert names("on_or_after") == {"Late"}
