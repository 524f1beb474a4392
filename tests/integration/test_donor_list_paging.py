"""The donor list's pager, with an exact total and past the count limit."""
import pytest

from portal.donors import search
from tests.conftest import login, make_donor, make_user


@pytest.fixture
def support_client(app):
    # The login form refuses conftest's special-use .test addresses, so this user has an ordinary one.
    with app.app_context():
        make_user("support", "support@harbour.example.org")
    client = app.test_client()
    assert login(client, "support@harbour.example.org").status_code == 303
    return client


def test_pager_shows_the_exact_total_and_page_count(app, support_client, monkeypatch):
    with app.app_context():
        for n in range(3):
            make_donor(first_name=f"Donor{n}", last_name="Page")
    monkeypatch.setitem(app.config, "PAGE_SIZE", 2)
    html = support_client.get("/staff/donors/?q=page").get_data(as_text=True)
    assert "3 donors · page 1 of 2" in html
    assert "Next →" in html


def test_pager_says_more_than_the_limit_and_still_offers_the_next_page(app, support_client, monkeypatch):
    monkeypatch.setattr(search, "COUNT_LIMIT", 2)
    monkeypatch.setitem(app.config, "PAGE_SIZE", 2)
    with app.app_context():
        for n in range(4):
            make_donor(first_name=f"Donor{n}", last_name="Page")
    first = support_client.get("/staff/donors/?kind=individual", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "More than 2 donors · page 1" in first and "Next →" in first
    assert "<html" not in first  # the htmx request got the results block only
    last = support_client.get("/staff/donors/?kind=individual&page=2").get_data(as_text=True)
    assert "4 donors · page 2 of 2" in last and "Next →" not in last and "← Previous" in last
    beyond = support_client.get("/staff/donors/?kind=individual&page=99").get_data(as_text=True)
    assert "4 donors · page 2 of 2" in beyond
