"""HMRC's Gift Aid rules as plain functions of plain values: tested without a database or HTTP."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

BASIC_RATE_GROSS_UP = (25, 100)  # Gift Aid adds 25p to every £1 (basic rate 20% on the gross gift)
BENEFIT_CAP_MINOR = 250_000  # £2,500 a tax year
SMALL_DONATION_MAX_MINOR = 3_000  # single gifts of £30 or less may be aggregated
AGGREGATE_LINE_MAX_MINOR = 100_000  # at most £1,000 on one aggregated line
LINES_PER_SCHEDULE = 1_000
ORAL_CANCEL_DAYS = 30

REASONS = {
    "refunded": "Refunded",
    "not_received": "Not received yet (a pledge)",
    "currency": "Not given in pounds sterling",
    "organisation": "Given by an organisation, not an individual taxpayer",
    "company": "Paid by a company, not from the donor's own taxed income",
    "payroll": "Payroll giving, which is already free of tax",
    "claimed": "Already claimed",
    "in_draft": "On a draft claim",
    "no_declaration": "No valid Gift Aid declaration covers the gift's date",
    "cancelled": "The declaration covering it was cancelled",
    "benefits": "Benefits the donor received that tax year are over HMRC's limit",
}

UK_COUNTRIES = {"", "uk", "u.k.", "united kingdom", "gb", "great britain", "england", "scotland", "wales",
                "northern ireland"}
POSTCODE = re.compile(r"^([A-Z]{1,2}[0-9][A-Z0-9]?) ?([0-9][A-Z]{2})$")
# A first line that is only a street ("High Street") has no house name: these words end street names.
STREET_WORDS = {"street", "st", "road", "rd", "lane", "avenue", "ave", "close", "way", "drive", "place", "crescent",
                "terrace", "gardens", "square", "grove", "row", "walk", "parade", "hill", "mews"}
HOUSE_NUMBER = re.compile(r"^\s*(?:flat\s+\S+,?\s*)?(\d+[A-Za-z]?(?:-\d+[A-Za-z]?)?)\b", re.IGNORECASE)


def gift_aid_on(amount_minor: int) -> int:
    """The tax a charity reclaims on a gift: 25% of it, rounded down to the penny."""
    return amount_minor * BASIC_RATE_GROSS_UP[0] // BASIC_RATE_GROSS_UP[1]


def benefit_limit(donations_minor: int) -> int:
    """HMRC's donor-benefit limit for a year's donations: 25% of the first £100 plus 5% of the rest,
    never more than £2,500."""
    first = min(donations_minor, 10_000)
    rest = max(donations_minor - 10_000, 0)
    return min(first * 25 // 100 + rest * 5 // 100, BENEFIT_CAP_MINOR)


def tax_year(day: date) -> int:
    """The UK tax year a day falls in, named by the year it starts (6 April)."""
    return day.year if (day.month, day.day) >= (4, 6) else day.year - 1


def tax_year_bounds(year: int) -> tuple[date, date]:
    return date(year, 4, 6), date(year + 1, 4, 5)


def years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


@dataclass(frozen=True)
class DeclarationTerms:
    """What coverage depends on; Declaration rows and test values both provide it."""

    scope: str
    method: str
    made_on: date
    gift_id: int | None = None
    cancelled_on: date | None = None
    confirmation_sent_on: date | None = None


def void_from_start(terms: DeclarationTerms) -> bool:
    """An oral declaration cancelled within 30 days of its written confirmation never counted."""
    if terms.method != "oral" or terms.cancelled_on is None:
        return False
    sent = terms.confirmation_sent_on or terms.made_on
    return terms.cancelled_on <= sent + timedelta(days=ORAL_CANCEL_DAYS)


def coverage(terms: DeclarationTerms, gift_id: int, received_on: date) -> str | None:
    """'valid', 'cancelled' (it would have covered the gift but was cancelled), or None (not in its scope)."""
    if terms.scope == "this_gift":
        in_scope = terms.gift_id == gift_id
    elif terms.scope == "future":
        in_scope = received_on >= terms.made_on
    else:
        in_scope = received_on >= years_before(terms.made_on, 4)
    if not in_scope:
        return None
    if terms.cancelled_on is not None and (void_from_start(terms) or received_on >= terms.cancelled_on):
        return "cancelled"
    return "valid"


def declaration_reason(declarations: list[DeclarationTerms], gift_id: int, received_on: date) -> str | None:
    """None when a declaration covers the gift, else the reason key."""
    outcomes = {coverage(terms, gift_id, received_on) for terms in declarations}
    if "valid" in outcomes:
        return None
    return "cancelled" if "cancelled" in outcomes else "no_declaration"


def normalise_postcode(text: str) -> str | None:
    """'sw1a1aa' -> 'SW1A 1AA'; None when it is not a UK postcode."""
    squeezed = re.sub(r"\s+", "", text or "").upper()
    match = POSTCODE.match(squeezed)
    return f"{match.group(1)} {match.group(2)}" if match else None


def house_name_or_number(address_line1: str) -> str:
    """The house number ('12a' from '12a High Street', '4' from 'Flat 2, 4 Sea Road'), else the house name
    (the part before the first comma), as HMRC's schedule wants it."""
    line = (address_line1 or "").strip()
    if not line:
        return ""
    match = HOUSE_NUMBER.match(line)
    if match:
        return match.group(1)[:40]
    name = line.split(",")[0].strip()
    words = name.lower().rstrip(".").split()
    if any(ch.isdigit() for ch in name) or (words and words[-1] in STREET_WORDS):
        return ""
    return name[:40]


def address_problems(*, address_line1: str, postcode: str, country: str) -> list[str]:
    """What stops a donor's gifts going on a claim line, in words."""
    problems = []
    if (country or "").strip().lower() not in UK_COUNTRIES:
        problems.append("The home address is not in the UK")
    if not house_name_or_number(address_line1):
        problems.append("No house name or number in the first address line")
    if not (postcode or "").strip():
        problems.append("No postcode")
    elif normalise_postcode(postcode) is None:
        problems.append(f"“{postcode.strip()}” is not a UK postcode")
    return problems


def schedule_title(title: str) -> str:
    """HMRC allows titles of at most four characters; a longer one is left out rather than cut."""
    cleaned = (title or "").strip().rstrip(".")
    return cleaned if len(cleaned) <= 4 else ""


def schedule_name(name: str) -> str:
    """At most 35 characters; double-barrelled hyphens become spaces."""
    return re.sub(r"\s+", " ", (name or "").replace("-", " ")).strip()[:35]


def schedule_amount(minor: int) -> str:
    return f"{minor // 100}.{minor % 100:02d}"


def schedule_date(day: date) -> str:
    return day.strftime("%d/%m/%y")
