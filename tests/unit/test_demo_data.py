"""The demo data generator: every address it writes is one the app itself accepts."""
from __future__ import annotations

from datetime import datetime

from email_validator import EmailNotValidError, validate_email

from portal.demo import DONOR_COLUMNS, Generated, HistoryGenerator, email_local_part


def test_company_and_accented_names_make_valid_local_parts():
    assert email_local_part("Bailey,") == "bailey"
    assert email_local_part("Zoë.O'Neill-Smith") == "zoe.o.neill.smith"
    assert email_local_part("...") == "supporter"


def test_every_generated_demo_address_is_valid():
    generator = HistoryGenerator(7, "GBP", datetime(2026, 12, 1))
    out = Generated()
    for donor_id in range(1, 3001):
        generator.donor(donor_id, out)
    email = DONOR_COLUMNS.index("email")
    invalid = []
    for row in out.donors:
        try:
            validate_email(row[email], check_deliverability=False)
        except EmailNotValidError:
            invalid.append(row[email])
    assert not invalid, invalid[:10]
    assert len({row[email] for row in out.donors}) == 3000
