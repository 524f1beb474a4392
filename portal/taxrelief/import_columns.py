"""The "Gift Aid" column of the donor and gift CSV imports: declarations recorded from a file.

A donor row saying yes records a paper declaration for this and future gifts and the last 4 years, made on
the row's declaration date or the import date. A gift row saying yes records a declaration for that gift
only, made on the declaration date or the gift's date, unless a declaration already covers the gift.
Organisations can't make declarations, so their rows record none.
"""
from __future__ import annotations

from datetime import date

from sqlalchemy import select

from portal import bulk_insert
from portal.donors import imports
from portal.donors.models import Donor
from portal.extensions import db
from portal.journey import services as journey
from portal.settings.services import organisation
from portal.taxrelief import rules
from portal.taxrelief.models import SCOPES, Declaration
from portal.taxrelief.services import WORDING_VERSION, gift_aid_on, terms_of, wording
from portal.timeutil import to_local, utcnow

GIFT_AID = imports.Target("gift_aid", "Gift Aid (yes/no)", (
    "gift aid", "gift aid declaration", "ga", "gift aid eligible", "giftaid", "gift aided", "gift aid declared",
    "gift aid status", "gift aid yes no", "gift aid declaration held", "eligible for gift aid", "ga eligible"),
    r"\bgift ?aid\b")
GIFT_AID_DATE = imports.Target("gift_aid_date", "Gift Aid declaration date", (
    "gift aid declaration date", "gift aid date", "declaration date", "ga date", "ga declaration date",
    "gift aid declared on", "date of declaration", "gift aid declaration made"))
DONOR_SCOPE = "past_and_future"
GIFT_SCOPE = "this_gift"
METHOD = "paper"
CHUNK = 5000


def register() -> None:
    imports.register_extra(imports.ExtraColumns(
        key="gift_aid", kinds=("donors", "gifts"),
        fields=(imports.ExtraField(GIFT_AID, "yes_no"), imports.ExtraField(GIFT_AID_DATE, "date")),
        offered=gift_aid_on, planned=planned, write=write,
        nouns=("Gift Aid declaration", "Gift Aid declarations")))


ORGANISATION = "An organisation can't make a Gift Aid declaration, so none is recorded."
COVERED = "A Gift Aid declaration on file already covers this gift, so no other is recorded."


def planned(kind: str, rows: list[imports.ExtraRow]) -> tuple[int, list[tuple[int, str, str]]]:
    """How many declarations the rows will record, and why rows saying yes record none (read only: nothing
    is written at the check)."""
    declaring, passed_over = _sorted(kind, rows)
    return len(declaring), [(row.row, GIFT_AID.name, reason) for row, reason in passed_over]


def write(kind: str, rows: list[imports.ExtraRow], actor) -> int:
    """Record the declarations of rows just imported, in the import's transaction (no commit); each gets a
    "Gift Aid declaration made" touchpoint, written as history (it reacts to nothing)."""
    declaring, _ = _sorted(kind, rows)
    if not declaring:
        return 0
    tz = organisation().timezone
    recorded_by = getattr(actor, "id", None) if getattr(actor, "is_staff", False) else None
    donor_wording = wording(DONOR_SCOPE)
    records, now = [], utcnow()
    for row in declaring:
        made_on = row.values.get(GIFT_AID_DATE.name)
        if kind == "donors":
            scope, text, made_on = DONOR_SCOPE, donor_wording, made_on or row.import_day
        else:
            scope, text = GIFT_SCOPE, wording(GIFT_SCOPE, amount_minor=row.amount_minor)
            made_on = made_on or to_local(row.received_at, tz).date()
        records.append({"donor_id": row.donor_id, "scope": scope, "method": METHOD, "made_on": made_on,
                        "gift_id": row.gift_id if scope == GIFT_SCOPE else None, "wording_version": WORDING_VERSION,
                        "wording": text, "cancel_reason": "", "recorded_by_id": recorded_by, "created_at": now})
    for start in range(0, len(records), CHUNK):
        part = records[start:start + CHUNK]
        ids = bulk_insert.insert_returning_ids(Declaration, part)
        journey.record_many([{"donor_id": record["donor_id"], "kind": "gift_aid_declared",
                              "summary": f"Gift Aid declaration: {SCOPES[record['scope']].lower()} (imported)",
                              "data": {"declaration_id": declaration_id, "scope": record["scope"],
                                       "method": METHOD, "imported": True}}
                             for record, declaration_id in zip(part, ids)], actor=actor, channel="import")
    return len(records)


def _sorted(kind: str, rows: list[imports.ExtraRow]) -> tuple[list[imports.ExtraRow], list[tuple[imports.ExtraRow, str]]]:
    """The rows saying yes that record a declaration (individuals only, and for gifts only those no
    declaration on file covers), and those that don't, with the reason."""
    saying_yes = [row for row in rows if row.values.get(GIFT_AID.name) is True]
    if kind == "donors":
        return ([row for row in saying_yes if row.donor_kind == "individual"],
                [(row, ORGANISATION) for row in saying_yes if row.donor_kind != "individual"])
    donor_ids = {row.donor_id for row in saying_yes}
    if not donor_ids:
        return [], []
    individuals = set(db.session.scalars(select(Donor.id).where(Donor.id.in_(donor_ids),
                                                                 Donor.kind == "individual")))
    on_file: dict[int, list[rules.DeclarationTerms]] = {}
    for declaration in db.session.scalars(select(Declaration).where(Declaration.donor_id.in_(individuals))):
        on_file.setdefault(declaration.donor_id, []).append(terms_of(declaration))
    tz = organisation().timezone
    declaring, passed_over = [], []
    for row in saying_yes:
        if row.donor_id not in individuals:
            passed_over.append((row, ORGANISATION))
            continue
        received_on: date = to_local(row.received_at, tz).date()
        # A new gift has no id yet (or one no declaration names): only a standing declaration can cover it.
        if rules.declaration_reason(on_file.get(row.donor_id, []), row.gift_id or 0, received_on) is not None:
            declaring.append(row)
        else:
            passed_over.append((row, COVERED))
    return declaring, passed_over
