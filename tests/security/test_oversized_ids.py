"""Odd numbers in paths, query strings and forms: ids beyond the database's integers, negative and
non-numeric ids are a 404 or a field error, never a server error. The sweep walks every route in app.url_map."""
import pytest

from portal.extensions import db
from portal.params import MAX_ID, page_number, parse_id, query_id
from tests.conftest import make_donor, make_gift
from tests.security.routes import (NUMERIC_QUERY_ARGS, ROLES, client_for, ends_the_session, has_integer_part, rules,
                                   state_changing_methods, url_for_rule)

OVERSIZED = ("99999999999999999999999", str(2**63), str(MAX_ID + 1))
ODD = OVERSIZED + ("-1", "abc", "1e3", "٣")


@pytest.mark.parametrize("text, expected", [
    ("42", 42), ("#42", 42), (" 7 ", 7), (str(MAX_ID), MAX_ID), (str(MAX_ID + 1), None), ("99999999999999999999999", None),
    ("-1", None), ("abc", None), ("", None), (None, None), ("٣", None), ("1e3", None),
])
def test_parse_id_accepts_only_ids_the_database_can_hold(text, expected):
    assert parse_id(text) == expected


def test_query_number_types_refuse_what_they_cannot_use():
    assert query_id("12") == 12 and page_number("3") == 3
    for bad, parse in (("99999999999999999999999", query_id), ("0", page_number), ("10000000", page_number)):
        with pytest.raises(ValueError):
            parse(bad)


def _status(client, method: str, url: str, **kwargs) -> int:
    response = client.open(url, method=method, **kwargs)
    response.get_data()  # a streamed body fails while it is read
    return response.status_code


@pytest.mark.parametrize("role", ROLES)
def test_every_route_with_an_id_answers_404_to_an_id_it_cannot_hold(app, role):
    client = client_for(app, role)
    answers = {}
    for rule in rules(app):
        if not has_integer_part(rule) or ends_the_session(rule):
            continue
        for number in ODD:
            url = url_for_rule(rule, number)
            for method in (["GET"] if "GET" in rule.methods else []) + state_changing_methods(rule):
                answers[f"{method} {url}"] = _status(client, method, url)
    assert len(answers) > 300
    assert {request: status for request, status in answers.items() if status != 404} == {}


@pytest.mark.parametrize("role", ROLES)
def test_no_route_fails_on_oversized_numbers_in_the_query_or_form(app, role):
    client = client_for(app, role)
    failures = {}
    for rule in rules(app):
        if ends_the_session(rule):
            continue
        for number in (OVERSIZED[0], "-1", "abc"):
            url = url_for_rule(rule, "1")
            fields = {name: number for name in NUMERIC_QUERY_ARGS}
            requests = ([("GET", {"query_string": fields})] if "GET" in rule.methods else []) + \
                       [(method, {"data": fields}) for method in state_changing_methods(rule)]
            for method, kwargs in requests:
                status = _status(client, method, url, **kwargs)
                if status >= 500:
                    failures[f"{method} {url} {number}"] = status
    assert failures == {}


def test_ticket_search_for_an_oversized_number_finds_nothing(staff_client):
    response = staff_client("support").get("/staff/tickets/?q=99999999999999999999999")
    assert response.status_code == 200
    assert "No tickets" in response.get_data(as_text=True) or "0 tickets" in response.get_data(as_text=True)


def test_statement_for_a_year_out_of_range_is_404(app):
    client = client_for(app, "donor")
    with app.app_context():
        donor_id = db.session.scalar(db.text("select id from donors where email = 'sweep.donor@example.org'"))
        make_gift(donor_id, 2500)
    assert client.get("/me/giving/statement/2026").status_code == 200
    for year in ("99999", "2147483647", "0", "99999999999999999999999"):
        assert client.get(f"/me/giving/statement/{year}").status_code == 404
    assert client.get("/me/giving?year=99999999999999999999999").status_code == 200


def test_segment_condition_with_a_23_digit_number_is_a_field_error(staff_client):
    client = staff_client("fundraiser")
    response = client.post("/staff/segments/new", data={
        "name": "Huge", "description": "", "match": "all",
        "0.field": "gift_count", "0.op": "gte", "0.value": "99999999999999999999999"})
    assert response.status_code == 400
    assert "Enter a number no larger than 1,000,000,000,000." in response.get_data(as_text=True)


@pytest.mark.parametrize("path", ["/staff/tickets/new", "/staff/tasks/new"])
def test_oversized_donor_number_on_a_new_ticket_or_task_is_a_field_error(app, staff_client, path):
    with app.app_context():
        make_donor(first_name="Real", email="real@example.org")
    response = staff_client("support").post(path, data={"donor_id": "99999999999999999999999", "subject": "Hello",
                                                         "title": "Call back", "body": "Text", "channel": "email"})
    assert response.status_code == 400
    assert "There is no donor with that number." in response.get_data(as_text=True)
