"""Imported donors' "supporter since" and journey start, and the columns other CRMs name differently."""
from datetime import datetime

import pytest
from sqlalchemy import select

from portal.donors import imports
from portal.donors.imports.values import METHODS, _key
from portal.donors.models import Donor, ImportBatch
from portal.engagement.segments import services as segments
from portal.extensions import db
from portal.journey import services as journey
from portal.journey.models import Touchpoint
from tests.conftest import make_user

pytestmark = pytest.mark.usefixtures("ctx")


def _run(kind: str, text: str, *, day_first: bool = True) -> ImportBatch:
    batch = imports.create_batch(kind, f"{kind}.csv", text.encode(), actor=make_user("fundraiser", f"{kind}@harbour.example.org")
                                 if kind == "donors" else None)
    imports.save_mapping(batch, batch.mapping["columns"], day_first=day_first)
    db.session.expire_all()
    batch = db.session.get(ImportBatch, batch.id)
    imports.confirm(batch, skip_invalid=True)
    db.session.expire_all()
    return db.session.get(ImportBatch, batch.id)


def _donor(ref: str) -> Donor:
    return db.session.scalar(select(Donor).where(Donor.external_ref == ref))


def _journey_start(donor_id: int) -> datetime:
    return db.session.scalar(select(Touchpoint.occurred_at).where(Touchpoint.donor_id == donor_id,
                                                                  Touchpoint.kind == "donor_created"))


def test_imported_donors_are_supporters_since_their_first_gift_not_the_import():
    _run("donors", "Constituent ID,First name,Last name,Email\nH0001,Ann,Archer,ann@example.org\n"
                   "H0002,Ben,Baker,ben@example.org\n")
    ann, ben = _donor("H0001"), _donor("H0002")
    assert ann.since.date() == datetime.utcnow().date(), "until history arrives, they joined when imported"
    _run("gifts", "Constituent ID,Gift Date,Gift Amount\nH0001,15/01/2023,25\nH0001,03/02/2024,25\n")
    db.session.expire_all()
    ann, ben = _donor("H0001"), _donor("H0002")
    assert ann.since == datetime(2023, 1, 15, 12, 0), "a date alone is read as noon in London"
    assert _journey_start(ann.id) == datetime(2023, 1, 15, 12, 0)
    timeline = journey.timeline(ann.id, limit=10).items
    assert [t.kind for t in timeline][-1] == "donor_created", "Became a supporter comes before the gifts"
    assert ben.since.date() == datetime.utcnow().date(), "a donor without history keeps the import date"


def test_a_joined_column_sets_supporter_since_and_an_earlier_gift_still_wins():
    batch = _run("donors", "Name,Email,Date Added,Constituent ID\n"
                           "Ann Marie Archer,ann@example.org,01/06/2019,H0001\n"
                           "\"Baker, Ben\",ben@example.org,01/06/2021,H0002\n"
                           "Cy,cy@example.org,someday,H0003\n")
    assert batch.mapping["columns"] == ["full_name", "email", "supporter_since", "external_ref"]
    ann, ben, cy = _donor("H0001"), _donor("H0002"), _donor("H0003")
    assert (ann.first_name, ann.last_name, ben.first_name, ben.last_name) == ("Ann Marie", "Archer", "Ben", "Baker")
    assert (cy.first_name, cy.last_name) == ("", "Cy")
    assert ann.since == datetime(2019, 6, 1, 11, 0), "noon on 1 June 2019 in London (BST) is 11:00 UTC"
    assert _journey_start(ann.id) == ann.since
    assert [p["message"] for p in batch.errors] == ["Joining date not understood; the import date is used."]
    _run("gifts", "Constituent ID,Gift Date,Gift Amount\nH0001,15/01/2023,25\nH0002,15/01/2020,25\n")
    db.session.expire_all()
    assert _donor("H0001").since == datetime(2019, 6, 1, 11, 0), "a later first gift leaves the joining date"
    assert _donor("H0002").since == datetime(2020, 1, 15, 12, 0), "an earlier first gift moves it back"


def test_the_became_a_supporter_segment_field_reads_supporter_since():
    _run("donors", "Constituent ID,Name,Joined\nH0001,Ann Archer,2019-06-01\nH0002,Ben Baker,\n")
    expression = segments.FIELDS["created_at"].expression_factory()
    found = db.session.scalars(select(Donor.external_ref).where(expression < datetime(2020, 1, 1))).all()
    assert found == ["H0001"]


def test_gift_type_names_and_payment_synonyms_are_read_as_the_payment_method():
    headers = ["Constituent ID", "Primary Email", "Gift Date", "Gift Amount", "Fund Description", "Gift Type", "Appeal"]
    assert imports.guess_mapping("gifts", headers) == [
        "external_ref", "donor_email", "received_at", "amount", "fund", "method", "campaign"]
    for text, method in (("Cash", "cash"), ("Check", "cheque"), ("cheque", "cheque"), ("Credit Card", "card"),
                         ("Direct Debit", "direct_debit"), ("Standing Order", "bank_transfer"), ("Online", "online")):
        assert METHODS[_key(text)] == method, text


def test_full_name_and_joined_columns_are_guessed():
    assert imports.guess_mapping("donors", ["Full Name", "E-mail", "Date Joined"]) == ["full_name", "email", "supporter_since"]
    assert imports.guess_mapping("donors", ["Name", "Created Date"]) == ["full_name", "supporter_since"]
    assert imports.guess_mapping("donors", ["First Name", "Last Name", "Organisation Name"]) == [
        "first_name", "last_name", "organisation_name"]
