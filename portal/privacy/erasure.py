"""Erasing a donor's personal data at their request, and the retention policy that does it on a schedule.

Each domain replaces the personal data in its own rows (portal.record_keepers); the donor record itself is
kept, anonymised, so that gifts keep their amounts, dates and funds and every report adds up as before.
The address is kept only as a hash: it is never emailed again and a new donor with it needs staff to
confirm. The audit trail records the request and its completion, never the erased data.
"""
from __future__ import annotations

from sqlalchemy import delete, or_

from portal.audit import services as audit
from portal import record_keepers as records
from portal.donors.models import DuplicatePair
from portal.donors.services import DonorError, anonymise_donor, get_donor, remember_erased_email
from portal.extensions import db
from portal.privacy.models import DataExport


def erase_donor(donor_id: int, *, actor=None, actor_label: str = "", reason: str = "request", ip_address: str = "",
                commit: bool = True) -> None:
    """Erase one donor's personal data in one transaction. `reason` is "request" (the donor asked) or
    "retention" (the organisation's retention policy)."""
    donor = get_donor(donor_id)
    if donor is None:
        raise DonorError("There is no such donor.")
    if donor.erased_at is not None:
        raise DonorError("This donor's personal data has already been erased.")
    audit.record("donor.erasure_requested", actor=actor, actor_label=actor_label, donor_id=donor_id,
                 summary="Erasure of personal data " + ("requested" if reason == "request" else "due under the retention policy"),
                 detail={"reason": reason}, ip_address=ip_address)
    remember_erased_email(donor.email)
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

