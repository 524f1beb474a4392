"""One email check: what a CSV import accepts is what delivery sends to, and both agree with email_validator."""
import pytest
from email_validator import EmailNotValidError, validate_email

from portal.donors import imports
from portal.email_address import email_problem
from portal.engagement.delivery.outbox import queue_email

pytestmark = pytest.mark.usefixtures("ctx")

LONG_DOMAIN = "x@" + ("a" * 60 + ".") * 4 + "com"  # 249 characters: within the limit
ADDRESSES = ["ann@example.org", "o'brien+appeal@example.org", "ann@ex--ample.org", LONG_DOMAIN, "ann@example.test",
             "ann@localhost", "a..b@example.org", "üser@bücher.example", "a" * 65 + "@example.org", "ann@exa_mple.org"]


def _validator_accepts(address: str) -> bool:
    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


@pytest.mark.parametrize("address", ADDRESSES)
def test_import_and_delivery_give_the_validators_verdict(address):
    accepted = _validator_accepts(address)
    assert imports.email_is_valid(address) is accepted
    message = queue_email(address, "Hello", "Hello")
    assert message.status == ("pending" if accepted else "skipped")
    assert (email_problem(address) is None) is accepted


def test_the_reason_is_kept_and_surrounding_spaces_are_not_a_problem_at_send_time():
    assert email_problem("ann@ex--ample.org").startswith("Invalid email address: ")
    assert email_problem("") == "No email address."
    assert queue_email("  ann@example.org ", "Hello", "Hello").status == "pending"
