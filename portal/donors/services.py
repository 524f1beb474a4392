"""Donors: creating and editing them, consent, tags, and the filtered list staff work from."""
from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Iterable, Iterator

from sqlalchemy import Select, and_, bindparam, exists, false, func, literal_column, or_, select, union, update
from sqlalchemy.orm import lazyload

from portal import bulk_insert, csvfile
from portal.audit import services as audit
from portal.donors.duplicates import candidates_for
from portal.donors.models import DONOR_KINDS, Donor, ErasedEmail, Tag, donor_interests, donor_tags
from portal.extensions import db
from portal.giving.models import DonorStats
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
    donor was erased is refused, and likely duplicates raise PossibleDuplicates with the candidates."""
    if email_taken(values.get("email")):
        raise DonorError("Another donor already has this email address.", "email")
    if not confirm_erased_email and was_erased(values.get("email")):
        raise DonorError(ERASED_EMAIL_MESSAGE, "email")
    if not allow_duplicates:
        candidates = candidates_for(values)
        if candidates:
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
    if email_taken(values.get("email"), except_id=donor.id):
        raise DonorError("Another donor already has this email address.", "email")
    before = {name: getattr(donor, name) for name in PROFILE_FIELDS}
    _apply_profile(donor, values)
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


# ---------------------------------------------------------------- the filtered donor list

# Sort key -> (column, descending). Donor columns order the list through their own index; rollup columns
# through donor_stats' index, with donors that have no value (no gift yet) after everyone else.
SORTS = {
    "name": (Donor.name_key, False),
    "-name": (Donor.name_key, True),
    "created": (Donor.created_at, False),
    "-created": (Donor.created_at, True),
    "lifetime": (DonorStats.lifetime_minor, False),
    "-lifetime": (DonorStats.lifetime_minor, True),
    "last_gift": (DonorStats.last_gift_at, False),
    "-last_gift": (DonorStats.last_gift_at, True),
}


@dataclass
class DonorFilter:
    q: str = ""
    kind: str = ""
    tag: str = ""
    recurring: str = ""  # "yes" | "no" | ""
    gave_within_days: int | None = None
    lifetime_min: int | None = None  # minor units
    lifetime_max: int | None = None
    sort: str = "name"
    errors: dict[str, str] = field(default_factory=dict)


def _prefix_range(column, prefix: str):
    """column starts with prefix, as a range so a plain b-tree index serves it on SQLite and PostgreSQL."""
    return and_(column >= prefix, column < prefix + "\uffff")


def _text_matches(text: str, tag_ids: list[int], column=None):
    """Donors whose name, first name, email or one of whose tags starts with the text: their ids, with
    `column` alongside when given (so the list can be ordered without going back to the donors).

    One indexed range scan per branch, joined by UNION: an OR across the columns (and a tag subquery)
    would make both databases read every donor for every keystroke.
    """
    columns = (Donor.id,) if column is None else (Donor.id, column)
    words = text.split()
    branches = [
        select(*columns).where(_prefix_range(Donor.name_key, text)),
        select(*columns).where(_prefix_range(Donor.email, text)),
    ]
    if len(words) == 1:
        branches.append(select(*columns).where(_prefix_range(Donor.first_key, text)))
    else:
        # "ada love" finds Ada Lovelace: first name, then the start of the surname.
        branches.append(select(*columns).where(Donor.first_key == words[0], _prefix_range(Donor.name_key, " ".join(words[1:]))))
    if tag_ids:
        tagged = select(donor_tags.c.donor_id) if column is None else select(*columns).join(donor_tags, donor_tags.c.donor_id == Donor.id)
        branches.append(tagged.where(donor_tags.c.tag_id.in_(tag_ids)))
    return union(*branches)


@dataclass
class _Criteria:
    """The filters as SQL. A donor without a rollup row (nothing given yet) can only match when
    keeps_missing is true; otherwise donor_stats is inner-joined, or read alone."""

    text: str
    text_tag_ids: list[int]  # tags whose name starts with the text, looked up first so the planner sees real ids
    kind: str
    tag_id: int | None
    matches_nothing: bool  # the tag filter names a tag that doesn't exist
    on_stats: list
    keeps_missing: bool

    @property
    def only_text(self) -> bool:
        return bool(self.text) and not (self.kind or self.tag_id is not None or self.matches_nothing or self.on_stats)

    def donor_conditions(self, *, correlated: bool = False) -> list:
        """Conditions on the donor. correlated: the tag as a per-donor lookup rather than a set of ids."""
        conditions = [false()] if self.matches_nothing else []
        if self.kind:
            conditions.append(Donor.kind == self.kind)
        if self.tag_id is not None:
            conditions.append(
                exists().where(donor_tags.c.donor_id == Donor.id, donor_tags.c.tag_id == self.tag_id) if correlated
                else Donor.id.in_(select(donor_tags.c.donor_id).where(donor_tags.c.tag_id == self.tag_id)))
        if self.text:
            conditions.append(Donor.id.in_(_text_matches(self.text, self.text_tag_ids)))
        return conditions

    def rollup_condition(self):
        """The rollup filters as one per-donor condition (for walking the donors in list order)."""
        matches = exists().where(DonorStats.donor_id == Donor.id, *self.on_stats)
        return or_(matches, ~exists().where(DonorStats.donor_id == Donor.id)) if self.keeps_missing else matches


def _criteria(filters: DonorFilter) -> _Criteria:
    tag_id = None
    if filters.tag:
        tag_id = db.session.scalar(select(Tag.id).where(Tag.name == filters.tag.strip().lower()))
    on_stats, keeps_missing = [], True
    if filters.recurring == "yes":
        on_stats.append(DonorStats.has_active_plan.is_(True))
        keeps_missing = False
    elif filters.recurring == "no":
        on_stats.append(or_(DonorStats.has_active_plan.is_(False), DonorStats.donor_id.is_(None)))
    if filters.gave_within_days:
        on_stats.append(DonorStats.last_gift_at >= utcnow() - timedelta(days=filters.gave_within_days))
        keeps_missing = False
    if filters.lifetime_min:
        on_stats.append(DonorStats.lifetime_minor >= filters.lifetime_min)
        keeps_missing = False
    if filters.lifetime_max is not None:
        # Without a rollup row a donor's lifetime is zero; the plain comparison keeps the index usable.
        on_stats.append((func.coalesce(DonorStats.lifetime_minor, 0) if keeps_missing else DonorStats.lifetime_minor) <= filters.lifetime_max)
    text = filters.q.strip().lower()
    text_tag_ids = list(db.session.scalars(select(Tag.id).where(_prefix_range(Tag.name, text)))) if text else []
    return _Criteria(text, text_tag_ids, filters.kind if filters.kind in DONOR_KINDS else "", tag_id,
                     bool(filters.tag) and tag_id is None, on_stats, keeps_missing)


def _from_donors(criteria: _Criteria, *columns) -> Select:
    query = select(*columns)
    if criteria.on_stats:
        query = (query.outerjoin if criteria.keeps_missing else query.join)(DonorStats, DonorStats.donor_id == Donor.id)
    return query.where(*criteria.donor_conditions(), *criteria.on_stats)


def _matching_ids(criteria: _Criteria) -> Select:
    """The matching donors' ids through the fewest tables: the text search, the tag or the rollup alone."""
    only_tag = criteria.tag_id is not None and not (criteria.text or criteria.kind or criteria.on_stats)
    only_rollup = (criteria.on_stats and not criteria.keeps_missing
                   and not (criteria.text or criteria.kind or criteria.tag_id is not None or criteria.matches_nothing))
    if criteria.only_text:
        return _text_matches(criteria.text, criteria.text_tag_ids)
    if only_tag:
        return select(donor_tags.c.donor_id).where(donor_tags.c.tag_id == criteria.tag_id)
    if only_rollup:
        return select(DonorStats.donor_id).where(*criteria.on_stats)
    return _from_donors(criteria, Donor.id)


def matching_ids(filters: DonorFilter) -> Select:
    """The ids of every donor the filtered list shows, as one SELECT (for "all N matching")."""
    return _matching_ids(_criteria(filters))


def filtered_query(filters: DonorFilter) -> Select:
    criteria = _criteria(filters)
    return (select(Donor).outerjoin(DonorStats, DonorStats.donor_id == Donor.id)
            .where(*criteria.donor_conditions(), *criteria.on_stats))


# Totals are exact up to here; past it the list says "more than 10,000" instead of counting every match,
# which would cost a row lookup per matching donor on each keystroke.
COUNT_LIMIT = 10_000


@dataclass
class DonorPage:
    donors: list[Donor]
    total: int  # exact when pages is set; COUNT_LIMIT when there are more
    page: int
    pages: int | None  # None when there are more than COUNT_LIMIT matches
    per_page: int
    has_next: bool


# With this many matches, walking the donors in list order and checking each one's tag and rollup finds the
# first pages sooner than collecting every match and sorting them all (which SQLite would otherwise do).
WALK_MIN_MATCHES = 2_000
WALK_MAX_OFFSET = 1_000


def _page_ids(criteria: _Criteria, sort: str, offset: int, limit: int, matches: int) -> list[int]:
    """The ids on one page, found through narrow, index-ordered queries; the rows are loaded afterwards."""
    column, descending = SORTS[sort]
    direction = (lambda c: c.desc()) if descending else (lambda c: c.asc())
    if column.class_ is Donor:
        if matches > WALK_MIN_MATCHES and offset < WALK_MAX_OFFSET:
            conditions = criteria.donor_conditions(correlated=True)
            if criteria.on_stats:
                conditions.append(criteria.rollup_condition())
            query = select(Donor.id).where(*conditions).order_by(direction(column), direction(Donor.id))
        else:
            query = _from_donors(criteria, Donor.id).order_by(direction(column), direction(Donor.id))
        return list(db.session.scalars(query.offset(offset).limit(limit)))
    # A rollup column: donors with a value in its index order, then those without one (no rollup row, or
    # no gift yet for the last gift date), by id.
    donor_conditions = criteria.donor_conditions()
    keyed = select(DonorStats.donor_id).where(column.is_not(None), *donor_conditions, *criteria.on_stats)
    if donor_conditions:
        keyed = keyed.join(Donor, Donor.id == DonorStats.donor_id)
    ids = list(db.session.scalars(keyed.order_by(direction(column), direction(DonorStats.donor_id)).offset(offset).limit(limit)))
    if len(ids) == limit:
        return ids
    keyed_total = offset + len(ids) if ids else _count(keyed)
    unkeyed = (select(Donor.id).outerjoin(DonorStats, DonorStats.donor_id == Donor.id)
               .where(or_(DonorStats.donor_id.is_(None), column.is_(None)), *donor_conditions, *criteria.on_stats))
    ids += db.session.scalars(unkeyed.order_by(direction(Donor.id)).offset(max(0, offset - keyed_total)).limit(limit - len(ids)))
    return ids


def _count(query: Select, limit: int | None = None) -> int:
    return db.session.scalar(select(func.count()).select_from((query.limit(limit) if limit else query).subquery()))


def _text_page(criteria: _Criteria, sort: str, offset: int, limit: int) -> tuple[list[int], int]:
    """Search as you type, ordered by a donor column: one pass over the matches gives the page's ids and,
    alongside each, how many match in all (0 when the page is past the end)."""
    column, descending = SORTS[sort]
    direction = (lambda c: c.desc()) if descending else (lambda c: c.asc())
    found = _text_matches(criteria.text, criteria.text_tag_ids, column).subquery()
    rows = db.session.execute(
        select(found.c.id, func.count().over())
        .order_by(direction(found.c[column.key]), direction(found.c.id)).offset(offset).limit(limit)
    ).all()
    return [row[0] for row in rows], (rows[0][1] if rows else 0)


def search_donors(filters: DonorFilter, *, page: int = 1, per_page: int = 25) -> DonorPage:
    criteria = _criteria(filters)
    page = max(1, page)
    if criteria.only_text and SORTS[filters.sort][0].class_ is Donor:
        ids, total = _text_page(criteria, filters.sort, (page - 1) * per_page, per_page + 1)
        if not ids and page > 1:  # past the end: show the last page
            total = _count(_matching_ids(criteria))
            page = max(1, -(-total // per_page))
            ids, total = _text_page(criteria, filters.sort, (page - 1) * per_page, per_page + 1)
        pages = max(1, -(-total // per_page))
    else:
        total = _count(_matching_ids(criteria), COUNT_LIMIT + 1)
        pages = max(1, -(-total // per_page)) if total <= COUNT_LIMIT else None
        page = min(page, pages or page)
        ids = _page_ids(criteria, filters.sort, (page - 1) * per_page, per_page + 1, total) if total else []
        if not ids and page > 1:
            # Past the end of a list too long to count on every request: count it once and show its last page.
            total = _count(_matching_ids(criteria))
            pages = page = max(1, -(-total // per_page))
            ids = _page_ids(criteria, filters.sort, (page - 1) * per_page, per_page + 1, total) if total else []
    has_next, ids = len(ids) > per_page, ids[:per_page]
    if pages is None and not has_next:  # the last page of a long list tells its exact length
        total, pages = (page - 1) * per_page + len(ids), page
    # The list shows tags but not interests: those load only if something asks for them.
    rows = select(Donor).where(Donor.id.in_(ids)).options(lazyload(Donor.interests))
    found = {donor.id: donor for donor in db.session.scalars(rows).unique()} if ids else {}
    return DonorPage([found[i] for i in ids if i in found], total if pages else COUNT_LIMIT, page, pages, per_page, has_next)


def all_tag_names() -> list[str]:
    return list(db.session.scalars(select(Tag.name).order_by(Tag.name)))


EXPORT_COLUMNS = ("id", "kind", "title", "first_name", "last_name", "organisation_name", "email", "phone", "birthday",
                  "address_line1", "address_line2", "city", "region", "postcode", "country", "preferred_channel",
                  "source", "marketing_opt_in", "tags", "interests", "first_gift", "last_gift", "gift_count", "lifetime_total")


def export_row_count(filters: DonorFilter) -> int:
    return db.session.scalar(select(func.count()).select_from(filtered_query(filters).subquery())) or 0


def export_csv(filters: DonorFilter, *, only_ids: Select | None = None) -> Iterator[str]:
    """Stream the filtered list (narrowed to `only_ids` when given) as CSV, a page of rows at a time, so
    100k donors never sit in memory."""
    buffer = io.StringIO()
    writer = csvfile.writer(buffer)
    writer.writerow(EXPORT_COLUMNS)
    yield _drain(buffer)
    last_id = 0
    base = filtered_query(filters)
    if only_ids is not None:
        base = base.where(Donor.id.in_(only_ids))
    while True:
        batch = db.session.scalars(base.where(Donor.id > last_id).order_by(Donor.id).limit(1000)).unique().all()
        if not batch:
            return
        for donor in batch:
            stats = donor.stats
            writer.writerow([
                donor.id, donor.kind, donor.title, donor.first_name, donor.last_name, donor.organisation_name,
                donor.email or "", donor.phone, donor.birthday.isoformat() if donor.birthday else "",
                donor.address_line1, donor.address_line2, donor.city, donor.region, donor.postcode, donor.country,
                donor.preferred_channel, donor.source, "yes" if donor.can_receive_marketing else "no",
                ";".join(t.name for t in donor.tags), ";".join(t.name for t in donor.interests),
                stats.first_gift_at.date().isoformat() if stats and stats.first_gift_at else "",
                stats.last_gift_at.date().isoformat() if stats and stats.last_gift_at else "",
                stats.gift_count if stats else 0,
                f"{(stats.lifetime_minor if stats else 0) / 100:.2f}",
            ])
        last_id = batch[-1].id
        db.session.expunge_all()
        yield _drain(buffer)


def _drain(buffer: io.StringIO) -> str:
    value = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return value


def headline_numbers(today: date | None = None) -> dict:
    """Numbers for the back-office home: donors, gifts this month, retained donors (FEP definition)."""
    from portal.giving.models import Gift

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


def parse_filters(args) -> DonorFilter:
    """Build a filter from query parameters, keeping a message for each one that doesn't parse."""
    from portal.money import MoneyError, parse_amount

    filters = DonorFilter(q=(args.get("q") or "")[:100], kind=args.get("kind") or "", tag=(args.get("tag") or "")[:60],
                          recurring=args.get("recurring") or "", sort=args.get("sort") or "name")
    if filters.sort not in SORTS:
        filters.sort = "name"
    days = (args.get("gave_within") or "").strip()
    if days:
        if days.isdigit() and 0 < int(days) <= 36500:
            filters.gave_within_days = int(days)
        else:
            filters.errors["gave_within"] = "Enter a number of days, such as 90."
    for name in ("lifetime_min", "lifetime_max"):
        raw = (args.get(name) or "").strip()
        if raw:
            try:
                setattr(filters, name, parse_amount(raw) if raw not in ("0", "0.00") else 0)
            except MoneyError as exc:
                filters.errors[name] = str(exc)
    if filters.lifetime_min is not None and filters.lifetime_max is not None and filters.lifetime_min > filters.lifetime_max:
        filters.errors["lifetime_max"] = "The maximum must be at least the minimum."
        filters.lifetime_max = None
    return filters
