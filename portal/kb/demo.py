"""The demo's help-centre searches: what donors of a charity like Harbour Trust type most, so the staff help
centre shows real figures from the first `make run`, and a test holds every one to the article it should find."""
from __future__ import annotations

import random
from datetime import timedelta

from sqlalchemy import func, select

from portal.donors.models import Donor
from portal.extensions import db
from portal.kb import services
from portal.kb.models import SearchLog
from portal.timeutil import utcnow

# (what donors type, how many times in the demo's two months, the article it must find in the top three)
DEMO_SEARCHES: list[tuple[str, int, str]] = [
    ("gift aid", 64, "how-gift-aid-works"),
    ("cancel direct debit", 52, "change-pause-or-stop-regular-gift"),
    ("change my address", 41, "update-your-profile"),
    ("receipt", 38, "receipts"),
    ("annual statement", 33, "annual-giving-statement"),
    ("change amount", 30, "change-pause-or-stop-regular-gift"),
    ("update card", 28, "update-card-details"),
    ("payment failed", 26, "payment-failed"),
    ("charged twice", 22, "a-payment-looks-wrong"),
    ("how is my money spent", 21, "how-your-gift-is-used"),
    ("where does my money go", 12, "how-your-gift-is-used"),
    ("unsubscribe", 20, "email-preferences"),
    ("reset password", 19, "signing-in-and-passwords"),
    ("change payment date", 17, "a-payment-looks-wrong"),
    ("loyalty points", 16, "how-loyalty-points-work"),
    ("delete my account", 15, "close-your-account"),
    ("refund", 14, "refunds"),
    ("sponsorship letter", 13, "sponsorship-letters-and-updates"),
    ("cheque", 12, "other-ways-to-give"),
    ("paypal", 11, "other-ways-to-give"),
    ("in memory", 10, "giving-in-memory"),
    ("standing order", 9, "other-ways-to-give"),
    ("tax year", 9, "annual-giving-statement"),
    ("payroll giving", 8, "other-ways-to-give"),
    ("leave a legacy", 8, "leaving-a-legacy"),
    ("change email address", 7, "update-your-profile"),
    ("is this email genuine", 6, "recognising-genuine-messages"),
    ("stop sponsorship", 6, "change-pause-or-stop-regular-gift"),
    ("rewards", 5, "redeeming-rewards"),
    ("complaint", 4, "contact-supporter-care"),
    ("volunteer", 4, "volunteering"),
]
DAYS = 60


def seed_searches(*, seed: int = 7) -> int:
    """Log the demo's searches for random demo donors over the last two months, written as real searches are
    (each with its touchpoint). Does nothing when searches are already logged; returns how many were written."""
    if db.session.scalar(select(func.count()).select_from(SearchLog)):
        return 0
    donor_ids = db.session.scalars(select(Donor.id).where(Donor.email.is_not(None)).order_by(Donor.id)).all()
    if not donor_ids:
        return 0
    rng = random.Random(seed)
    now = utcnow()
    batch = []
    for query, times, _article in DEMO_SEARCHES:
        result = services.search(query, scope="donor")
        top = result.hits[0].article_id if result.hits else None
        for _ in range(times):
            searched_at = now - timedelta(days=rng.uniform(0, DAYS))
            batch.append(services.PendingSearch(result.query, "donor", rng.choice(donor_ids), result.total, top,
                                                searched_at, touchpoint=True))
    services.write_searches(batch)
    return len(batch)
