from datetime import date

import pytest

from portal.donors import duplicates
from portal.donors.duplicates import Profile, compare
from portal.donors.names import fold, match_key, phone_key
from portal.donors.models import DuplicatePair
from portal.extensions import db
from tests.conftest import make_donor, make_user

pytestmark = pytest.mark.usefixtures("ctx")


def profile(first="Amelia", last="Clarke", *, kind="individual", org="", phone="", line1="", city="", postcode="", birthday=None, id=None):
    return Profile(id, kind, first, last, org, phone, line1, city, postcode, birthday)


def test_folding_ignores_accents_case_punctuation_nicknames_and_order():
    assert fold("  Zoë O'Brién ") == "zoe o brien"
    assert match_key("individual", "Bob", "Smith") == match_key("individual", "Robert", "smith") == match_key("individual", "Smith", "Rob")
    assert match_key("individual", "José", "Núñez") == match_key("individual", "jose", "NUNEZ")
    assert match_key("individual", "Amelia", "Clarke") != match_key("individual", "Amelia", "Clark")
    assert phone_key("07700 900123") == phone_key("+44 7700 900-123") == phone_key("(07700) 900123")


@pytest.mark.parametrize("a, b, expected", [
    (profile(postcode="YO21 3PU"), profile(postcode="yo213pu"), ["The same name and the same postcode (YO213PU)"]),
    (profile(phone="07700 900123"), profile(first="amelia", last="CLARKE", phone="+44 7700 900123"),
     ["The same name and the same phone number"]),
    (profile("Bob", "Smith", line1="4 Quay Street", postcode="YO21 3PU"),
     profile("Robert", "Smith", line1="4 quay street.", postcode="YO213PU"),
     ["“Robert” is short for, or the same name as, “Bob” at the same address"]),
    (profile("Clarke", "Amelia", birthday=date(1984, 3, 21)), profile(birthday=date(1984, 3, 21)),
     ["First and last name swapped and the same birthday"]),
    (profile("Zoë", "Brien", line1="1 High St", city="Whitby"), profile("Zoe", "Brien", line1="1 High St", city="whitby"),
     ["The same name apart from accents or punctuation at the same address"]),
])
def test_pairs_that_are_one_person(a, b, expected):
    score, reasons = compare(a, b)
    assert reasons == expected and score >= 60


@pytest.mark.parametrize("a, b", [
    # Same name, different people: different addresses, phones and birthdays.
    (profile(line1="4 Quay Street", postcode="YO21 3PU", phone="07700 900123", birthday=date(1984, 3, 21)),
     profile(line1="9 Mill Lane", postcode="LS6 2AB", phone="07700 900999", birthday=date(1990, 1, 2))),
    # Same name and town but no postcode, phone, address or birthday in common.
    (profile(city="Whitby"), profile(city="Whitby")),
    # A nickname alone is only a similar name: same postcode is not enough (the rule needs the same address).
    (profile("Bob", "Smith", postcode="YO21 3PU", line1="1 High St"), profile("Robert", "Smith", postcode="YO21 3PU", line1="7 Low Rd")),
    # Same address and birthday, different names: a couple or family, not a duplicate.
    (profile("Amelia", "Clarke", line1="4 Quay St", postcode="YO21 3PU", birthday=date(1984, 3, 21)),
     profile("Oliver", "Clarke", line1="4 Quay St", postcode="YO21 3PU", birthday=date(1984, 3, 21))),
    # Empty fields never match each other.
    (profile(), profile()),
])
def test_pairs_that_are_not_proposed(a, b):
    assert compare(a, b) == (0, [])


def test_candidates_while_adding_a_donor_skip_other_people():
    same = make_donor(first_name="Amelia", last_name="Clarke", email="amelia@example.org", postcode="YO21 3PU")
    make_donor(first_name="Amelia", last_name="Clarke", email="other.amelia@example.org", postcode="LS6 2AB")
    found = duplicates.candidates_for({"kind": "individual", "first_name": "amélia", "last_name": "Clarke", "postcode": "yo21 3pu"})
    assert [(c.donor.id, c.reasons) for c in found] == [(same.id, ["The same name apart from accents or punctuation and the same postcode (YO213PU)"])]


def test_scan_fills_the_queue_and_remembers_not_a_duplicate():
    a = make_donor(first_name="Bob", last_name="Smith", address_line1="4 Quay St", postcode="YO21 3PU")
    b = make_donor(first_name="Robert", last_name="Smith", address_line1="4 Quay St", postcode="YO21 3PU", phone="07700 900123")
    c = make_donor(first_name="Robert", last_name="Smith", phone="07700 900123")
    make_donor(first_name="Robert", last_name="Smith", address_line1="1 Elsewhere", postcode="LS6 2AB")
    assert duplicates.scan()["added"] == 2
    queue, total = duplicates.review_queue()
    assert total == 2
    assert [(p.donor_a_id, p.donor_b_id) for p in queue] == [(b.id, c.id), (a.id, b.id)]
    assert queue[0].reasons == ["The same name and the same phone number"]
    staff = make_user("fundraiser")
    duplicates.mark_not_duplicate(queue[0], actor=staff)
    assert duplicates.scan() == {"pairs": 2, "added": 0, "updated": 0, "removed": 0}
    assert [(p.donor_a_id, p.donor_b_id) for p in duplicates.review_queue()[0]] == [(a.id, b.id)]
    assert db.session.get(DuplicatePair, queue[0].id).status == "not_duplicate"
    from portal.audit.services import events_for
    assert [e.action for e in events_for(donor_id=b.id)] == ["donor.not_duplicate"]


def test_scan_drops_open_pairs_that_no_longer_match():
    a = make_donor(first_name="Ann", last_name="Lee", phone="0113 496 0000")
    make_donor(first_name="Ann", last_name="Lee", phone="0113 496 0000")
    duplicates.scan()
    from portal.donors import services
    services.update_donor(a, {"phone": "0113 496 1111"})
    assert duplicates.scan()["removed"] == 1
    assert duplicates.review_queue()[1] == 0
