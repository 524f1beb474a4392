"""The filtered donor list staff work from: search as you type, filters, sorting, paging and the CSV export.

Text search matches lower-cased key columns by prefix ranges, so a plain b-tree index serves it on both
databases; the rollup filters and sorts read giving's donor_stats."""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Iterator

from sqlalchemy import Select, and_, exists, false, func, or_, select, union
from sqlalchemy.orm import lazyload

from portal import csvfile
from portal.donors.models import DONOR_KINDS, Donor, Tag, donor_tags
from portal.extensions import db
from portal.giving.models import DonorStats
from portal.money import MoneyError, parse_amount
from portal.timeutil import utcnow

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


def parse_filters(args) -> DonorFilter:
    """Build a filter from query parameters, keeping a message for each one that doesn't parse."""
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
