"""Merging two donor records that are one person into one.

Everything about the merged-away donor moves to the survivor in one transaction: each domain moves its own
rows (portal.record_keepers), this module the donor's own (profile, consent, tags, interests, topic
opt-outs, the duplicate queue). The merged-away row is then deleted and its id redirects to the survivor.
A merge is not undone automatically: the audit entry lists what moved, and a wrong merge is separated by
hand.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, or_, select, update

from portal import record_keepers as records
from portal.audit import services as audit
from portal.donors.models import Donor, DonorRedirect, DuplicatePair
from portal.donors.preferences import TopicOptOut
from portal.donors.services import PROFILE_FIELDS, DonorError, get_donor, set_marketing_consent
from portal.extensions import db
from portal.journey import services as journey

# The fields staff choose between, side by side, in the order the merge page shows them.
MERGE_FIELDS = tuple(name for name in PROFILE_FIELDS if name not in ("kind", "notes"))


@dataclass
class MergeResult:
    survivor: Donor
    merged_id: int
    taken: list[str]


def resolve(donor_id: int) -> int | None:
    """The donor id to show for `donor_id`: itself, or the survivor it was merged into."""
    if db.session.get(Donor, donor_id) is not None:
        return donor_id
    redirect = db.session.get(DonorRedirect, donor_id)
    return redirect.donor_id if redirect else None


def side_by_side(survivor: Donor, other: Donor) -> list[dict]:
    """The rows of the merge page: each field's two values and which one is kept unless staff choose."""
    out = []
    for name in MERGE_FIELDS:
        ours, theirs = getattr(survivor, name), getattr(other, name)
        out.append({"name": name, "label": name.replace("_", " ").replace("line1", "line 1").replace("line2", "line 2").capitalize(),
                    "survivor": ours, "other": theirs, "differs": ours != theirs,
                    "default": "other" if (ours in ("", None) and theirs not in ("", None)) else "survivor"})
    return out


def merge(survivor_id: int, other_id: int, *, take_from_other: set[str] | None = None, actor=None) -> MergeResult:
    """Merge `other` into `survivor`. `take_from_other` names the fields whose value comes from the other
    record (empty survivor fields are filled from it anyway). Commits."""
    if survivor_id == other_id:
        raise DonorError("Choose two different donors to merge.")
    survivor, other = get_donor(survivor_id), get_donor(other_id)
    if survivor is None or other is None:
        raise DonorError("One of these donors no longer exists; it may have been merged already.")
    if survivor.erased_at or other.erased_at:
        raise DonorError("An erased donor's record cannot be merged.")
    if survivor.kind != other.kind:
        raise DonorError("An individual and an organisation cannot be merged.")
    unknown = set(take_from_other or ()) - set(MERGE_FIELDS)
    if unknown:
        raise DonorError(f"Unknown field {sorted(unknown)[0]!r}.")
    taken = [row["name"] for row in side_by_side(survivor, other)
             if row["name"] in (take_from_other or ()) or (row["default"] == "other")]
    values = {name: getattr(other, name) for name in taken}
    if "email" in values:
        other.email = None  # the address is unique: free it before the survivor takes it
        db.session.flush()
    for name, value in values.items():
        setattr(survivor, name, value)
    survivor.refresh_keys()
    if other.notes:
        survivor.notes = "\n\n".join(part for part in (survivor.notes, other.notes) if part)
    survivor.tags = sorted({*survivor.tags, *other.tags}, key=lambda tag: tag.name)
    survivor.interests = sorted({*survivor.interests, *other.interests}, key=lambda tag: tag.name)
    _merge_consent(survivor, other, actor)
    db.session.flush()

    for keeper in records.keepers():
        if keeper.move:
            keeper.move(other_id, survivor_id)
    db.session.execute(delete(DuplicatePair).where(or_(DuplicatePair.donor_a_id == other_id, DuplicatePair.donor_b_id == other_id)))
    db.session.execute(update(DonorRedirect).where(DonorRedirect.donor_id == other_id).values(donor_id=survivor_id))
    db.session.add(DonorRedirect(merged_id=other_id, donor_id=survivor_id))
    journey.record(survivor_id, "donors_merged", f"Donor #{other_id} merged into this record", actor=actor,
                   data={"merged_id": other_id, "fields_taken": taken})
    audit.record("donor.merge", actor=actor, donor_id=survivor_id, summary=f"Donor #{other_id} merged into donor #{survivor_id}",
                 detail={"merged_id": other_id, "survivor_id": survivor_id, "fields_taken": taken})
    db.session.flush()
    db.session.expire(other)
    db.session.execute(delete(Donor).where(Donor.id == other_id))
    db.session.commit()
    db.session.expire_all()
    return MergeResult(get_donor(survivor_id), other_id, taken)


def _merge_consent(survivor: Donor, other: Donor, actor) -> None:
    """The most restrictive choice wins; both histories stay (the consent touchpoints move with the rest)."""
    if survivor.marketing_opt_in and not other.marketing_opt_in:
        set_marketing_consent(survivor, False, source="merge: the other record had not opted in", actor=actor)
    opted_out = set(db.session.scalars(select(TopicOptOut.topic).where(TopicOptOut.donor_id == survivor.id)))
    for row in db.session.scalars(select(TopicOptOut).where(TopicOptOut.donor_id == other.id)).all():
        if row.topic not in opted_out:
            db.session.add(TopicOptOut(donor_id=survivor.id, topic=row.topic, source=row.source, created_at=row.created_at))
        db.session.delete(row)
