"""The annual statement as a PDF download: the donor's own gifts for the year, on one A4 page."""
from __future__ import annotations

import re
import zlib
from datetime import timedelta

from portal.timeutil import utcnow
from tests.conftest import login, make_donor, make_gift, make_user


def _donor_client(app, email="amelia@example.org", gifts=3):
    with app.app_context():
        donor = make_donor(first_name="Amelia", last_name="Clarke", email=email)
        for n in range(gifts):
            make_gift(donor.id, 2500 + 100 * n, utcnow() - timedelta(days=n + 1))
        make_user("donor", email, donor_id=donor.id)
    client = app.test_client()
    login(client, email)
    return client


def test_the_statement_downloads_as_a_one_page_pdf(app):
    client = _donor_client(app)
    year = utcnow().year
    page = client.get(f"/me/giving/statement/{year}").get_data(as_text=True)
    assert f'href="/me/giving/statement/{year}.pdf"' in page and "Download PDF" in page
    response = client.get(f"/me/giving/statement/{year}.pdf")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/pdf"
    assert response.headers["Content-Disposition"] == f'attachment; filename="giving-statement-{year}.pdf"'
    assert response.data.startswith(b"%PDF-")
    assert page_count(response.data) == 1


def pdf_objects(pdf: bytes) -> bytes:
    """The PDF's objects with its compressed object streams inflated, to look for page dictionaries."""
    inflated = [pdf]
    for stream in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.DOTALL):
        try:
            inflated.append(zlib.decompress(stream))
        except zlib.error:
            continue
    return b"\n".join(inflated)


def page_count(pdf: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", pdf_objects(pdf)))


def test_a_year_without_gifts_has_no_pdf_and_signed_out_visitors_get_none(app):
    client = _donor_client(app)
    assert client.get("/me/giving/statement/1999.pdf").status_code == 404
    assert app.test_client().get(f"/me/giving/statement/{utcnow().year}.pdf").status_code in (302, 303)
