"""CSV import of 100k donors through the real path: upload, column mapping, the checking job and the
import job (the bench app runs jobs synchronously). Target: the whole import in 60 s or less.

The imported donors (on their own email domain) and their touchpoints are deleted afterwards, so the
other benchmark modules see the data set as generated.
"""
from __future__ import annotations

import csv
import io
import random
import time

from sqlalchemy import delete, func, select

from portal.donors import imports
from portal.donors.models import Donor, ImportBatch, Tag, donor_interests, donor_tags
from portal.extensions import db
from portal.journey.models import Touchpoint

DONORS = 100_000
TARGET_S = 60
DOMAIN = "bench-import.example"
TAGS = ("bench-import-volunteer", "bench-import-event")
FIRST = ["Olivia", "Amelia", "Isla", "Ava", "Mia", "Noah", "Oliver", "George", "Arthur", "Leo", "Grace", "Freya",
         "Aisha", "Mohammed", "Priya", "Tomasz", "Siobhan", "Kwame", "Mei", "Lars"]
LAST = ["Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Patel", "Khan", "Murphy",
        "O'Brien", "Nowak", "Mensah", "Chen", "Lindqvist", "Evans", "Thomas", "Roberts", "Walker"]
TOWNS = ["Whitby", "Scarborough", "Leeds", "York", "Hull", "Durham", "Bristol", "Plymouth", "Cardiff", "Oban"]


def donor_csv(count: int, seed: int = 11) -> bytes:
    """A CRM-style export: the header names another system would use, a few tags, consent, birthdays."""
    rng = random.Random(seed)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["Constituent ID", "Title", "First Name", "Surname", "E-mail Address", "Mobile Phone",
                     "Date of Birth", "Address Line 1", "Town", "Postcode", "Country", "Email Opt In", "Tags"])
    for number in range(1, count + 1):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        writer.writerow([
            f"BI-{number:07d}", rng.choice(["", "Mr", "Ms", "Mrs", "Dr"]), first, last,
            f"{first.lower()}.{last.lower().replace(chr(39), '')}.{number}@{DOMAIN}",
            f"07700 9{rng.randrange(10**5):05d}", f"{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/{rng.randint(1940, 2004)}",
            f"{rng.randint(1, 200)} Harbour Road", rng.choice(TOWNS), f"YO{rng.randint(1, 25)} {rng.randint(1, 9)}AB",
            "United Kingdom", rng.choice(["yes", "no"]), rng.choice(["", "", TAGS[0], f"{TAGS[0]}; {TAGS[1]}"]),
        ])
    return buffer.getvalue().encode()


def _remove_imported(batch_ids: list[int], existing_tags: set[str]) -> None:
    imported = select(Donor.id).where(Donor.email.like(f"%@{DOMAIN}")).scalar_subquery()
    db.session.execute(delete(Touchpoint).where(Touchpoint.donor_id.in_(imported)))
    db.session.execute(delete(donor_tags).where(donor_tags.c.donor_id.in_(imported)))
    db.session.execute(delete(donor_interests).where(donor_interests.c.donor_id.in_(imported)))
    db.session.execute(delete(Donor).where(Donor.email.like(f"%@{DOMAIN}")))
    db.session.execute(delete(Tag).where(Tag.name.in_(set(TAGS) - existing_tags)))
    db.session.execute(delete(ImportBatch).where(ImportBatch.id.in_(batch_ids)))
    db.session.commit()


def run(bench) -> None:
    data = donor_csv(DONORS)
    existing_tags = set(db.session.scalars(select(Tag.name).where(Tag.name.in_(TAGS))))
    before = db.session.scalar(select(func.count()).select_from(Donor))
    batch_ids: list[int] = []
    try:
        started, cpu_started = time.perf_counter(), time.process_time()
        batch = imports.create_batch("donors", "bench-donors.csv", data)
        batch_ids.append(batch.id)
        uploaded = time.perf_counter()
        imports.save_mapping(batch, batch.mapping["columns"], day_first=True)  # runs the checking job
        db.session.expire_all()
        batch = imports.get_batch(batch.id)
        checked = time.perf_counter()
        # The random names and postcodes make some rows look like one person: they are flagged, then imported.
        duplicates = imports.problem_counts(batch)["duplicates"]
        if (batch.status, batch.valid_rows + duplicates) != ("validated", DONORS):
            raise RuntimeError(f"the check found {batch.valid_rows:,} valid rows ({batch.status}): {batch.message}")
        imports.confirm(batch, skip_invalid=False, include_duplicates=True)  # runs the import job
        db.session.expire_all()
        batch = imports.get_batch(batch.id)
        finished, cpu = time.perf_counter(), time.process_time() - cpu_started
        if (batch.status, batch.imported_rows) != ("imported", DONORS):
            raise RuntimeError(f"the import ended {batch.status} with {batch.imported_rows:,} rows: {batch.message}")
        after = db.session.scalar(select(func.count()).select_from(Donor))
        if after - before != DONORS:
            raise RuntimeError(f"{after - before:,} donors were added instead of {DONORS:,}")

        total = finished - started
        bench.record(f"import {DONORS:,} donors: upload and read ({len(data) / 1e6:.1f} MB)", uploaded - started, "s")
        bench.record(f"import {DONORS:,} donors: check every row", checked - uploaded, "s")
        bench.record(f"import {DONORS:,} donors: rows flagged as likely duplicates", duplicates, "rows")
        bench.record(f"import {DONORS:,} donors: import in one transaction", finished - checked, "s")
        bench.record(f"import {DONORS:,} donors: total", total, "s", target=TARGET_S)
        bench.record("import throughput", DONORS / total, "rows/s")
        # The jobs run on a thread of this process, so this is the app's share; the database server's is not in it.
        bench.record(f"import {DONORS:,} donors: CPU time of the app process", cpu, "s")
    finally:
        db.session.rollback()
        _remove_imported(batch_ids, existing_tags)
