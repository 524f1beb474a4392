"""Foundation targets: donor search and filter p95 ≤ 50 ms, the donor page with a 500-touchpoint timeline
p95 ≤ 50 ms (server time), recording a gift with its rollup and touchpoint p95 ≤ 20 ms."""
from __future__ import annotations

import random
from datetime import timedelta
from urllib.parse import urlencode

from sqlalchemy import delete, func, select

from portal import jobs
from portal.donors.models import Donor
from portal.extensions import db
from portal.giving.models import Gift
from portal.giving.services import GiftInput, record_gift, refresh_stats
from portal.journey import services as journey
from portal.journey.models import Touchpoint
from portal.settings.services import organisation
from portal.timeutil import utcnow
from tests.perf.bench import rss_mb

PAGE_TARGET_MS = 50
GIFT_TARGET_MS = 20
TIMELINE_SIZE = 500
REPEAT = 30
GIFTS_TIMED = 100
EXTRA_KINDS = ("email_sent", "email_opened", "email_clicked", "portal_login", "kb_article_viewed", "call", "note", "inquiry")


def run(bench) -> None:
    client = bench.client("fundraiser")
    for label, params in donor_list_queries(bench):
        url = "/staff/donors/?" + urlencode(params)
        bench.timeit(f"donor list: {label}", lambda url=url: get(client, url), repeat=REPEAT, target_ms=PAGE_TARGET_MS)
        bench.timeit(f"donor list: {label} (htmx)", lambda url=url: get(client, url, htmx=True), repeat=REPEAT,
                     target_ms=PAGE_TARGET_MS)

    donor_id = donor_with_long_timeline()
    page = f"/staff/donors/{donor_id}"
    cursor = journey.timeline(donor_id).next_cursor
    bench.timeit(f"donor page, {TIMELINE_SIZE}-touchpoint timeline", lambda: get(client, page), repeat=REPEAT, target_ms=PAGE_TARGET_MS)
    bench.timeit("donor page: timeline filtered by kind (htmx)", lambda: get(client, page + "?group=digital", htmx=True),
                 repeat=REPEAT, target_ms=PAGE_TARGET_MS)
    bench.timeit("donor page: older timeline items (htmx scroll)", lambda: get(client, f"{page}?cursor={cursor}", htmx=True),
                 repeat=REPEAT, target_ms=PAGE_TARGET_MS)
    bench.record("web process RSS after the page benchmarks", rss_mb(), "MB")

    time_gift_recording(bench)


def get(client, url: str, *, htmx: bool = False) -> str:
    response = client.get(url, headers={"HX-Request": "true"} if htmx else {})
    if response.status_code != 200:
        raise AssertionError(f"GET {url} answered {response.status_code}")
    return response.get_data(as_text=True)


def donor_list_queries(bench) -> list[tuple[str, dict]]:
    """Queries a fundraiser makes, with a real email and the middle page of the whole list."""
    total = db.session.scalar(select(func.count()).select_from(Donor))
    email = db.session.scalar(select(Donor.email).where(Donor.id >= total // 3, Donor.email.is_not(None)).order_by(Donor.id).limit(1))
    middle_page = max(1, total // bench.app.config["PAGE_SIZE"] // 2)
    return [
        ("whole list, first page", {}),
        ("name typed 'a'", {"q": "a"}),
        ("name typed 'ad'", {"q": "ad"}),
        ("name typed 'ada'", {"q": "ada"}),
        ("first name and surname 'james s'", {"q": "james s"}),
        ("exact email", {"q": email}),
        ("email prefix", {"q": email.split(".")[0] + "."}),
        ("tag typed 'volun'", {"q": "volun"}),
        ("tag filter", {"tag": "volunteer"}),
        ("individuals with an active plan, lifetime 100-500", {"kind": "individual", "recurring": "yes", "lifetime_min": "100", "lifetime_max": "500"}),
        ("gave in the last 90 days", {"gave_within": "90"}),
        ("no active plan, gave in the last 365 days, by last gift", {"recurring": "no", "gave_within": "365", "sort": "-last_gift"}),
        ("sorted by lifetime, highest first", {"sort": "-lifetime"}),
        (f"deep page ({middle_page:,} of the whole list)", {"page": str(middle_page)}),
    ]


def donor_with_long_timeline() -> int:
    """The middle donor, topped up to exactly TIMELINE_SIZE touchpoints (idempotent for a kept data set)."""
    total = db.session.scalar(select(func.count()).select_from(Donor))
    donor_id = db.session.scalar(select(Donor.id).where(Donor.id >= total // 2).order_by(Donor.id).limit(1))
    have = db.session.scalar(select(func.count()).select_from(Touchpoint).where(Touchpoint.donor_id == donor_id))
    rng = random.Random(donor_id)
    now = utcnow()
    for _ in range(TIMELINE_SIZE - have):
        kind = rng.choice(EXTRA_KINDS)
        db.session.add(Touchpoint(donor_id=donor_id, kind=kind, occurred_at=now - timedelta(minutes=rng.randrange(3 * 365 * 24 * 60)),
                                  channel="email" if kind.startswith("email") else "", summary=f"Benchmark {kind.replace('_', ' ')}",
                                  processed_at=now))
    db.session.commit()
    return donor_id


BENCH_REDIS_URL = "redis://127.0.0.1:6379/12"


def time_gift_recording(bench) -> None:
    """record_gift on donors across the list, then remove what was added so a kept data set stays as generated."""
    last_gift = db.session.scalar(select(func.max(Gift.id)))
    last_touchpoint = db.session.scalar(select(func.max(Touchpoint.id)))
    total = db.session.scalar(select(func.count()).select_from(Donor))
    rng = random.Random(2)
    donors = [rng.randrange(1, total + 1) for _ in range(GIFTS_TIMED + 1)]
    currency = organisation().currency
    received = utcnow() - timedelta(hours=1)

    def one_gift() -> None:
        record_gift(donors.pop(), GiftInput(amount_minor=rng.choice([500, 1000, 2500, 5000]), received_at=received,
                                            currency=currency, fund="General fund", method="card"))

    # In production the web process only enqueues the after-commit work (points, workflows, risk, suggestions)
    # for the workers; time the same here by queueing onto a real Redis database that is emptied afterwards.
    app = bench.app
    local_runner = app.extensions["portal_jobs"]
    app.config.update(JOBS_MODE="rq", REDIS_URL=BENCH_REDIS_URL)
    app.extensions["portal_jobs"] = jobs.JobRunner(app)
    try:
        app.extensions["portal_jobs"].connection.flushdb()
        bench.timeit("record a gift (gift, touchpoint, rollup, commit; jobs queued on Redis)", one_gift,
                     repeat=GIFTS_TIMED, target_ms=GIFT_TARGET_MS)
    finally:
        app.extensions["portal_jobs"].connection.flushdb()
        app.extensions["portal_jobs"] = local_runner
        app.config.update(JOBS_MODE="sync", REDIS_URL=None)
        touched = list(db.session.scalars(select(Gift.donor_id).where(Gift.id > last_gift).distinct()))
        db.session.execute(delete(Touchpoint).where(Touchpoint.id > last_touchpoint))
        db.session.execute(delete(Gift).where(Gift.id > last_gift))
        for donor_id in touched:
            refresh_stats(donor_id)
        db.session.commit()
