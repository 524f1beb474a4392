"""The HMRC schedule as LibreOffice reads it: converted headless to CSV and checked cell by cell."""
import csv
import shutil
import subprocess
from datetime import date, datetime

import pytest

from portal.taxrelief import claims, services
from tests.conftest import make_donor, make_gift, require_service

pytestmark = [pytest.mark.usefixtures("ctx"), pytest.mark.libreoffice]


def test_schedule_opens_in_libreoffice_with_hmrc_columns_and_values(tmp_path):
    soffice = shutil.which("soffice")
    require_service("LibreOffice", soffice is not None, "install Debian's libreoffice-calc-nogui package")
    services.update_settings(scheme_key="uk_gift_aid")
    donor = make_donor(title="Dr", first_name="Anne-Marie", last_name="Bowes-Lyon", address_line1="Rose Cottage, Mill Lane",
                       postcode="ec1a1bb", country="UK")
    services.make_declaration(donor.id, scope="past_and_future", method="paper", made_on=date(2026, 1, 1))
    make_gift(donor.id, 2000, datetime(2026, 1, 5, 12))
    make_gift(donor.id, 123456, datetime(2026, 3, 9, 12))
    small = make_donor(first_name="Sam", last_name="Small")
    services.make_declaration(small.id, scope="future", method="online", made_on=date(2026, 1, 1))
    make_gift(small.id, 1500, datetime(2026, 2, 14, 12))
    [claim] = claims.build_claims(date(2026, 1, 1), date(2026, 3, 31))

    source = tmp_path / "schedule.ods"
    source.write_bytes(claims.schedule_ods(claim))
    subprocess.run([soffice, "--headless", f"-env:UserInstallation=file://{tmp_path / 'profile'}",
                    "--convert-to", "csv:Text - txt - csv (StarCalc):44,34,76", "--outdir", str(tmp_path), str(source)],
                   check=True, capture_output=True, timeout=120)
    with open(tmp_path / "schedule.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows == [
        ["Item", "Title", "First name or initial", "Last name", "House name or number", "Postcode",
         "Aggregated donations", "Sponsored event", "Donation date", "Donation amount"],
        ["1", "Dr", "Anne Marie", "Bowes Lyon", "Rose Cottage", "EC1A 1BB", "", "", "09/03/26", "1254.56"],
        ["2", "", "", "", "", "", "One-off gifts of 30 GBP or less", "", "14/02/26", "15.00"],
    ]
