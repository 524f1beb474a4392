"""Gift imports that are safe to run again, currencies, donors named two ways, and the audit of each import."""
import itertools
from datetime import datetime

import pytest
from sqlalchemy import func, select

from portal.audit.models import AuditEvent
from portal.donors import imports
from portal.donors.models import ImportBatch
from portal.extensions import db
from portal.giving.models import DonorStats, Gift
from portal.settings.services import organisation
from tests.conftest import make_donor, make_gift, make_user

pytestmark = pytest.mark.usefixtures("ctx")

_users = itertools.count(1)

# The shape of the file a charity brought from its old CRM: US dates, dollar amounts, its own column names.
GIFTS_CSV = ("Constituent ID,Primary Email,Gift Date,Gift Amount,Fund Description,Gift Type,Appeal\n"
             "H0001,ann@example.org,01/15/2023,\"1,234.56\",General,Cash,Spring\n"
             "H0001,ann@example.org,03/02/2024,25.00,General,Cheque,Spring\n"
             "H0002,ben@example.org,12/31/2024,10.00,Lifeboats,Credit Card,\n"
             "H0002,ben@example.org,12/31/2024,10.00,Lifeboats,Credit Card,\n")


def _donors():
    ann = make_donor(first_name="Ann", last_name="Archer", email="ann@example.org")
    ben = make_donor(first_name="Ben", last_name="Baker", email="ben@example.org")
    ann.external_ref, ben.external_ref = "H0001", "H0002"
    db.session.commit()
    return ann.id, ben.id


def _fresh(batch: ImportBatch) -> ImportBatch:
    db.session.expire_all()
    return db.session.get(ImportBatch, batch.id)


def _checked(text: str, *, day_first: bool = False, mapping: list[str] | None = None, source_system: str = "",
             filename: str = "gifts.csv") -> ImportBatch:
    actor = make_user("fundraiser", f"fundraiser-{next(_users)}@harbour.example.org", name="Fundraiser")
    batch = imports.create_batch("gifts", filename, text.encode(), actor=actor)
    imports.save_mapping(batch, mapping or batch.mapping["columns"], day_first=day_first, source_system=source_system)
    return _fresh(batch)


def _imported(batch: ImportBatch, **choices) -> ImportBatch:
    imports.confirm(batch, skip_invalid=choices.pop("skip_invalid", False), **choices)
    return _fresh(batch)


def _messages(batch: ImportBatch, level: str = "error") -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    for problem in batch.errors:
        if problem["level"] == level:
            found.setdefault(problem["row"], []).append(problem["message"])
    return found


def _gift_totals() -> tuple[int, int]:
    return db.session.execute(select(func.count(), func.coalesce(func.sum(Gift.amount_minor), 0))).one()


def _use_usd():
    organisation().currency = "USD"
    db.session.commit()


# ---------------------------------------------------------------- running the same file twice

def test_importing_the_same_gift_file_twice_writes_nothing_the_second_time():
    _use_usd()
    ann_id, ben_id = _donors()
    first = _imported(_checked(GIFTS_CSV))
    assert (first.status, first.imported_rows) == ("imported", 4)
    assert _gift_totals() == (4, 127956)

    again = _checked(GIFTS_CSV, filename="gifts (1).csv")
    assert imports.earlier_import(again).id == first.id, "the whole file is recognised by its content"
    assert again.valid_rows == 0
    on_file = _messages(again, "on_file")
    assert sorted(on_file) == [2, 3, 4, 5]
    assert on_file[2] == ["Already on file: this donor has a gift of $1,234.56 on 15 Jan 2023 to General."]
    counts = imports.problem_counts(again)
    assert (counts["bad_rows"], counts["on_file"], counts["on_file_overridable"]) == (0, 4, 4)
    with pytest.raises(imports.ImportProblem, match="Nothing to import: every row that passed the check is already on file"):
        imports.confirm(again, skip_invalid=False)
    assert _gift_totals() == (4, 127956)
    assert db.session.get(DonorStats, ben_id).gift_count == 2


def test_a_file_with_some_new_gifts_imports_only_the_new_ones():
    _use_usd()
    _donors()
    _imported(_checked(GIFTS_CSV))
    grown = GIFTS_CSV + "H0002,ben@example.org,01/05/2025,7.50,Lifeboats,Online,\n"
    batch = _checked(grown)
    assert imports.earlier_import(batch) is None, "a different file is not the same file"
    assert (batch.valid_rows, len(_messages(batch, "on_file"))) == (1, 4)
    done = _imported(batch)
    assert (done.imported_rows, done.message) == (1, "Imported 1 gift. 4 rows already on file were skipped.")
    assert _gift_totals() == (5, 127956 + 750)


def test_identical_gifts_within_one_file_are_both_imported_and_shown():
    _use_usd()
    _donors()
    batch = _checked(GIFTS_CSV)
    assert _messages(batch, "warning") == {5: ["Same donor, date, amount and fund as row 4; both are imported."]}
    assert batch.valid_rows == 4


def test_each_gift_on_file_accounts_for_one_row():
    """One identical gift already on file and two in the file: one of the two is new."""
    _use_usd()
    _, ben_id = _donors()
    make_gift(ben_id, 1000, datetime(2024, 12, 31, 15, 30), fund="lifeboats ")
    batch = _checked(GIFTS_CSV)
    assert list(_messages(batch, "on_file")) == [4]
    assert batch.valid_rows == 3
    _imported(batch)
    assert db.session.get(DonorStats, ben_id).gift_count == 2


def test_rows_already_on_file_are_imported_when_staff_say_so():
    _use_usd()
    _donors()
    _imported(_checked(GIFTS_CSV))
    again = _checked(GIFTS_CSV)
    done = _imported(again, include_on_file=True)
    assert (done.status, done.imported_rows) == ("imported", 4)
    assert _gift_totals()[0] == 8


def test_gifts_with_the_old_systems_id_are_matched_on_system_and_id():
    _donors()
    text = ("Gift ID,Email,Date,Amount\n"
            "G-1,ann@example.org,2024-01-02,5\n"
            "G-2,ann@example.org,2024-01-02,5\n"
            "G-2,ben@example.org,2024-02-02,9\n")
    batch = _checked(text, day_first=True, source_system="Raiser's Edge")
    assert _messages(batch) == {4: ["Duplicate gift ID: the same ID is on row 3."]}
    assert _messages(batch, "warning") == {3: ["Same donor, date, amount and fund as row 2; both are imported."]}
    _imported(batch, skip_invalid=True)
    stored = db.session.scalars(select(Gift.source_gift_id).where(Gift.source_system == "Raiser's Edge")).all()
    assert sorted(stored) == ["G-1", "G-2"]

    again = _checked(text.replace("G-2,ben@example.org,2024-02-02,9", "G-3,ben@example.org,2024-02-02,9"),
                     day_first=True, source_system="Raiser's Edge")
    assert _messages(again, "on_file") == {2: ["Already on file: gift G-1 from Raiser's Edge was imported before."],
                                           3: ["Already on file: gift G-2 from Raiser's Edge was imported before."]}
    counts = imports.problem_counts(again)
    assert (again.valid_rows, counts["on_file_overridable"]) == (1, 0), "a known gift id is never imported twice"
    assert _imported(again, include_on_file=True).imported_rows == 1
    assert _gift_totals()[0] == 3

    other_system = _checked(text.replace("G-2,ben@example.org,2024-02-02,9\n", ""), day_first=True, source_system="Salesforce")
    assert (other_system.valid_rows, _messages(other_system, "on_file")) == (2, {}), \
        "gifts carrying an id are matched on (system, id) only"
    without_ids = _checked("Email,Date,Amount\nann@example.org,2024-01-02,5\nann@example.org,2024-01-02,5\n", day_first=True)
    assert (without_ids.valid_rows, list(_messages(without_ids, "on_file"))) == (0, [2, 3])


def test_a_gift_id_column_needs_the_name_of_its_system():
    _donors()
    batch = imports.create_batch("gifts", "g.csv", b"Gift ID,Email,Date,Amount\nG-1,ann@example.org,2024-01-02,5\n")
    with pytest.raises(imports.MappingProblem, match="Name the system the gift IDs come from"):
        imports.save_mapping(batch, batch.mapping["columns"], day_first=True, source_system="  ")
    imports.save_mapping(batch, batch.mapping["columns"], day_first=True, source_system="Old CRM")
    following = imports.create_batch("gifts", "h.csv", b"Gift ID,Email,Date,Amount\nG-2,ann@example.org,2024-01-02,5\n")
    assert following.source_system == "Old CRM", "the next upload suggests the same system"


# ---------------------------------------------------------------- currencies

def test_amounts_in_another_currency_are_refused_without_a_currency_column():
    _donors()
    text = ("Email,Date,Amount\n"
            "ann@example.org,2024-01-02,$15.00\n"
            "ann@example.org,2024-01-02,USD 12.00\n"
            "ann@example.org,2024-01-02,\"€1.234,56\"\n"
            "ann@example.org,2024-01-02,£5.00\n"
            "ann@example.org,2024-01-02,5.00 GBP\n"
            "ann@example.org,2024-01-02,7.25\n")
    batch = _checked(text, day_first=True)
    tail = "but amounts are read as GBP (the organisation's currency). Map a currency column, or convert the amounts."
    assert _messages(batch) == {2: [f"The amount is in dollars ($), {tail}"],
                                3: [f"The amount is in USD, {tail}"],
                                4: [f"The amount is in EUR, {tail}"]}
    assert batch.valid_rows == 3


def test_a_mapped_currency_column_is_checked_against_the_amount():
    _donors()
    text = ("Email,Date,Amount,Currency\n"
            "ann@example.org,2024-01-02,$15.00,GBP\n"
            "ann@example.org,2024-01-02,15.00,USD\n"
            "ann@example.org,2024-01-02,£15.00,GBP\n"
            "ann@example.org,2024-01-02,15.00,gbp\n")
    batch = _checked(text, day_first=True)
    assert _messages(batch) == {2: ["The amount is in dollars ($) but the currency column says GBP."],
                                3: ["Only gifts in GBP (the organisation's currency) can be imported."]}


def test_dollar_amounts_are_read_for_an_organisation_in_dollars():
    _use_usd()
    _donors()
    batch = _checked("Email,Date,Amount\nann@example.org,01/02/2024,$15.00\nann@example.org,01/02/2024,€15.00\n")
    assert batch.valid_rows == 1
    assert list(_messages(batch)) == [3]


# ---------------------------------------------------------------- a reference and an email that disagree

def test_a_reference_and_an_email_naming_different_donors_is_an_error_naming_both():
    _donors()
    text = ("Constituent ID,Email,Date,Amount\n"
            "H0001,ben@example.org,2024-01-02,5\n"
            "H0001,ann@example.org,2024-01-02,6\n"
            "H0001,new@example.org,2024-01-02,7\n")
    batch = _checked(text, day_first=True)
    assert _messages(batch) == {2: ["The reference H0001 is Ann Archer (ann@example.org) but the email "
                                    "ben@example.org is Ben Baker (ben@example.org): check which donor this gift is from."]}
    assert _messages(batch, "warning") == {4: ["No donor on file with this email; matched by reference instead."]}
    assert batch.valid_rows == 2


# ---------------------------------------------------------------- the date example follows the file

def test_the_date_example_follows_the_files_order():
    _donors()
    month_first = _checked("Email,Date,Amount\nann@example.org,the 3rd,5\n", day_first=False)
    assert _messages(month_first) == {2: ["Date not understood: use a date such as 2025-03-31 or 03/31/2025."]}
    day_first = _checked("Email,Date,Amount\nann@example.org,the 3rd,5\n", day_first=True)
    assert _messages(day_first) == {2: ["Date not understood: use a date such as 2025-03-31 or 31/03/2025."]}


# ---------------------------------------------------------------- the audit trail

def test_each_import_is_recorded_in_the_audit_trail():
    _use_usd()
    _donors()
    batch = _imported(_checked(GIFTS_CSV))
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "import.gifts"))
    assert event.actor_user_id == batch.created_by_id
    assert event.summary == "Imported 4 gifts from gifts.csv"
    assert event.detail == {"batch_id": batch.id, "filename": "gifts.csv", "rows_written": 4,
                            "skipped_with_problems": 0, "on_file": 0}
    donors = imports.create_batch("donors", "people.csv", b"First name,Email\nCy,cy@example.org\n",
                                  actor=make_user("fundraiser", "people-importer@harbour.example.org"))
    imports.save_mapping(donors, donors.mapping["columns"], day_first=True)
    imports.confirm(_fresh(donors), skip_invalid=False)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "import.donors"))
    assert (event.actor_label, event.detail["rows_written"], event.detail["filename"]) == \
        ("people-importer@harbour.example.org", 1, "people.csv")
