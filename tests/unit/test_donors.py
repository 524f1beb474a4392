from datetime import timedelta

import pytest
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from portal.donors import services as donors
from portal.donors.models import Donor
from portal.extensions import db
from portal.giving import services as giving
from portal.journey.models import Touchpoint
from portal.timeutil import utcnow
from tests.conftest import make_donor, make_gift

pytestmark = pytest.mark.usefixtures("ctx")


def names(page):
    return [d.display_name for d in page.donors]


def test_email_is_unique_case_insensitively_and_stored_lower_case():
    donor = make_donor(email="Ada@Example.ORG")
    assert donor.email == "ada@example.org"
    assert donors.email_taken("ADA@example.org")
    assert not donors.email_taken("ada@example.org", except_id=donor.id)
    with pytest.raises(donors.DonorError) as error:
        make_donor(email="ada@EXAMPLE.org", first_name="Other")
    assert error.value.field_name == "email"


def test_create_donor_records_consent_and_touchpoint():
    donor = make_donor(email="grace@example.org", marketing_opt_in=True, tags=["Volunteer", "volunteer ", "board"])
    assert donor.can_receive_marketing and donor.marketing_consent_source == "staff"
    assert [t.name for t in donor.tags] == ["board", "volunteer"]
    kinds = db.session.scalars(select(Touchpoint.kind).where(Touchpoint.donor_id == donor.id)).all()
    assert kinds == ["donor_created"]


def test_organisation_needs_a_name_and_individual_needs_a_name():
    with pytest.raises(donors.DonorError) as error:
        make_donor(kind="organisation", first_name="", last_name="")
    assert error.value.field_name == "organisation_name"
    db.session.rollback()
    with pytest.raises(donors.DonorError):
        make_donor(first_name=" ", last_name="")


def test_update_records_changed_fields_and_consent_withdrawal():
    donor = make_donor(email="a@example.org", marketing_opt_in=True)
    donors.update_donor(donor, {"city": "Whitby", "marketing_opt_in": False})
    assert donor.unsubscribed_at is not None and not donor.can_receive_marketing
    summaries = db.session.scalars(select(Touchpoint.summary).where(Touchpoint.donor_id == donor.id).order_by(Touchpoint.id)).all()
    assert "Opted out of marketing email (staff)" in summaries
    assert "Changed city" in summaries


@pytest.fixture
def people():
    now = utcnow()
    ada = make_donor(first_name="Ada", last_name="Lovelace", email="ada@example.org", tags=["board"])
    alan = make_donor(first_name="Alan", last_name="Turing", email="alan@example.org")
    acme = make_donor(kind="organisation", organisation_name="Acme Trust", first_name="", last_name="", email="hello@acme.example")
    grace = make_donor(first_name="Grace", last_name="Hopper", email="g.hopper@example.org", tags=["volunteer"])
    make_gift(ada.id, 50000, now - timedelta(days=10))
    make_gift(alan.id, 2000, now - timedelta(days=400))
    make_gift(acme.id, 100000, now - timedelta(days=200))
    from datetime import date

    giving.start_plan(grace.id, giving.PlanInput(kind="recurring_gift", amount_minor=1000, currency="GBP",
                                                 interval="monthly", started_at=date.today()))
    return {"ada": ada, "alan": alan, "acme": acme, "grace": grace}


def search(**kwargs):
    return donors.search_donors(donors.DonorFilter(**kwargs))


def test_search_by_name_prefix_email_tag_and_full_name(people):
    assert names(search(q="a")) == ["Acme Trust", "Ada Lovelace", "Alan Turing"]
    assert names(search(q="lov")) == ["Ada Lovelace"]
    assert names(search(q="ALAN")) == ["Alan Turing"]
    assert names(search(q="g.hop")) == ["Grace Hopper"]
    assert names(search(q="volun")) == ["Grace Hopper"]
    assert names(search(q="ada love")) == ["Ada Lovelace"]
    assert names(search(q="zzz")) == []


def test_filters_combine(people):
    assert names(search(kind="organisation")) == ["Acme Trust"]
    assert names(search(tag="board")) == ["Ada Lovelace"]
    assert names(search(recurring="yes")) == ["Grace Hopper"]
    assert names(search(recurring="no")) == ["Acme Trust", "Ada Lovelace", "Alan Turing"]
    assert names(search(gave_within_days=30)) == ["Ada Lovelace"]
    assert names(search(lifetime_min=10000)) == ["Acme Trust", "Ada Lovelace"]
    assert names(search(lifetime_min=1000, lifetime_max=60000)) == ["Ada Lovelace", "Alan Turing"]
    assert names(search(sort="-lifetime", lifetime_min=1)) == ["Acme Trust", "Ada Lovelace", "Alan Turing"]


def test_paging_clamps_to_the_last_page(people):
    page = donors.search_donors(donors.DonorFilter(), page=9, per_page=3)
    assert (page.total, page.pages, page.page, names(page)) == (4, 2, 2, ["Alan Turing"])


def test_parse_filters_keeps_a_message_for_each_bad_value():
    filters = donors.parse_filters(MultiDict({"gave_within": "soon", "lifetime_min": "abc", "lifetime_max": "10", "sort": "evil"}))
    assert set(filters.errors) == {"gave_within", "lifetime_min"}
    assert filters.gave_within_days is None and filters.lifetime_max == 1000 and filters.sort == "name"
    reversed_range = donors.parse_filters(MultiDict({"lifetime_min": "50", "lifetime_max": "10"}))
    assert "lifetime_max" in reversed_range.errors and reversed_range.lifetime_max is None


def test_export_streams_the_filtered_list(people):
    text = "".join(donors.export_csv(donors.DonorFilter(lifetime_min=10000)))
    lines = text.strip().splitlines()
    assert lines[0].startswith("id,kind,title,first_name")
    assert len(lines) == 3
    assert any(",Acme Trust," in line and line.endswith(",1000.00") for line in lines)


def test_headline_numbers_count_retained_donors():
    now = utcnow()
    kept = make_donor(email="kept@example.org")
    lost = make_donor(email="lost@example.org")
    make_gift(kept.id, 1000, now - timedelta(days=500))
    make_gift(kept.id, 1000, now - timedelta(days=20))
    make_gift(lost.id, 1000, now - timedelta(days=500))
    numbers = donors.headline_numbers()
    assert numbers["donors"] == 2
    assert (numbers["retained"], numbers["previous_period_donors"], numbers["retention_rate"]) == (1, 2, 50.0)
    assert db.session.scalar(select(Donor.id).where(Donor.email == "kept@example.org")) == kept.id
