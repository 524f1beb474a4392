"""What the portal's pages ask of the other domains beyond one call: the signed-in donor, saving their details."""
from __future__ import annotations

from sqlalchemy.orm import lazyload

from portal.donors import preferences
from portal.donors.models import Donor
from portal.donors.services import DonorError, update_donor
from portal.extensions import db


def signed_in_donor(donor_id: int | None) -> Donor | None:
    # Tags and interests load only on the pages that show them, not with every request.
    return db.session.get(Donor, donor_id, options=[lazyload(Donor.tags), lazyload(Donor.interests)]) if donor_id else None


def save_profile(donor: Donor, values: dict, causes: list[str], *, actor) -> Donor:
    """The donor's details and chosen causes; commits. DonorError or PreferenceError (with the field at fault
    when known) rolls the transaction back."""
    try:
        values["interests"] = preferences.interests_with_causes(donor, causes)
        return update_donor(donor, values, actor=actor)
    except (DonorError, preferences.PreferenceError):
        db.session.rollback()
        raise
