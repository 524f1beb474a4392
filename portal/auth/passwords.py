"""The password rule (NIST SP 800-63B, 5.1.1.2): long enough, not absurdly long, and not one that attackers
try first. Composition rules and forced changes are left out on purpose: the guidance advises against them.

`common-passwords.txt.gz` is the list of the 20,000 most common passwords that Django ships
(django/contrib/auth/common-passwords.txt.gz, BSD licence; compiled by Royce Williams from breach data)."""
from __future__ import annotations

import gzip
from functools import cache
from pathlib import Path

MIN_LENGTH = 10
MAX_LENGTH = 256  # long passphrases welcome; the cap only stops hashing megabytes
MIN_DISTINCT_CHARACTERS = 4  # "aaaaaaaaaa" and "1212121212" are as weak as any listed password
COMMON_PASSWORDS = Path(__file__).with_name("common-passwords.txt.gz")


@cache
def common_passwords() -> frozenset[str]:
    with gzip.open(COMMON_PASSWORDS, "rt", encoding="utf-8") as lines:
        return frozenset(line.strip().lower() for line in lines if line.strip())


def password_problem(password: str, email: str = "") -> str | None:
    """Why a new password is refused, in words for the person choosing it; None if it is fine."""
    if len(password) < MIN_LENGTH:
        return f"Use at least {MIN_LENGTH} characters."
    if len(password) > MAX_LENGTH:
        return f"Use at most {MAX_LENGTH} characters."
    folded = password.strip().lower()
    if email and folded in {email.lower(), email.lower().split("@")[0]}:
        return "Your password cannot be your email address."
    if len(set(folded)) < MIN_DISTINCT_CHARACTERS:
        return "This password repeats the same few characters. Choose another: a short sentence works well."
    if folded in common_passwords():
        return ("This is one of the most common passwords, so it would be guessed quickly. "
                "Choose another: a short sentence works well.")
    return None
