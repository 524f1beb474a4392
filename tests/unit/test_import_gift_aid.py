"""The "Gift Aid" column of the donor and gift imports: offered with UK Gift Aid only, guessed from header
names, yes/no and dates checked per row, counted at the check, and declarations recorded once."""
import itertools
from datetime import date

import pytest
from sqlalchemy import func, select

from portal.donors import imports
from portal.donors.models import Donor, ImportBatch
from portal.extensions import db
from portal.giving.models import Gift
from portal.journey.models import Touchpoint
from portal.taxrelief import services as taxrelief
from portal.taxrelief.models import Declaration
from tests.conftest import make_donor, make_user

pytestmark = pytest.mark.usefixtures("ctx")
_users = itertools.count(1)


@pytest.fixture
def gift_aid_on():
    taxrelief.update_settings(scheme_key="uk_gift_aid")


def _fresh(batch: ImportBatch) -> ImportBatch:
    db.session.expire_all()
    return db.session.get(ImportBatch, batch.id)


def _checked(kind: str, text: str, *, mapping: list[str] | None = None) -> ImportBatch:
    actor = make_user("fundraiser", f"fundraiser-{next(_users)}@harbour.example.org", name="Fundraiser")
    batch = imports.create_batch(kind, f"{kind}.csv", text.encode(), actor=actor)
    imports.save_mapping(batch, mapping or batch.mapping["columns"], day_first=True)
    return _fresh(batch)


def _imported(batch: ImportBatch, **choices) -> ImportBatch:
    imports.confirm(batch, skip_invalid=choices.pop("skip_invalid", False), **choices)
    return _fresh(batch)


def _declarations() -> list[tuple]:
    return [(d.donor_id, d.scope, d.method, d.made_on, d.gift_id) for d in
            db.session.scalars(select(Declaration).order_by(Declaration.id))]


def _errors(batch: ImportBatch, level: str = "error") -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    for problem in batch.errors:
        if problem["level"] == level:
            found.setdefault(problem["row"], []).append(problem["message"])
    return found


# ---------------------------------------------------------------- offered and guessed

@pytest.mark.parametrize("kind", ["donors", "gifts"])
def test_the_gift_aid_fields_are_offered_only_under_uk_gift_aid(kind):
    assert "gift_aid" not in imports.targets_for(kind)
    taxrelief.update_settings(scheme_key="us_irs")
    assert "gift_aid" not in imports.targets_for(kind)
    taxrelief.update_settings(scheme_key="uk_gift_aid")
    targets = imports.targets_for(kind)
    assert targets["gift_aid"].label == "Gift Aid (yes/no)"
    assert targets["gift_aid_date"].label == "Gift Aid declaration date"


@pytest.mark.parametrize("header", ["Gift Aid", "Gift Aid declaration", "GA", "Gift Aid eligible", "GiftAid",
                                    "Gift-Aided"])
def test_gift_aid_columns_are_guessed_from_their_headers(gift_aid_on, header):
    headers = ["First name", "Last name", header, "Gift Aid declaration date"]
    assert imports.guess_mapping("donors", headers, imports.targets_for("donors")) == \
        ["first_name", "last_name", "gift_aid", "gift_aid_date"]


def test_gift_aid_is_not_guessed_or_accepted_when_the_scheme_is_off():
    batch = imports.create_batch("donors", "d.csv", b"First name,Gift Aid\nAda,yes\n")
    assert batch.mapping["columns"] == ["first_name", ""]
    with pytest.raises(imports.MappingProblem) as refused:
        imports.save_mapping(batch, ["first_name", "gift_aid"], day_first=True)
    assert refused.value.columns == {1: "Choose a field from the list."}


# ---------------------------------------------------------------- donor files

def test_a_donor_file_checks_the_values_and_counts_the_declarations(gift_aid_on):
    batch = _checked("donors", "First name,Last name,Organisation,Gift Aid,Gift Aid declaration date\n"
                               "Ada,Lovelace,,Yes,14/02/2024\n"
                               "Bob,Smith,,n,\n"
                               "Cy,Twin,,maybe,\n"
                               "Di,Lamb,,Y,31/02/2024\n"
                               "Ed,Ward,,x,01/01/2999\n"
                               ",,Lifeboat Trust,yes,\n"
                               "Flo,Hart,,,\n"
                               "Gus,Lee,,TRUE,\n")
    assert _errors(batch) == {
        4: ["Gift Aid (yes/no) must be yes or no (or left blank)."],
        5: ["Gift Aid declaration date not understood: use a date such as 2025-03-31 or 31/03/2025."],
        6: ["Gift Aid declaration date is in the future."],
    }
    assert batch.valid_rows == 5
    assert batch.extra_counts == {"gift_aid": 2}, "Ada and Gus; never an organisation"
    assert _errors(batch, "warning") == {7: ["An organisation can't make a Gift Aid declaration, so none is recorded."]}
    assert imports.extra_summaries(batch) == ["2 Gift Aid declarations"]
    assert imports.preview_columns(batch) == ["First name", "Last name", "Organisation name", "Gift Aid (yes/no)",
                                              "Gift Aid declaration date"]
    assert [item["cells"][-2:] for item in batch.preview] == [["Yes", "2024-02-14"], ["No", ""], ["Yes", ""],
                                                              ["", ""], ["Yes", ""]]


def test_a_donor_import_records_past_and_future_paper_declarations(gift_aid_on):
    batch = _imported(_checked("donors", "First name,Last name,Gift Aid,Gift Aid declaration date\n"
                                         "Ada,Lovelace,Yes,14/02/2024\n"
                                         "Bob,Smith,no,01/03/2024\n"
                                         "Gus,Lee,yes,\n"))
    assert batch.status == "imported"
    assert batch.message == "Imported 3 donors. Recorded 2 Gift Aid declarations."
    ada, gus = (db.session.scalar(select(Donor.id).where(Donor.first_name == name)) for name in ("Ada", "Gus"))
    assert _declarations() == [(ada, "past_and_future", "paper", date(2024, 2, 14), None),
                               (gus, "past_and_future", "paper", taxrelief.local_today(), None)]
    declaration = db.session.scalar(select(Declaration).where(Declaration.donor_id == ada))
    assert declaration.wording == taxrelief.wording("past_and_future")
    assert declaration.recorded_by_id == batch.created_by_id
    touchpoint = db.session.scalar(select(Touchpoint).where(Touchpoint.kind == "gift_aid_declared",
                                                            Touchpoint.donor_id == ada))
    assert touchpoint.summary == "Gift Aid declaration: gifts in the last 4 years, this gift and all future gifts (imported)"
    assert touchpoint.processed_at is not None, "imported history reacts to nothing"
    assert taxrelief.current_declaration(ada) is not None


def test_a_donor_file_imported_again_records_no_second_declaration(gift_aid_on):
    text = "First name,Email,Gift Aid\nAda,ada@example.org,yes\n"
    _imported(_checked("donors", text))
    again = _checked("donors", text)
    assert again.valid_rows == 0 and again.extra_counts == {"gift_aid": 0}
    assert len(_declarations()) == 1


def test_a_scheme_switched_off_after_mapping_records_nothing(gift_aid_on):
    batch = _checked("donors", "First name,Gift Aid\nAda,yes\n")
    assert batch.extra_counts == {"gift_aid": 1}
    taxrelief.update_settings(scheme_key="none")
    batch = _imported(batch)
    assert batch.message == "Imported 1 donor."
    assert _declarations() == []


# ---------------------------------------------------------------- gift files

def test_a_gift_import_records_a_this_gift_declaration_unless_one_covers_the_gift(gift_aid_on):
    ada = make_donor(first_name="Ada", email="ada@example.org")
    bea = make_donor(first_name="Bea", email="bea@example.org")
    trust = make_donor(kind="organisation", organisation_name="Lifeboat Trust", email="trust@example.org")
    taxrelief.make_declaration(bea.id, scope="future", method="online", made_on=date(2024, 1, 1))
    ada_id, bea_id, trust_id = ada.id, bea.id, trust.id
    text = ("Email,Amount,Date,GA\n"
            "ada@example.org,20.00,05/03/2024,yes\n"
            "ada@example.org,15.00,06/03/2024,no\n"
            "bea@example.org,30.00,05/03/2024,yes\n"
            "trust@example.org,500.00,05/03/2024,yes\n"
            "ada@example.org,25.00,07/03/2024,perhaps\n")
    batch = _checked("gifts", text)
    assert batch.mapping["columns"] == ["donor_email", "amount", "received_at", "gift_aid"]
    assert _errors(batch) == {6: ["Gift Aid (yes/no) must be yes or no (or left blank)."]}
    assert batch.extra_counts == {"gift_aid": 1}, "Bea's declaration covers hers; a trust can't declare"
    assert _errors(batch, "warning") == {
        4: ["A Gift Aid declaration on file already covers this gift, so no other is recorded."],
        5: ["An organisation can't make a Gift Aid declaration, so none is recorded."]}
    batch = _imported(batch, skip_invalid=True)
    assert batch.message == "Imported 4 gifts. Recorded 1 Gift Aid declaration."
    gift = db.session.scalar(select(Declaration).where(Declaration.donor_id == ada_id)).gift_id
    assert _declarations()[1:] == [(ada_id, "this_gift", "paper", date(2024, 3, 5), gift)]
    assert [a.reason for a in taxrelief.assess_gifts([gift]).values()] == [None], "the gift is now eligible"
    declared = db.session.get(Gift, gift)
    assert (declared.amount_minor, declared.received_at.date()) == (2000, date(2024, 3, 5)), "the row's own gift"
    assert "my donation of £20.00" in db.session.scalar(select(Declaration.wording).where(Declaration.gift_id == gift))
    assert db.session.scalar(select(func.count()).select_from(Declaration).where(
        Declaration.donor_id.in_([bea_id, trust_id]))) == 1

    again = _checked("gifts", text)
    assert again.extra_counts == {"gift_aid": 0}
    assert again.valid_rows == 0 and imports.problem_counts(again)["on_file"] == 4
    assert len(_declarations()) == 2, "importing the file again records no second declaration"


def test_a_gift_declaration_date_is_used_when_given(gift_aid_on):
    ada = make_donor(first_name="Ada", email="ada@example.org")
    ada_id = ada.id
    batch = _imported(_checked("gifts", "Email,Amount,Date,Gift Aid,Gift Aid declaration date\n"
                                        "ada@example.org,20.00,05/03/2024,yes,2024-03-01\n"))
    assert [(d[0], d[1], d[3]) for d in _declarations()] == [(ada_id, "this_gift", date(2024, 3, 1))]
    assert batch.imported_rows == 1
