"""The back-office home's report figures are recomputed after anything that moves them: a gift, an import."""
from datetime import timedelta

import pytest

from portal.donors import imports
from portal.extensions import db
from portal.insights import services
from portal.timeutil import utcnow
from tests.conftest import make_donor, make_gift

pytestmark = pytest.mark.usefixtures("ctx")


def _headline():
    db.session.expire_all()
    snapshot = services.find_snapshot(services.REPORTS["headline"], services.headline_params())
    return snapshot, services.result_of(snapshot)


def test_a_gift_recomputes_the_headline_figures():
    donor = make_donor(email="ann@example.org")
    services.refresh_headline()
    snapshot, report = _headline()
    assert (snapshot.status, report.given_minor, report.new_donors) == ("done", 0, 0)
    first_computed = snapshot.computed_at
    make_gift(donor.id, 4200, utcnow() - timedelta(days=3))
    snapshot, report = _headline()
    assert (snapshot.status, report.given_minor, report.new_donors) == ("done", 4200, 1)
    assert snapshot.computed_at >= first_computed


def test_an_import_recomputes_the_headline_figures():
    make_donor(email="ann@example.org")
    services.refresh_headline()
    day = (utcnow() - timedelta(days=10)).date().isoformat()
    batch = imports.create_batch("gifts", "g.csv", f"Email,Date,Amount\nann@example.org,{day},30\n".encode())
    imports.save_mapping(batch, batch.mapping["columns"], day_first=True)
    db.session.expire_all()
    imports.confirm(imports.get_batch(batch.id), skip_invalid=False)
    snapshot, report = _headline()
    assert (snapshot.status, report.given_minor, report.new_donors) == ("done", 3000, 1)


def test_marking_stale_leaves_a_snapshot_being_computed_alone():
    services.refresh_headline()
    snapshot, _ = _headline()
    snapshot.status = "running"
    db.session.commit()
    services.mark_headline_stale()
    db.session.commit()
    assert _headline()[0].status == "running"
