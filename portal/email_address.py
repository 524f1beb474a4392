"""Whether an email address can be used: the one check for the donor form, CSV imports and sending.

The verdict is email_validator's, without a DNS lookup (deliverability is the mail server's business).
It is fast enough for a file of 100k addresses or a delivery batch: for a plain ASCII address only the
local part's shape and the lengths are checked here (email_validator's own rules), and the domain, where
the slow part of the check is, is checked once per domain.
"""
from __future__ import annotations

import functools
import re

from email_validator import EmailNotValidError, validate_email

_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_ASCII_ADDRESS = re.compile(rf"^{_ATEXT}(?:\.{_ATEXT})*@([A-Za-z0-9.-]+)$")


def email_problem(address: str | None) -> str | None:
    """Why an address cannot be used, or None."""
    if not address:
        return "No email address."
    match = _ASCII_ADDRESS.match(address)
    if match and len(address) <= 254 and address.index("@") <= 64 and _domain_accepted(match.group(1).lower()):
        return None
    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError as exc:
        return f"Invalid email address: {exc}"
    return None


def email_is_valid(address: str | None) -> bool:
    return email_problem(address) is None


@functools.lru_cache(maxsize=10_000)
def _domain_accepted(domain: str) -> bool:
    try:  # the shortest local part, so the address's own length check is the one that counts
        validate_email(f"x@{domain}", check_deliverability=False)
    except EmailNotValidError:
        return False
    return True
