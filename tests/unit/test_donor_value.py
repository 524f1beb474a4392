"""A donor's lifetime and predicted value on their page, by the Lifetime value report's model."""
from datetime import datetime, timedelta

import pytest

from portal.insights import lifetime, services
from portal.timeutil import utcnow
from tests.conftest import make_donor, make_gift

pytestmark = pytest.mark.usefixtures("ctx")


@pytest.fixture(autouse=True)
def fresh_model():
    """The model is kept for an hour per process; each test measures it on its own donors."""
    services._VALUE_MODEL.clear()
    yield
    services._VALUE_MODEL.clear()
AS_OF = datetime(2026, 12, 1, 12)
MODEL = lifetime.ValueModel(0.3, 0.6, 0.2, 0.05, {}, 0.1, 10, {"new": 1.5, "repeat": 3.0, "lapsing": 0.8, "lapsed": 0.2})


def test_a_repeat_donors_value_is_given_so_far_plus_yearly_value_times_expected_years():
    value = lifetime.donor_value(datetime(2024, 12, 1, 12), datetime(2026, 6, 1), 30000, MODEL, AS_OF)
    assert value.state == "repeat"
    assert value.annual_minor == round(30000 / ((datetime(2026, 6, 1) - datetime(2024, 12, 1, 12)).total_seconds()
                                                 / lifetime.SECONDS_PER_YEAR))
    assert abs(value.predicted_minor - (30000 + value.annual_minor * 3.0)) <= 3  # rounding of the yearly value


def test_states_follow_the_report():
    assert lifetime.donor_value(datetime(2026, 3, 1), datetime(2026, 3, 1), 5000, MODEL, AS_OF).state == "new"
    lapsing = lifetime.donor_value(datetime(2023, 1, 1), datetime(2025, 3, 1), 5000, MODEL, AS_OF)
    assert lapsing.state == "lapsing" and lapsing.predicted_minor > 5000
    assert lifetime.donor_value(datetime(2020, 1, 1), datetime(2022, 1, 1), 5000, MODEL, AS_OF).state == "lapsed"
    assert lifetime.donor_value(None, None, 0, MODEL, AS_OF) is None


def test_the_donor_page_panel_value_for_a_real_donor():
    donor = make_donor(email="ada@example.org")
    assert services.donor_value(donor.id) is None
    make_gift(donor.id, 2500, utcnow() - timedelta(days=400))
    make_gift(donor.id, 5000, utcnow() - timedelta(days=20))
    value = services.donor_value(donor.id)
    assert (value.state, value.historical_minor) == ("repeat", 7500)
    assert value.predicted_minor > 7500


def test_the_donor_page_shows_lifetime_and_predicted_value(staff_client):
    donor = make_donor(email="ada@example.org")
    make_gift(donor.id, 2500, utcnow() - timedelta(days=400))
    make_gift(donor.id, 5000, utcnow() - timedelta(days=20))
    page = staff_client("support").get(f"/staff/donors/{donor.id}").get_data(as_text=True)
    value = services.donor_value(donor.id)
    assert "Predicted lifetime value" in page
    assert f"£{value.predicted_minor / 100:,.2f}" in page and "£75.00" in page
