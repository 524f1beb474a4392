"""Donors: creating and editing them, consent, tags and erased addresses; the public API other domains call.

The filtered list staff work from (search, filters, sorting, paging, the CSV export) is portal.donors.search;
its entry points are offered here too."""
from __future__ import annotations

import hashlib
from datetime import date, timedelta
from typing import Iterable

from sqlalchemy import bindparam, func, literal_column, select, update

from portal import bulk_insert
from portal.audit import services as audit
from portal.donors.duplicates import candidates_for
from portal.donors.models import DONOR_KINDS, Donor, ErasedEmail, Tag, donor_interests, donor_tags
# The filtered list's entry points, for the domains that reach donors through this module.
from portal.donors.search import (DonorFilter, all_tag_names, export_csv, export_row_count, matching_ids, parse_filters,
                                  search_donors)
from portal.extensions import db
from portal.giving.models import DonorStats, Gift
from portal.journey import services as journey
from portal.timeutil import utcnow


class DonorError(ValueError):
    def __init__(self, message: str, field_name: str | None = None):
        super().__init__(message)
        self.field_name = field_name


class PossibleDuplicates(DonorError):
    """The new donor looks like someone already recorded; staff choose that donor or create anyway."""

    def __init__(self, candidates: list):
        super().__init__("This may be a donor we already have.")
        self.candidates = candidates


PROFILE_FIELDS = ("kind", "title", "first_name", "last_name", "organisation_name", "email", "phone", "birthday",
                  "address_line1", "address_line2", "city", "region", "postcode", "country",
                  "preferred_channel", "source", "notes")


def normalise_email(email: str | None) -> str | None:
    email = (email or "").strip().lower()
    return email or None


def erased_email_hash(email: str) -> str:
    return hashlib.sha256(email.encode()).hexdigest()


def was_erased(email: str | None) -> bool:
    """Whether this address belonged to a donor whose personal data was erased (only its hash is kept)."""
    email = normalise_email(email)
    return bool(email) and db.session.get(ErasedEmail, erased_email_hash(email)) is not None


def erased_among(emails: Iterable[str]) -> set[str]:
    """Those of these (normalised) addresses that belonged to an erased donor: one query per 500."""
    by_hash = {erased_email_hash(email): email for email in emails if email}
    hashes, found = list(by_hash), set()
    for start in range(0, len(hashes), 500):
        found.update(by_hash[h] for h in db.session.scalars(
            select(ErasedEmail.email_hash).where(ErasedEmail.email_hash.in_(hashes[start:start + 500]))))
    return found


def remember_erased_email(email: str | None) -> None:
    """Keep an erased donor's address as a hash, so it is never emailed again or re-added unasked (no commit)."""
    email = normalise_email(email)
    if email and db.session.get(ErasedEmail, erased_email_hash(email)) is None:
        db.session.add(ErasedEmail(email_hash=erased_email_hash(email)))


def email_taken(email: str | None, *, except_id: int | None = None) -> bool:
    email = normalise_email(email)
    if not email:
        return False
    query = select(Donor.id).where(Donor.email == email)
    if except_id:
        query = query.where(Donor.id != except_id)
    return db.session.scalar(query.limit(1)) is not None


def donor_by_email(email: str | None) -> Donor | None:
    """The donor recorded under this address (normalised first), if any."""
    email = normalise_email(email)
    return db.session.scalar(select(Donor).where(Donor.email == email)) if email else None


def tags_by_name(names: Iterable[str]) -> list[Tag]:
    """Find or create tags by name (lower-cased, trimmed, de-duplicated)."""
    wanted = _tag_keys(names)
    if not wanted:
        return []
    existing = {t.name: t for t in db.session.scalars(select(Tag).where(Tag.name.in_(wanted)))}
    for name in wanted:
        if name not in existing:
            existing[name] = Tag(name=name)
            db.session.add(existing[name])
    return [existing[n] for n in wanted]


def split_tags(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").replace(";", ",").split(",") if part.strip()]


def _apply_profile(donor: Donor, values: dict) -> None:
    for name in PROFILE_FIELDS:
        if name in values:
            value = values[name]
            if name == "email":
                value = normalise_email(value)
            elif isinstance(value, str):
                value = value.strip()
            elif value is None and name != "birthday":
                value = ""
            setattr(donor, name, value)
    if donor.kind not in DONOR_KINDS:
        raise DonorError("Choose individual or organisation.", "kind")
    if donor.kind == "organisation" and not donor.organisation_name:
        raise DonorError("An organisation needs a name.", "organisation_name")
    if donor.kind == "individual" and not (donor.first_name or donor.last_name):
        raise DonorError("Enter a first or last name.", "last_name")
    if "tags" in values:
        donor.tags = tags_by_name(values["tags"])
    if "interests" in values:
        donor.interests = tags_by_name(values["interests"])
    donor.refresh_keys()


ERASED_EMAIL_MESSAGE = ("A donor with this email address asked us to erase their data. Add them again only if they "
                        "have asked to be added: tick the box to confirm.")


def create_donor(values: dict, *, actor=None, consent_source: str = "staff", commit: bool = True,
                 confirm_erased_email: bool = True, allow_duplicates: bool = True) -> Donor:
    """Add a donor. The staff form passes False for the two checks until staff confirm: an address whose
    donor was erased is refused, and likely duplicates raise PossibleDuplicates with the candidates (after
    rolling back, when this call owns the transaction). Commits unless `commit` is False."""
    if email_taken(values.get("email")):
        raise DonorError("Another donor already has this email address.", "email")
    if not confirm_erased_email and was_erased(values.get("email")):
        raise DonorError(ERASED_EMAIL_MESSAGE, "email")
    if not allow_duplicates:
        candidates = candidates_for(values)
        if candidates:
            if commit:
                db.session.rollback()
            raise PossibleDuplicates(candidates)
    donor = Donor()
    _apply_profile(donor, values)
    db.session.add(donor)
    db.session.flush()
    if values.get("marketing_opt_in"):
        set_marketing_consent(donor, True, source=consent_source, actor=actor, record_touchpoint=False)
    journey.record(donor.id, "donor_created", f"Added by {actor.name or actor.email}" if actor else "Joined",
                   actor=actor, data={"source": donor.source})
    if commit:
        db.session.commit()
    return donor


class _ProfileRow:
    """A donor's columns without the ORM's instrumentation, for _apply_profile and set_marketing_consent to
    work on when thousands of rows are written at once (what they read and set is plain attributes)."""

    refresh_keys = Donor.refresh_keys
    marketing_opt_in = False
    marketing_consent_at = None
    marketing_consent_source = ""


def add_imported_donors(rows: list[dict], *, summary: str, actor=None, consent_source: str, channel: str = "",
                        data: dict | None = None) -> list[int]:
    """Add many new donors to the current transaction (no commit), each with its donor_created touchpoint;
    returns their ids in the order of `rows`.

    Each row holds every field of PROFILE_FIELDS, plus tags, interests, external_ref and marketing_opt_in.
    The importer has already checked every row and every email against the file and the database at once,
    so this skips create_donor's per-row email query. Each row still goes through the same profile and
    consent rules as one donor does, and the rows are then written with multi-row INSERTs, which is what
    makes 100k donors take seconds rather than minutes.
    """
    now = utcnow()
    records, tag_links, interest_links = [], [], []
    for values in rows:
        donor = _ProfileRow()
        _apply_profile(donor, {key: value for key, value in values.items() if key not in ("tags", "interests")})
        if values.get("marketing_opt_in"):
            set_marketing_consent(donor, True, source=consent_source, record_touchpoint=False)
        records.append({
            **{name: getattr(donor, name) for name in PROFILE_FIELDS},
            "name_key": donor.name_key, "first_key": donor.first_key, "match_key": donor.match_key, "external_ref": values.get("external_ref") or None,
            "marketing_opt_in": donor.marketing_opt_in, "marketing_consent_at": donor.marketing_consent_at,
            "marketing_consent_source": donor.marketing_consent_source, "unsubscribed_at": None,
            "supporter_since": values.get("supporter_since") or now, "created_at": now, "updated_at": now,
        })
        tag_links.append(_tag_keys(values.get("tags", ())))
        interest_links.append(_tag_keys(values.get("interests", ())))
    if not records:
        return []
    ids = bulk_insert.insert_returning_ids(Donor, records)
    found = tags_by_name({name for names in tag_links + interest_links for name in names})
    db.session.flush()  # new tags need their ids
    tags = {tag.name: tag.id for tag in found}
    for table, links in ((donor_tags, tag_links), (donor_interests, interest_links)):
        pairs = [{"donor_id": donor_id, "tag_id": tags[name]} for donor_id, names in zip(ids, links) for name in names]
        bulk_insert.insert_rows(table, pairs)
    journey.record_many([{"donor_id": donor_id, "kind": "donor_created", "summary": summary,
                          "occurred_at": record["supporter_since"],
                          "data": {"source": record["source"], **(data or {})}} for donor_id, record in zip(ids, records)],
                        actor=actor, channel=channel)
    return ids


def settle_supporter_since(donor_ids: Iterable[int], *, chunk: int = 1000) -> int:
    """Move each donor's "supporter since", and the start of their journey, back to their earliest known
    moment: a joining date already recorded, or their first touchpoint (every gift writes one, dated when
    it was received). History imported after the donor (gifts from the old system) is what moves it.
    No commit; returns how many donors moved."""
    wanted = sorted(set(donor_ids))
    moved = 0
    for start in range(0, len(wanted), chunk):
        part = wanted[start:start + chunk]
        earliest = journey.earliest_activity(part)
        starts = {donor_id: earliest[donor_id] for donor_id, since, created in db.session.execute(
            select(Donor.id, Donor.supporter_since, Donor.created_at).where(Donor.id.in_(earliest)))
            if earliest[donor_id] < (since or created)}
        if starts:
            donors = Donor.__table__
            db.session.execute(update(donors).where(donors.c.id == bindparam("b_id")).values(supporter_since=bindparam("b_since")),
                               [{"b_id": donor_id, "b_since": when} for donor_id, when in starts.items()])
            journey.move_journey_start(starts)
            moved += len(starts)
    return moved


def _tag_keys(names: Iterable[str]) -> list[str]:
    """The names tags_by_name stores for these (lower-cased, trimmed, de-duplicated)."""
    return sorted({n.strip().lower()[:60] for n in names if n and n.strip()})


def update_donor(donor: Donor, values: dict, *, actor=None) -> Donor:
    """Save a profile. Commits; a refusal (DonorError) rolls back what was already applied to the donor."""
    try:
        if email_taken(values.get("email"), except_id=donor.id):
            raise DonorError("Another donor already has this email address.", "email")
        before = {name: getattr(donor, name) for name in PROFILE_FIELDS}
        _apply_profile(donor, values)
    except DonorError:
        db.session.rollback()
        raise
    changed = [name for name in PROFILE_FIELDS if getattr(donor, name) != before[name]]
    if "marketing_opt_in" in values and bool(values["marketing_opt_in"]) != donor.marketing_opt_in:
        set_marketing_consent(donor, bool(values["marketing_opt_in"]), source="staff", actor=actor)
    if changed:
        journey.record(donor.id, "profile_updated", "Changed " + ", ".join(n.replace("_", " ") for n in changed),
                       actor=actor, data={"fields": changed})
    db.session.commit()
    return donor


def set_marketing_consent(donor: Donor, opted_in: bool, *, source: str, actor=None, record_touchpoint: bool = True) -> None:
    """Record an opt-in or opt-out with when and how it was given; never commits."""
    now = utcnow()
    donor.marketing_opt_in = opted_in
    donor.marketing_consent_at = now
    donor.marketing_consent_source = source[:80]
    donor.unsubscribed_at = None if opted_in else now
    if actor is not None and getattr(actor, "is_staff", False):
        audit.record("donor.consent", actor=actor, donor_id=donor.id,
                     summary=("Opted the donor in to" if opted_in else "Opted the donor out of") + " marketing email",
                     detail={"marketing_opt_in": opted_in, "source": source})
    if record_touchpoint:
        journey.record(donor.id, "consent_changed",
                       ("Opted in to" if opted_in else "Opted out of") + f" marketing email ({source})",
                       actor=actor, data={"marketing_opt_in": opted_in, "source": source})


ERASED_FIELDS = ("title", "first_name", "last_name", "organisation_name", "phone", "address_line1", "address_line2",
                 "city", "region", "postcode", "country", "source", "notes")


def anonymise_donor(donor: Donor) -> None:
    """Remove the donor's personal data from their record and mark it erased (no commit). The row stays, so
    gifts, plans and every other row the reports count keep their donor; it just no longer says who."""
    for name in ERASED_FIELDS:
        setattr(donor, name, "")
    donor.email = donor.birthday = donor.external_ref = None
    donor.marketing_opt_in, donor.marketing_consent_source = False, "erased"
    donor.unsubscribed_at = donor.unsubscribed_at or utcnow()
    donor.tags, donor.interests = [], []
    donor.erased_at = utcnow()
    donor.refresh_keys()


def get_donor(donor_id: int) -> Donor | None:
    return db.session.get(Donor, donor_id)


def record_view(donor: Donor, *, actor) -> None:
    """The read log: a staff member opened this donor's record. Kept for AUDIT_READ_LOG_DAYS."""
    audit.record("donor.view", actor=actor, donor_id=donor.id, summary="Viewed the donor's record")
    db.session.commit()


# ---------------------------------------------------------------- the back office's headline numbers

def headline_numbers(today: date | None = None) -> dict:
    """Numbers for the back-office home: donors, gifts this month, retained donors (FEP definition)."""
    now = utcnow()
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    year_ago, two_years_ago = now - timedelta(days=365), now - timedelta(days=730)
    donors = db.session.scalar(select(func.count()).select_from(Donor))
    gifts_month = db.session.execute(
        select(func.count(), func.coalesce(func.sum(Gift.amount_minor), 0))
        # The status written literally lets SQLite use the partial index on received gifts.
        .where(Gift.status == literal_column("'received'"), Gift.received_at >= month_start)
    ).one()
    previous_period = db.session.scalar(select(func.count()).select_from(DonorStats).where(DonorStats.prev_12m_minor > 0))
    retained = db.session.scalar(
        select(func.count()).select_from(DonorStats).where(DonorStats.prev_12m_minor > 0, DonorStats.last_12m_minor > 0)
    )
    return {
        "donors": donors,
        "gifts_this_month": gifts_month[0],
        "amount_this_month": int(gifts_month[1]),
        "retained": retained,
        "previous_period_donors": previous_period,
        "retention_rate": round(100 * retained / previous_period, 1) if previous_period else None,
        "since": year_ago.date(),
        "previous_since": two_years_ago.date(),
    }
