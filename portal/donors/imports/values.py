"""Reading cell values as exported by spreadsheets and CRMs: dates, amounts, payment methods, donor types,
channels, yes/no and email addresses."""
from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timezone

from portal.donors.models import Donor
from portal.giving.models import GIFT_METHODS
from portal.money import CURRENCIES, SYMBOLS, parse_amount

_MONTHS = {name.lower(): number for number, name in enumerate(calendar.month_name) if name}
_MONTHS.update({name.lower(): number for number, name in enumerate(calendar.month_abbr) if name})
_MONTHS["sept"] = 9
_NUMERIC_DATE = re.compile(r"^(\d{1,4})[/.\-](\d{1,2})[/.\-](\d{1,4})$")
_TIME = re.compile(r"^(.*?)[ T]+(\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?\s*([ap])?\.?m?\.?$", re.IGNORECASE)


@dataclass(frozen=True)
class When:
    day: date
    at: time | None = None  # None: a date without a time of day


def _year(text: str) -> int:
    year = int(text)
    if len(text) <= 2:  # 2-digit years: the most recent such year that isn't in the future
        this_year = date.today().year
        year += 2000 if 2000 + year <= this_year else 1900
    return year


def parse_when(text: str, *, day_first: bool) -> When | None:
    """Dates as spreadsheets and CRMs write them: 2025-03-04, 04/03/2025, 4.3.25, 4 Mar 2025, March 4, 2025,
    optionally with a time (14:30, 2:30 pm). None when it isn't a date."""
    text = text.strip()
    if not text:
        return None
    if re.match(r"^\d{4}-\d{2}-\d{2}", text):
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            parsed = None
        if parsed is not None:
            if parsed.tzinfo is not None:
                parsed = parsed.astimezone(timezone.utc).replace(tzinfo=None)
            has_time = len(text) > 10
            return When(parsed.date(), parsed.time() if has_time else None)
    at = None
    match = _TIME.match(text)
    if match:
        text, hour, minute, second, half = match.group(1).strip(), int(match.group(2)), int(match.group(3)), \
            int(match.group(4) or 0), (match.group(5) or "").lower()
        if half:
            if not 1 <= hour <= 12:
                return None
            hour = hour % 12 + (12 if half == "p" else 0)
        if hour > 23 or minute > 59 or second > 59:
            return None
        at = time(hour, minute, second)
    day = _parse_day(text, day_first)
    return When(day, at) if day else None


def _parse_day(text: str, day_first: bool) -> date | None:
    match = _NUMERIC_DATE.match(text)
    try:
        if match:
            a, b, c = match.groups()
            if len(a) == 4:
                return date(int(a), int(b), int(c))
            if len(c) not in (2, 4):
                return None
            first, second = int(a), int(b)
            day, month = (first, second) if day_first else (second, first)
            return date(_year(c), month, day)
        parts = [p for p in re.split(r"[\s,/.\-]+", text.lower()) if p]
        if len(parts) != 3:
            return None
        months = [i for i, p in enumerate(parts) if p.rstrip(".") in _MONTHS]
        if len(months) != 1:
            return None
        month = _MONTHS[parts[months[0]].rstrip(".")]
        numbers = [p.removesuffix("st").removesuffix("nd").removesuffix("rd").removesuffix("th")
                   for i, p in enumerate(parts) if i != months[0]]
        if not all(n.isdigit() for n in numbers):
            return None
        if len(numbers[0]) == 4:  # 2025 Mar 4
            return date(int(numbers[0]), month, int(numbers[1]))
        return date(_year(numbers[1]), month, int(numbers[0]))  # 4 Mar 2025, Mar 4 2025
    except ValueError:
        return None


def guess_day_first(values: list[str], currency: str) -> bool:
    """Whether 03/04/2025 means 3 April: the file tells us when some day is over 12; else the US writes month first."""
    day_first_seen = month_first_seen = False
    for value in values:
        match = _NUMERIC_DATE.match(value.strip().split(" ")[0]) if value else None
        if not match or len(match.group(1)) == 4:
            continue
        first, second = int(match.group(1)), int(match.group(2))
        day_first_seen |= first > 12
        month_first_seen |= second > 12
    if day_first_seen != month_first_seen:
        return day_first_seen
    return currency != "USD"


_DECIMAL_COMMA = re.compile(r"^-?\d{1,3}(?:\.\d{3})*,\d{1,2}$|^-?\d+,\d{1,2}$")
_CURRENCY_CODE = re.compile(r"^(?:{codes})\s*|\s*(?:{codes})$".format(codes="|".join(CURRENCIES)), re.IGNORECASE)


def parse_money(text: str) -> int:
    """Amounts as exported: 25, 1,250.00, £25, 25.00 GBP, and 12,50 or 1.250,00 from European spreadsheets."""
    cleaned = _CURRENCY_CODE.sub("", text.strip())
    for symbol in SYMBOLS.values():
        cleaned = cleaned.replace(symbol.strip(), "")
    cleaned = re.sub(r"\s", "", cleaned)
    if _DECIMAL_COMMA.match(cleaned):
        cleaned = cleaned.replace(".", "").replace(",", ".")
    return parse_amount(cleaned)


# Longest first, so "CA$" is read as Canadian dollars before "$" is read at all.
_SYMBOL_CURRENCIES = sorted(((symbol.strip(), code) for code, symbol in SYMBOLS.items()), key=lambda pair: -len(pair[0]))
DOLLARS = frozenset({"USD", "CAD", "AUD", "NZD"})


def amount_currencies(text: str) -> frozenset[str]:
    """The currencies an amount names by code (USD 12.00) or symbol (€12): a bare $ could be any dollar.
    Empty when it names none."""
    text = text.strip()
    match = _CURRENCY_CODE.search(text)
    if match:
        return frozenset({match.group().strip().upper()})
    for symbol, code in _SYMBOL_CURRENCIES:
        if symbol == "R":  # the rand's symbol is a letter: only a prefix of the number counts
            if re.match(r"^-?R\s*\d", text):
                return frozenset({code})
        elif symbol in text:
            return DOLLARS if symbol == "$" else frozenset({code})
    return frozenset()


def currency_words(currencies: frozenset[str]) -> str:
    return "dollars ($)" if currencies == DOLLARS else "/".join(sorted(currencies))


def _key(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


METHOD_WORDS = {
    "card": ("card", "creditcard", "debitcard", "creditdebitcard", "cc", "visa", "mastercard", "amex",
             "americanexpress", "maestro", "credit", "debit", "cardpayment"),
    "direct_debit": ("directdebit", "dd", "ach", "sepa", "sepadirectdebit", "gocardless", "bacsdirectdebit"),
    "bank_transfer": ("banktransfer", "bacs", "transfer", "wire", "wiretransfer", "standingorder", "so", "eft",
                      "bank", "chaps", "fasterpayment", "fasterpayments", "banktransferbacs"),
    "cheque": ("cheque", "check", "chq", "personalcheck", "personalcheque"),
    "cash": ("cash", "coins", "bucket", "collection"),
    "online": ("online", "web", "website", "paypal", "stripe", "justgiving", "virginmoneygiving", "applepay",
               "googlepay", "onlinedonation", "internet"),
    "payroll": ("payroll", "payrollgiving", "giveasyouearn", "gaye"),
    "other": ("other", "inkind", "giftinkind"),
}
METHODS = {word: method for method, words in METHOD_WORDS.items() for word in words}
METHODS.update({_key(label): method for method, label in GIFT_METHODS.items()})
METHODS.update({_key(method): method for method in GIFT_METHODS})

KIND_WORDS = {
    "individual": ("individual", "person", "people", "personal", "ind", "i", "household", "contact", "donor"),
    "organisation": ("organisation", "organization", "org", "o", "company", "business", "corporate", "corporation",
                     "trust", "foundation", "charity", "church", "school", "group", "society", "club"),
}
DONOR_KIND_VALUES = {word: kind for kind, words in KIND_WORDS.items() for word in words}
CHANNEL_WORDS = {"email": ("email", "e mail", "mail"), "phone": ("phone", "telephone", "call", "tel", "mobile"),
                 "post": ("post", "postal", "letter", "mailing"), "sms": ("sms", "text", "text message", "texts")}
CHANNEL_VALUES = {_key(word): channel for channel, words in CHANNEL_WORDS.items() for word in words}
YES = {"yes", "y", "true", "t", "1", "x", "optedin", "optin", "subscribed", "agreed", "consented", "granted"}
NO = {"no", "n", "false", "f", "0", "optedout", "optout", "unsubscribed", "declined", "refused", "none"}
PHONE = re.compile(r"^[0-9+()\-. ]{6,}$")
_LENGTHS = {column.name: column.type.length for column in Donor.__table__.columns if getattr(column.type, "length", None)}
GIFT_TEXT_LENGTH = 80


