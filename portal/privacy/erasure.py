"""Erasing a donor's personal data at their request, and the retention policy that does it on a schedule.

Each domain replaces the personal data in its own rows (portal.donors.records); the donor record itself is
kept, anonymised, so that gifts keep their amounts, dates and funds and every report adds up as before.
The address is kept only as a hash: it is never emailed again and a new donor with it needs staff to
confirm. The audit trail records the request and its completion, never the erased data.
"""
from __future__ import annotations

import hashlib

from sqlalchemy import delete, or_

from portal.donors import records
from portal.donors.models import DuplicatePair
from portal.donors.services import DonorError, anonymise_donor, get_donor, normalise_email
from portal.extensions import db
from portal.privacy.models import DataExport, ErasedEmail


def email_hash(email: str) -> str:
    return hashlib.sha256(email.encode()).hexdigest()


def was_erased(email: str | None) -> bool:
    email = normalise_email(email)
    return bool(email) and db.session.get(ErasedEmail, email_hash(email)) is not None


def erase_donor(donor_id: int, *, actor=None, actor_label: str = "", reason: str = "request", ip_address: str = "",
                commit: bool = True) -> None:
    """Erase one donor's personal data in one transaction. `reason` is "request" (the donor asked) or
    "retention" (the organisation's retention policy)."""
    from portal.audit import services as audit

    donor = get_donor(donor_id)
    if donor is None:
        raise DonorError("There is no such donor.")
    if donor.erased_at is not None:
        raise DonorError("This donor's personal data has already been erased.")
    audit.record("donor.erasure_requested", actor=actor, actor_label=actor_label, donor_id=donor_id,
                 summary="Erasure of personal data " + ("requested" if reason == "request" else "due under the retention policy"),
                 detail={"reason": reason}, ip_address=ip_address)
    if donor.email and db.session.get(ErasedEmail, email_hash(donor.email)) is None:
        db.session.add(ErasedEmail(email_hash=email_hash(donor.email)))
    erased_by = []
    for keeper in records.keepers():
        if keeper.erase:
            keeper.erase(donor_id)
            erased_by.append(keeper.name)
    db.session.execute(delete(DataExport).where(DataExport.donor_id == donor_id))
    db.session.execute(delete(DuplicatePair).where(or_(DuplicatePair.donor_a_id == donor_id, DuplicatePair.donor_b_id == donor_id)))
    anonymise_donor(donor)
    audit.record("donor.erased", actor=actor, actor_label=actor_label, donor_id=donor_id,
                 summary="Personal data erased; gifts kept on the anonymous record", detail={"domains": erased_by},
                 ip_address=ip_address)
    if commit:
        db.session.commit()

