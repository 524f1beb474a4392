"""Donor records benchmarks: the duplicate scan over every donor (blocking keys, not all pairs) and a bulk
tag of about half the donors through "all matching" a list filter, as the bulk job runs it."""
from __future__ import annotations

import time


def run(bench) -> None:
    from sqlalchemy import delete, func, select

    from portal.donors import duplicates

    from portal.bulk_actions import services as bulk_actions
    from portal.donors.models import Donor, DuplicatePair, Tag, donor_tags
    from portal.extensions import db
    from portal.giving.models import DonorStats

    donors = db.session.scalar(select(func.count()).select_from(Donor))
    db.session.execute(delete(DuplicatePair))
    db.session.commit()
    for label in ("first run", "steady state"):
        started = time.perf_counter()
        found = duplicates.scan()
        seconds = time.perf_counter() - started
        bench.record(f"duplicate scan, {donors:,} donors ({label}; {found['pairs']:,} pairs)", round(seconds, 2), "s",
                     target=60, ok=seconds <= 60)
    db.session.execute(delete(DuplicatePair))
    db.session.commit()

    # The list filtered to lifetime giving up to the median: about half of everyone, donors without gifts included.
    lifetime = func.coalesce(DonorStats.lifetime_minor, 0)
    median = db.session.scalar(select(lifetime).select_from(Donor).outerjoin(DonorStats, DonorStats.donor_id == Donor.id)
                               .order_by(lifetime).offset(donors // 2).limit(1))
    selection = bulk_actions.Selection(all_matching=True, filters={"lifetime_max": f"{median / 100:.2f}"})
    count = selection.count()
    for action in ("tag", "untag"):
        started = time.perf_counter()
        done = bulk_actions.perform(action, {"tag_name": "bench bulk"}, selection.as_dict(), None, "bench")
        seconds = time.perf_counter() - started
        bench.record(f"bulk {'tag' if action == 'tag' else 'untag'} of all {done:,} matching (lifetime up to median)",
                     round(seconds, 2), "s", target=30, ok=seconds <= 30 and done == count)
    tag_id = db.session.scalar(select(Tag.id).where(Tag.name == "bench bulk"))
    left = db.session.scalar(select(func.count()).select_from(donor_tags).where(donor_tags.c.tag_id == tag_id))
    bench.record("donors still tagged after untag", left, "donors", target=0, ok=left == 0)
    db.session.execute(delete(Tag).where(Tag.id == tag_id))
    db.session.commit()
