"""Likely duplicate donors: the rules, the check while a donor is being added, and the scan for the review queue.

Two donors are proposed as one person when their names are alike *and* something else about them agrees:
- the same name (ignoring accents and capitals) and the same postcode;
- the same name and the same phone number;
- a similar name (also nicknames such as Bob/Robert, or first and last name swapped) at the same address;
- a similar name and the same birthday.
A name alone never proposes a pair: two Amelia Clarkes at different addresses are two people.

Every rule needs a similar name, so the folded name (`Donor.match_key`) is the blocking key: the scan only
compares donors that share one, and inside a block only those that also share a postcode, phone, address
or birthday. A shared email never gets this far: the donors domain refuses it outright.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, fields
from datetime import date
from functools import cached_property
from itertools import combinations
from operator import attrgetter

from sqlalchemy import delete, func, select, tuple_

from portal import bulk_insert as bulk
from portal import jobs
from portal.audit import services as audit
from portal.donors.models import Donor, DuplicatePair
from portal.donors.names import fold, match_key, phone_key, postcode_key
from portal.extensions import db
from portal.timeutil import utcnow

@dataclass(frozen=True)
class Profile:
    """What the rules compare, from a donor row or from a form being filled in."""

    id: int | None
    kind: str
    first_name: str
    last_name: str
    organisation_name: str
    phone: str
    address_line1: str
    city: str
    postcode: str
    birthday: date | None

    @classmethod
    def of(cls, donor) -> "Profile":
        return cls(getattr(donor, "id", None), donor.kind or "individual", donor.first_name or "", donor.last_name or "",
                   donor.organisation_name or "", donor.phone or "", donor.address_line1 or "", donor.city or "",
                   donor.postcode or "", donor.birthday)

    @classmethod
    def from_values(cls, values: dict, donor_id: int | None = None) -> "Profile":
        return cls(donor_id, values.get("kind") or "individual", values.get("first_name") or "", values.get("last_name") or "",
                   values.get("organisation_name") or "", values.get("phone") or "", values.get("address_line1") or "",
                   values.get("city") or "", values.get("postcode") or "", values.get("birthday"))

    @property
    def name(self) -> str:
        if self.kind == "organisation":
            return self.organisation_name.strip()
        return f"{self.first_name.strip()} {self.last_name.strip()}".strip()

    # Cached: an import compares each row with several others, and folding names is the costly part.
    @cached_property
    def key(self) -> str:
        return match_key(self.kind, self.first_name, self.last_name, self.organisation_name)

    @cached_property
    def address_key(self) -> str:
        """The first address line with the postcode (or, without one, the town): a whole address or nothing."""
        line, place = fold(self.address_line1), postcode_key(self.postcode) or fold(self.city)
        return f"{line}|{place}" if line and place else ""

    @cached_property
    def _secondary_keys(self) -> tuple[str, ...]:
        postcode, phone = postcode_key(self.postcode), phone_key(self.phone)
        keys = [f"postcode {postcode}" if postcode else "", f"phone {phone}" if phone else "",
                f"address {self.address_key}" if self.address_key else "",
                f"birthday {self.birthday.isoformat()}" if self.birthday else ""]
        return tuple(key for key in keys if key)

    def secondary_keys(self) -> tuple[str, ...]:
        """Keys of which a pair must share at least one for any rule to hold."""
        return self._secondary_keys


def _name_likeness(a: Profile, b: Profile) -> tuple[bool, str]:
    """Whether the names are the same (accents and capitals aside), and how they are alike in words."""
    if a.kind == "organisation":
        return True, "the same organisation name"
    first_a, last_a, first_b, last_b = fold(a.first_name), fold(a.last_name), fold(b.first_name), fold(b.last_name)
    if (first_a, last_a) == (first_b, last_b):
        exact_letters = (a.first_name.strip().lower(), a.last_name.strip().lower()) == (b.first_name.strip().lower(), b.last_name.strip().lower())
        return True, "the same name" if exact_letters else "the same name apart from accents or punctuation"
    if (first_a, last_a) == (last_b, first_b):
        return False, "first and last name swapped"
    if last_a == last_b:
        return False, f"“{b.first_name.strip()}” is short for, or the same name as, “{a.first_name.strip()}”"
    return False, "first and last name swapped, with a short form of the first name"


def _upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


def compare(a: Profile, b: Profile) -> tuple[int, list[str]]:
    """How likely two donors are one person (0-100) and the reasons in words; (0, []) when no rule holds."""
    if not a.key or a.key != b.key:
        return 0, []
    same_name, likeness = _name_likeness(a, b)
    rules: list[tuple[int, str]] = []
    if same_name and postcode_key(a.postcode) and postcode_key(a.postcode) == postcode_key(b.postcode):
        rules.append((70, f"{_upper_first(likeness)} and the same postcode ({postcode_key(a.postcode)})"))
    if same_name and phone_key(a.phone) and phone_key(a.phone) == phone_key(b.phone):
        rules.append((75, f"{_upper_first(likeness)} and the same phone number"))
    if a.address_key and a.address_key == b.address_key:
        rules.append((80 if same_name else 65, f"{_upper_first(likeness)} at the same address"))
    if a.birthday and a.birthday == b.birthday:
        rules.append((75 if same_name else 60, f"{_upper_first(likeness)} and the same birthday"))
    if not rules:
        return 0, []
    rules.sort(key=lambda rule: -rule[0])
    score = min(99, rules[0][0] + 10 * (len(rules) - 1))
    return score, [reason for _, reason in rules]


@dataclass
class Candidate:
    donor: Donor
    score: int
    reasons: list[str]


def candidates_for(values: dict, *, exclude_id: int | None = None, limit: int = 5) -> list[Candidate]:
    """Existing donors that the donor described by `values` (a new donor's form) may be, best first."""
    profile = Profile.from_values(values, exclude_id)
    if not profile.key:
        return []
    query = select(Donor).where(Donor.match_key == profile.key, Donor.erased_at.is_(None))
    if exclude_id:
        query = query.where(Donor.id != exclude_id)
    found = []
    for donor in db.session.scalars(query.order_by(Donor.id).limit(500)):
        score, reasons = compare(Profile.of(donor), profile)
        if score:
            found.append(Candidate(donor, score, reasons))
    found.sort(key=lambda c: (-c.score, c.donor.id))
    return found[:limit]


_EARLIER_ROWS_COMPARED = 100
_PROFILE_FIELDS = attrgetter(*(field.name for field in fields(Profile)))


@dataclass
class RowMatches:
    """What one import row may duplicate: donors on file (profile, score, reasons) and earlier rows of the
    file (row number, reasons), most likely first."""

    donors: list[tuple[Profile, int, list[str]]]
    earlier_rows: list[tuple[int, list[str]]]


class ImportMatcher:
    """Likely duplicates for the rows of an import, a chunk at a time: each row against the donors on file
    (one query per chunk, on the blocking key) and against the earlier rows of the same file."""

    def __init__(self, *, limit: int = 3):
        self.limit = limit
        # Every row of a 100k-row file is kept, so compactly: its fields as a tuple, and the blocks it is in by
        # hash (two blocks sharing a hash only cost a comparison that finds nothing).
        self._file_fields: dict[int, tuple] = {}
        self._file_blocks: dict[int, list[int]] = defaultdict(list)

    def match_chunk(self, rows: list[tuple[int, dict]]) -> dict[int, RowMatches]:
        """rows: (row number, values) -> {row number: its matches} for the rows with any. Every row is then
        remembered, so a later row that is the same person is flagged against it."""
        profiles = [(number, Profile.from_values(values)) for number, values in rows]
        keys = sorted({profile.key for _, profile in profiles if profile.key})
        on_file: dict[tuple[str, str], list[Profile]] = defaultdict(list)
        for start in range(0, len(keys), 500):
            query = select(*_SCAN_COLUMNS).where(Donor.match_key.in_(keys[start:start + 500]), Donor.erased_at.is_(None))
            for row in db.session.execute(query):
                profile = Profile(*row[:-1])
                for key in profile.secondary_keys():
                    on_file[(row.match_key, key)].append(profile)
        found = {}
        for number, profile in profiles:
            if not profile.key:
                continue
            donors: dict[int, tuple[Profile, int, list[str]]] = {}
            earlier: dict[int, tuple[int, list[str]]] = {}
            secondary = [(profile.key, key) for key in profile.secondary_keys()]
            for block in secondary:
                for other in on_file.get(block, ()):
                    if other.id not in donors:
                        score, reasons = compare(other, profile)
                        if score:
                            donors[other.id] = (other, score, reasons)
                # The latest rows of a block only: a file repeating one person thousands of times stays linear.
                for other_row in self._file_blocks.get(hash(block), ())[-_EARLIER_ROWS_COMPARED:]:
                    if other_row not in earlier:
                        score, reasons = compare(Profile(*self._file_fields[other_row]), profile)
                        if score:
                            earlier[other_row] = (score, reasons)
            self._file_fields[number] = _PROFILE_FIELDS(profile)
            for block in secondary:
                self._file_blocks[hash(block)].append(number)
            if donors or earlier:
                found[number] = RowMatches(
                    sorted(donors.values(), key=lambda d: (-d[1], d[0].id))[:self.limit],
                    [(row, reasons) for row, (_, reasons) in sorted(earlier.items(), key=lambda e: (-e[1][0], e[0]))[:self.limit]])
        return found


# ---------------------------------------------------------------- the scan behind the review queue

_SCAN_COLUMNS = (Donor.id, Donor.kind, Donor.first_name, Donor.last_name, Donor.organisation_name, Donor.phone,
                 Donor.address_line1, Donor.city, Donor.postcode, Donor.birthday, Donor.match_key)


def find_pairs() -> dict[tuple[int, int], tuple[int, list[str]]]:
    """Every likely duplicate pair in the database: (lower id, higher id) -> (score, reasons).

    Reads only donors whose folded name someone else shares (one grouped query on the indexed key), then
    within each name compares only donors that also share a postcode, phone, address or birthday."""
    shared = (select(Donor.match_key).where(Donor.match_key != "", Donor.erased_at.is_(None))
              .group_by(Donor.match_key).having(func.count() > 1))
    rows = db.session.execute(select(*_SCAN_COLUMNS).where(Donor.match_key.in_(shared), Donor.erased_at.is_(None))
                              .order_by(Donor.match_key, Donor.id)).all()
    blocks: dict[str, list[Profile]] = defaultdict(list)
    for row in rows:
        blocks[row.match_key].append(Profile(*row[:-1]))
    pairs: dict[tuple[int, int], tuple[int, list[str]]] = {}
    for members in blocks.values():
        by_key: dict[str, list[Profile]] = defaultdict(list)
        for profile in members:
            for key in profile.secondary_keys():
                by_key[key].append(profile)
        for group in by_key.values():
            for a, b in combinations(group, 2):
                pair = (a.id, b.id) if a.id < b.id else (b.id, a.id)
                if pair not in pairs:
                    score, reasons = compare(a, b)
                    if score:
                        pairs[pair] = (score, reasons)
    return pairs


def scan() -> dict[str, int]:
    """Refresh the review queue: add new pairs, update open ones, drop open pairs no longer alike.
    Pairs staff marked "not a duplicate" stay so, whatever the scan finds. Commits."""
    found = find_pairs()
    existing = {(row.donor_a_id, row.donor_b_id): row for row in db.session.scalars(select(DuplicatePair))}
    now = utcnow()
    added = updated = 0
    new_rows = []
    for pair, (score, reasons) in found.items():
        row = existing.get(pair)
        if row is None:
            new_rows.append({"donor_a_id": pair[0], "donor_b_id": pair[1], "score": score, "reasons": reasons,
                             "status": "open", "found_at": now})
            added += 1
        elif row.status == "open" and (row.score, row.reasons) != (score, reasons):
            row.score, row.reasons = score, reasons
            updated += 1
    if new_rows:
        bulk.insert_rows(DuplicatePair, new_rows)
    gone = [pair for pair, row in existing.items() if row.status == "open" and pair not in found]
    for start in range(0, len(gone), 500):
        chunk = gone[start:start + 500]
        db.session.execute(delete(DuplicatePair).where(DuplicatePair.status == "open",
                                                       tuple_(DuplicatePair.donor_a_id, DuplicatePair.donor_b_id).in_(chunk)))
    db.session.commit()
    jobs.report_progress(1, 1, f"{len(found)} likely duplicate pairs")
    return {"pairs": len(found), "added": added, "updated": updated, "removed": len(gone)}


@jobs.job
def scan_job() -> dict[str, int]:
    return scan()


def review_queue(*, page: int = 1, per_page: int = 25) -> tuple[list[DuplicatePair], int]:
    """Open pairs, most likely first, and how many there are."""
    base = select(DuplicatePair).where(DuplicatePair.status == "open")
    total = db.session.scalar(select(func.count()).select_from(base.subquery()))
    rows = db.session.scalars(base.order_by(DuplicatePair.score.desc(), DuplicatePair.id)
                              .offset((max(1, page) - 1) * per_page).limit(per_page)).all()
    return list(rows), total


def get_pair(pair_id: int) -> DuplicatePair | None:
    return db.session.get(DuplicatePair, pair_id)


def mark_not_duplicate(pair: DuplicatePair, *, actor) -> None:
    """Remember that these two are different people; later scans leave the pair alone. Commits."""
    pair.status, pair.decided_by_id, pair.decided_at = "not_duplicate", getattr(actor, "id", None), utcnow()
    audit.record("donor.not_duplicate", actor=actor, donor_id=pair.donor_a_id,
                 summary=f"Donors #{pair.donor_a_id} and #{pair.donor_b_id} marked as different people",
                 detail={"donor_ids": [pair.donor_a_id, pair.donor_b_id]})
    db.session.commit()
