"""Gift Aid benchmarks: building a claim over a year of gifts, its .ods schedule, the monthly figures job and
the Gift Aid page. 60% of individual donors get a declaration and 2,000 get a benefit; the claims built here are
deleted and the scheme set back afterwards, so a kept data set can be rerun."""
from __future__ import annotations

import time
from datetime import date, timedelta


def run(bench) -> None:
    from sqlalchemy import func, select

    from portal.donors.models import Donor
    from portal.extensions import db
    from portal.taxrelief import claims, services
    from portal.taxrelief.models import Benefit, Declaration

    with bench.app.app_context():
        scheme_before = services.scheme()
        services.seed_demo_declarations(60)
        if not db.session.scalar(select(func.count()).select_from(Benefit)):
            donor_ids = db.session.scalars(select(Declaration.donor_id).order_by(Declaration.donor_id).limit(2000))
            for donor_id in donor_ids:
                services.add_benefit(donor_id, received_on=date.today() - timedelta(days=30), value_minor=1500,
                                     description="Supporter evening ticket")
            db.session.commit()
        bench.record("donors with a Gift Aid declaration", db.session.scalar(
            select(func.count(func.distinct(Declaration.donor_id)))), "donors")
        bench.record("individual donors", db.session.scalar(
            select(func.count()).select_from(Donor).where(Donor.kind == "individual")), "donors")

        end = date.today()
        start = end - timedelta(days=364)
        started, cpu_started = time.perf_counter(), time.process_time()
        built = claims.build_claims(start, end)
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
        lines = sum(claim.line_count for claim in built)
        gifts = sum(claim.gift_count for claim in built)
        parts = f"{len(built)} claim{'s' if len(built) != 1 else ''}"
        bench.record(f"build a claim over a year: {gifts:,} gifts on {lines:,} lines in {parts}",
                     round(seconds, 2), "s", target=10)
        # The web process's own CPU time: what the build costs when the machine is not shared.
        bench.record("build a claim over a year, CPU time of the web process", round(cpu_seconds, 2), "s")
        claim_ids = [claim.id for claim in built]

        first = claims.get_claim(claim_ids[0])
        started = time.perf_counter()
        size = len(claims.schedule_ods(first))
        bench.record(f"HMRC .ods schedule of {first.line_count:,} lines ({size // 1024} KB)",
                     round((time.perf_counter() - started) * 1000, 1), "ms")

        started = time.perf_counter()
        claims.refresh_month_figures()
        bench.record("monthly claimed/unclaimed figures (the nightly job)", round(time.perf_counter() - started, 2), "s",
                     target=30)
        db.session.remove()

    fundraiser = bench.client("fundraiser")
    for name, path in (("Gift Aid page (claims, stored monthly figures)", "/staff/gift-aid/"),
                       ("claim page, first 200 lines", f"/staff/gift-aid/claims/{claim_ids[0]}")):
        def fetch(path=path):
            response = fundraiser.get(path)
            assert response.status_code == 200, (path, response.status_code)

        fetch()
        bench.timeit(name, fetch, repeat=30, target_ms=100, stat="p95")

    with bench.app.app_context():
        for claim_id in claim_ids:
            claims.delete_draft(claims.get_claim(claim_id))
        # Later benchmarks of a kept data set (the donor page) measure the app as it was, without Gift Aid.
        services.update_settings(scheme_key=scheme_before)
        db.session.remove()
