"""The donor import's check for likely duplicates (of donors on file and within the file) and for the
addresses of erased donors, and what staff choose about them at the confirm step."""
import itertools
from datetime import date

import pytest
from sqlalchemy import event, func, select

from portal.donors import imports
from portal.donors import services as donor_services
from portal.donors.duplicates import ImportMatcher
from portal.donors.imports import tasks
from portal.donors.models import Donor, ImportBatch
from portal.extensions import db
from tests.conftest import make_donor, make_user

pytestmark = pytest.mark.usefixtures("ctx")

HEADER = "First name,Last name,Email,Phone,Address line 1,Postcode,Birthday\n"
_users = itertools.count(1)


def _checked(text: str) -> ImportBatch:
    actor = make_user("fundraiser", f"fundraiser-{next(_users)}@harbour.example.org", name="Fundraiser")
    batch = imports.create_batch("donors", "donors.csv", (HEADER + text).encode(), actor=actor)
    imports.save_mapping(batch, batch.mapping["columns"], day_first=True)
    db.session.expire_all()
    return db.session.get(ImportBatch, batch.id)


def _fresh(batch: ImportBatch) -> ImportBatch:
    db.session.expire_all()
    return db.session.get(ImportBatch, batch.id)


def _by_level(batch: ImportBatch, level: str) -> dict[int, str]:
    return {p["row"]: p["message"] for p in batch.errors if p["level"] == level}


def _emails() -> set[str]:
    return set(db.session.scalars(select(Donor.email).where(Donor.email.is_not(None))))


def test_each_rule_flags_a_row_with_the_donor_and_the_reasons_in_words():
    clarke = make_donor(first_name="Amelia", last_name="Clarke", postcode="YO21 3PU")
    smith = make_donor(first_name="Robert", last_name="Smith", address_line1="4 Quay St", postcode="YO22 4AB")
    hale = make_donor(first_name="Ann", last_name="Hale", phone="07700 900123")
    okafor = make_donor(first_name="Chidi", last_name="Okafor", birthday=date(1980, 5, 17))
    make_donor(first_name="Mary", last_name="Jones", postcode="LS6 2AB")
    batch = _checked("amélia,CLARKE,a@example.org,,,yo21 3pu,\n"            # same name and postcode
                     "Bob,Smith,b@example.org,,4 Quay St,YO22 4AB,\n"       # similar name at the same address
                     "Ann,Hale,c@example.org,+44 7700 900123,,,\n"          # same name and phone
                     "Okafor,Chidi,d@example.org,,,,17/05/1980\n"           # swapped name and the same birthday
                     "Mary,Jones,e@example.org,,,YO1 7HH,\n")               # the same name alone: no
    assert _by_level(batch, "duplicate") == {
        2: f"Likely the same person as donor #{clarke.id} Amelia Clarke (the same name apart from accents or "
           f"punctuation and the same postcode (YO213PU)).",
        3: f"Likely the same person as donor #{smith.id} Robert Smith (“Bob” is short for, or the same name as, "
           f"“Robert” at the same address).",
        4: f"Likely the same person as donor #{hale.id} Ann Hale (the same name and the same phone number).",
        5: f"Likely the same person as donor #{okafor.id} Chidi Okafor (first and last name swapped and the same birthday).",
    }
    assert batch.valid_rows == 1
    assert imports.problem_counts(batch)["duplicates"] == 4
    assert {p["column"] for p in batch.errors} == {"Last name"}


def test_two_rows_of_the_file_that_are_one_person_flag_the_later_one():
    batch = _checked("Priya,Patel,p1@example.org,,,B1 1AA,\n"
                     "Olu,Mensah,o@example.org,,,B1 1AA,\n"
                     "priya,patel,p2@example.org,,,B1 1AA,\n"
                     "Priya,Patel,p3@example.org,,,M1 1AA,\n")
    assert _by_level(batch, "duplicate") == {
        4: "Likely the same person as row 2 of this file (the same name and the same postcode (B11AA))."}
    assert batch.valid_rows == 3


def test_duplicates_are_skipped_by_default_and_imported_when_staff_choose():
    make_donor(first_name="Amelia", last_name="Clarke", email="amelia@example.org", postcode="YO21 3PU")
    rows = "Amelia,Clarke,amelia2@example.org,,,YO21 3PU,\nNew,Person,new@example.org,,,,\n"
    skipped = _checked(rows)
    imports.confirm(skipped, skip_invalid=False)
    skipped = _fresh(skipped)
    assert (skipped.status, skipped.imported_rows) == ("imported", 1)
    assert skipped.message == "Imported 1 donor. 1 likely duplicate was skipped."
    assert _emails() == {"amelia@example.org", "new@example.org"}

    again = _checked(rows.replace("new@", "newer@"))
    imports.confirm(again, skip_invalid=False, include_duplicates=True)
    again = _fresh(again)
    assert (again.status, again.imported_rows, again.message) == ("imported", 2, "Imported 2 donors.")
    assert {"amelia2@example.org", "newer@example.org"} <= _emails()


def test_a_file_of_only_duplicates_needs_the_box_ticked():
    make_donor(first_name="Amelia", last_name="Clarke", postcode="YO21 3PU")
    batch = _checked("Amelia,Clarke,,,,YO21 3PU,\n")
    with pytest.raises(imports.ImportProblem, match="every row that passed the check is a likely duplicate"):
        imports.confirm(batch, skip_invalid=False)
    imports.confirm(batch, skip_invalid=False, include_duplicates=True)
    assert _fresh(batch).imported_rows == 1
    assert db.session.scalar(select(func.count()).where(Donor.last_name == "Clarke")) == 2


def test_erased_donors_are_not_candidates():
    donor = make_donor(first_name="Amelia", last_name="Clarke", postcode="YO21 3PU")
    donor.erased_at = donor.created_at
    db.session.commit()
    assert _by_level(_checked("Amelia,Clarke,,,,YO21 3PU,\n"), "duplicate") == {}


def test_the_matcher_reads_the_donors_on_file_once_per_chunk():
    for number in range(3):
        make_donor(first_name="Amelia", last_name=f"Clarke{number}", postcode="YO21 3PU")
    statements = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        matches = ImportMatcher().match_chunk([(n + 2, {"first_name": "Amelia", "last_name": f"Clarke{n % 3}",
                                                         "postcode": "YO21 3PU"}) for n in range(30)])
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert len(statements) == 1
    assert len(matches) == 30 and all(len(m.donors) == 1 for m in matches.values())
    assert [row for row, _ in matches[8].earlier_rows] == [2, 5], "the earlier rows that are the same person, up to 3"


def test_an_erased_address_is_a_row_error_unless_staff_say_they_asked_to_be_added_again():
    donor_services.remember_erased_email("Gone@Example.org")
    db.session.commit()
    batch = _checked("Grace,Hopper,gone@example.org,,,,\nAlan,Turing,alan@example.org,,,,\n")
    assert _by_level(batch, "error") == {
        2: "This address belonged to a donor whose data was erased at their request."}
    assert batch.valid_rows == 1
    counts = imports.problem_counts(batch)
    assert (counts["bad_rows"], counts["erased_rows"]) == (1, 1)
    with pytest.raises(imports.ImportProblem, match="1 row has problems"):
        imports.confirm(batch, skip_invalid=False)

    imports.confirm(batch, skip_invalid=False, include_erased=True)
    batch = _fresh(batch)
    assert (batch.status, batch.imported_rows) == ("imported", 2)
    assert {"gone@example.org", "alan@example.org"} <= _emails()


def test_skipping_an_erased_address_leaves_it_out():
    donor_services.remember_erased_email("gone@example.org")
    db.session.commit()
    batch = _checked("Grace,Hopper,gone@example.org,,,,\nAlan,Turing,alan@example.org,,,,\n")
    imports.confirm(batch, skip_invalid=True)
    assert _fresh(batch).imported_rows == 1
    assert "gone@example.org" not in _emails()


def test_an_address_erased_after_the_check_stops_the_import():
    batch = _checked("Grace,Hopper,grace@example.org,,,,\n")
    donor_services.remember_erased_email("grace@example.org")
    db.session.commit()
    imports.confirm(batch, skip_invalid=False)
    batch = _fresh(batch)
    assert batch.status == "failed"
    assert "row 2 is no longer valid since the check: This address belonged to a donor whose data was erased" in batch.message
    assert "grace@example.org" not in _emails()


def test_ticking_re_add_does_not_let_other_errors_through():
    donor_services.remember_erased_email("gone@example.org")
    db.session.commit()
    batch = _checked("Grace,Hopper,gone@example.org,,,,31/02/1990\n,,nameless@example.org,,,,\n")
    with pytest.raises(imports.ImportProblem, match="1 row has problems"):
        imports.confirm(batch, skip_invalid=False, include_erased=True)
    imports.confirm(batch, skip_invalid=True, include_erased=True)
    batch = _fresh(batch)
    assert batch.imported_rows == 1
    assert tasks._skipped_rows(batch) == {"skipped_with_problems": 1, "on_file": 0, "likely_duplicates": 0}
