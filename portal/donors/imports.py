"""CSV import of donors and of gifts.

An upload becomes an ImportBatch that moves through
    uploaded -> validating -> validated -> importing -> imported
with "cancelled" and "failed" on the side. Staff match the file's columns to our fields (we guess from
the header names, including the names other CRMs export), a job checks every row and keeps every problem
with its row number, and after staff confirm, a second job imports the valid rows in ONE transaction.

Both jobs take only the batch id and read the stored file again, so they can be re-run: each starts by
checking the batch status, and status changes are conditional updates, so a job that runs twice (or a
cancel that races a job) changes nothing the second time. The import checks the rows again inside its
transaction and stops if one of them has become invalid since, so what goes in is exactly what staff
confirmed. Any error rolls the whole import back and marks the batch failed with the reason.
"""
from __future__ import annotations

import calendar
import codecs
import csv
import io
import logging
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from typing import Callable, Iterator
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.orm import defer, load_only

from portal import csvfile, jobs
from portal.audit import services as audit
from portal.donors import services as donor_services
from portal.donors.models import CHANNELS, DONOR_KINDS, Donor, ImportBatch
from portal.email_address import email_is_valid
from portal.extensions import db
from portal.giving import services as giving
from portal.giving.models import GIFT_METHODS
from portal.money import CURRENCIES, SYMBOLS, MoneyError, format_money, parse_amount
from portal.settings.services import organisation
from portal.timeutil import local_date_to_utc, to_local, utcnow

log = logging.getLogger(__name__)

KINDS = {"donors": "Donors", "gifts": "Gifts"}
STATUSES = {
    "uploaded": "Matching columns",
    "validating": "Checking rows",
    "validated": "Ready to import",
    "importing": "Importing",
    "imported": "Imported",
    "failed": "Failed",
    "cancelled": "Cancelled",
}
RUNNING = ("validating", "importing")
MAX_FILE_BYTES = 25 * 1024 * 1024
CHUNK = 1000


class ImportProblem(ValueError):
    """Something staff can fix (the file, the mapping, a choice); the message says what."""


class MappingProblem(ImportProblem):
    def __init__(self, message: str, columns: dict[int, str] | None = None):
        super().__init__(message)
        self.columns = columns or {}


# ---------------------------------------------------------------- the fields a column can fill

@dataclass(frozen=True)
class Target:
    name: str
    label: str
    headers: tuple[str, ...] = ()  # normalised header names that mean this field
    pattern: str = ""  # a looser match, tried when no header matched exactly


EMAIL_HEADERS = ("email", "e mail", "email address", "e mail address", "email 1", "email1", "primary email",
                 "preferred email", "personal email", "home email", "email address 1", "emailaddress")
REF_HEADERS = ("constituent id", "supporter id", "donor id", "contact id", "record id", "external id", "external ref",
               "external reference", "legacy id", "account id", "donor ref", "donor reference", "supporter ref",
               "supporter reference", "member id", "crm id", "urn", "lookup id")

DONOR_TARGETS = {t.name: t for t in (
    Target("title", "Title", ("title", "salutation", "prefix", "honorific", "name prefix")),
    Target("first_name", "First name", ("first name", "firstname", "first", "given name", "given names", "forename",
                                        "forenames", "fname", "first names"), r"\b(first|given|fore) ?names?\b"),
    Target("last_name", "Last name", ("last name", "lastname", "last", "surname", "family name", "lname",
                                      "last names"), r"\b(surname|last ?name|family ?name)\b"),
    Target("organisation_name", "Organisation name", (
        "organisation", "organization", "organisation name", "organization name", "company", "company name",
        "business", "business name", "org name", "org", "trust name", "charity name"), r"\b(organi[sz]ation|company)\b"),
    Target("kind", "Donor type", ("kind", "type", "donor type", "constituent type", "record type", "contact type",
                                  "supporter type", "individual or organisation", "individual or organization")),
    Target("email", "Email", EMAIL_HEADERS, r"\be ?mail\b"),
    Target("phone", "Phone", ("phone", "telephone", "phone number", "telephone number", "mobile", "mobile phone",
                              "mobile number", "cell", "cell phone", "home phone", "primary phone", "tel", "phone 1",
                              "preferred phone"), r"\b(phone|mobile|telephone|tel|cell)\b"),
    Target("birthday", "Birthday", ("birthday", "birth date", "birthdate", "date of birth", "dob"), r"\b(birth|dob)\b"),
    Target("address_line1", "Address line 1", ("address", "address 1", "address line 1", "address1", "addressline1",
                                               "street", "street address", "mailing street", "address line1",
                                               "home street", "address street")),
    Target("address_line2", "Address line 2", ("address 2", "address line 2", "address2", "addressline2",
                                               "address line2", "street 2")),
    Target("city", "Town or city", ("city", "town", "town city", "city town", "town or city", "mailing city",
                                    "home city", "locality", "suburb", "address city")),
    Target("region", "County or region", ("region", "county", "state", "province", "state province",
                                          "county region", "mailing state", "mailing state province", "home state",
                                          "address county", "address state")),
    Target("postcode", "Postcode", ("postcode", "post code", "postal code", "zip", "zip code", "zipcode",
                                    "mailing zip postal code", "mailing postal code", "zip postal code",
                                    "home zip", "postal", "address postcode"), r"\b(post ?code|zip|postal)\b"),
    Target("country", "Country", ("country", "mailing country", "home country", "country name", "address country")),
    Target("preferred_channel", "Preferred channel", ("preferred channel", "preferred contact", "contact preference",
                                                      "preferred contact method", "preferred method of contact")),
    Target("source", "Source", ("source", "lead source", "origin", "how heard", "acquisition source", "how did you hear")),
    Target("notes", "Notes", ("notes", "note", "comments", "comment", "description")),
    Target("marketing_opt_in", "Marketing consent (yes/no)", (
        "marketing opt in", "email opt in", "opt in", "opted in", "marketing consent", "email consent",
        "consent", "marketing", "newsletter", "subscribed", "gdpr consent", "marketing opt in email")),
    Target("tags", "Tags", ("tags", "tag", "labels", "groups", "constituent codes", "attributes")),
    Target("interests", "Interests", ("interests", "interest", "causes", "areas of interest")),
    Target("external_ref", "Reference in the old system", REF_HEADERS + ("id",)),
)}

GIFT_TARGETS = {t.name: t for t in (
    Target("donor_email", "Donor email", EMAIL_HEADERS + ("donor email", "donor email address", "supporter email"),
           r"\be ?mail\b"),
    Target("external_ref", "Donor reference in the old system", REF_HEADERS),
    Target("donor_id", "Donor number in this system", ("portal id", "portal donor id", "donor number")),
    Target("amount", "Amount", ("amount", "gift amount", "donation amount", "donation", "amount received",
                                "received amount", "payment amount", "gift value", "value", "total", "total amount",
                                "gross amount", "amount gbp", "amount usd", "amount eur"),
           r"\b(amount|donation|value)\b"),
    Target("received_at", "Date received", ("date", "gift date", "donation date", "date received", "received",
                                            "received date", "received on", "payment date", "transaction date",
                                            "close date", "date of gift", "gift received date"), r"\bdate\b"),
    Target("fund", "Fund", ("fund", "fund name", "fund description", "designation", "restriction", "fund id"),
           r"\bfund\b"),
    Target("campaign", "Campaign or appeal", ("campaign", "appeal", "campaign name", "appeal name",
                                              "campaign description", "appeal description", "campaign id",
                                              "appeal id"), r"\b(campaign|appeal)\b"),
    Target("method", "Payment method", ("payment method", "method", "payment type", "pay method", "tender type",
                                        "payment method type", "payment mode", "method of payment"),
           r"\b(method|payment type)\b"),
    Target("reference", "Gift reference", ("reference", "gift id", "gift reference", "transaction id",
                                           "transaction reference", "receipt number", "receipt no", "receipt id",
                                           "payment reference", "payment id", "cheque number", "check number")),
    Target("currency", "Currency", ("currency", "currency code", "gift currency")),
)}

TARGETS = {"donors": DONOR_TARGETS, "gifts": GIFT_TARGETS}
DONOR_IDENTIFIERS = ("donor_id", "external_ref", "donor_email")


def normalise_header(header: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9]+", " ", header.lower()).split())


def guess_mapping(kind: str, headers: list[str]) -> list[str]:
    """For each column, the field its header most likely means ("" for none); each field at most once."""
    targets = TARGETS[kind]
    keys = [normalise_header(h) for h in headers]
    guessed = [""] * len(headers)
    for index, key in enumerate(keys):  # exact names first, so "Email" beats an earlier "Work email phone"
        for target in targets.values():
            if key in target.headers and target.name not in guessed:
                guessed[index] = target.name
                break
    for index, key in enumerate(keys):
        if guessed[index]:
            continue
        for target in targets.values():
            if target.pattern and target.name not in guessed and re.search(target.pattern, key):
                guessed[index] = target.name
                break
    return guessed


# ---------------------------------------------------------------- reading the file

def size_limit() -> str:
    kilobytes = MAX_FILE_BYTES // 1024
    return f"{kilobytes // 1024} MB" if kilobytes >= 1024 else f"{kilobytes} KB"


def decode_upload(data: bytes) -> str:
    """The file's text: UTF-8 with or without BOM, UTF-16 with BOM, else Windows-1252 (old Excel)."""
    if not data or not data.strip():
        raise ImportProblem("The file is empty.")
    if len(data) > MAX_FILE_BYTES:
        raise ImportProblem(f"The file is larger than {size_limit()}, the most that can be imported at once. "
                            "Split it into smaller files and import them one by one.")
    if data.startswith(b"PK\x03\x04"):
        raise ImportProblem("This looks like an Excel workbook. Open it in your spreadsheet program, choose "
                            "Save As › CSV, and upload that file.")
    utf16 = data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
    if not utf16 and _looks_binary(data[:65536]):
        raise ImportProblem(NOT_TEXT)
    try:
        if utf16:
            text = data.decode("utf-16")
        elif data.startswith(codecs.BOM_UTF8):
            text = data[len(codecs.BOM_UTF8):].decode("utf-8")
        else:
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                text = data.decode("cp1252")
    except UnicodeDecodeError as exc:
        raise ImportProblem("The file's text could not be read. Save it as “CSV UTF-8” and upload it again.") from exc
    if _looks_binary(text[:65536].encode("utf-8")):
        raise ImportProblem(NOT_TEXT)
    return text


NOT_TEXT = ("This doesn't look like a CSV file: it contains binary data. "
            "Export a CSV (comma-separated values) file from your spreadsheet or CRM.")
_CONTROL = bytes(c for c in range(32) if c not in (9, 10, 13)) + b"\x7f"


def _looks_binary(sample: bytes) -> bool:
    """NUL bytes, or more than 1% control characters: an image, a PDF or a workbook, not text."""
    return b"\x00" in sample or sum(sample.count(code) for code in _CONTROL) > len(sample) // 100


def _delimiter(text: str) -> str:
    """Comma, semicolon (European spreadsheets) or tab: whichever splits the header row into most columns."""
    first_line = next((line for line in text.splitlines() if line.strip()), "")
    counts = {d: len(next(csv.reader([first_line], delimiter=d), [])) for d in (",", ";", "\t")}
    best = max(counts.values())
    return next(d for d in (",", ";", "\t") if counts[d] == best)


@dataclass
class Table:
    headers: list[str]
    header_row: int
    delimiter: str
    text: str

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        """(spreadsheet row number, cells) for every non-blank row after the header."""
        reader = csv.reader(io.StringIO(self.text, newline=""), delimiter=self.delimiter)
        try:
            for number, cells in enumerate(reader, start=1):
                if number > self.header_row and any(cell.strip() for cell in cells):
                    yield number, cells
        except csv.Error as exc:
            raise ImportProblem(f"The file could not be read as CSV near row {reader.line_num}: {exc}.") from exc


def read_table(text: str) -> Table:
    delimiter = _delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        for number, cells in enumerate(reader, start=1):
            if any(cell.strip() for cell in cells):
                headers = [cell.strip() or f"Column {index}" for index, cell in enumerate(cells, start=1)]
                return Table(headers, number, delimiter, text)
    except csv.Error as exc:
        raise ImportProblem(f"The file could not be read as CSV: {exc}.") from exc
    raise ImportProblem("The file is empty.")


def batch_table(batch: ImportBatch) -> Table:
    return read_table(batch.content)


# ---------------------------------------------------------------- values: dates, amounts, yes/no, methods

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
# ---------------------------------------------------------------- checking rows

@dataclass
class Checked:
    row: int
    values: dict
    ok: bool  # False when the row already has a problem; the database checks still report theirs


@dataclass
class Chunk:
    valid: list[Checked]
    problems: list[dict]
    rows_done: int


class _Checker(ABC):
    """Checks a batch's rows a chunk at a time: each row on its own, then the chunk against the database.

    recheck=True is the import's second look, inside its transaction: the rows that failed the check are
    passed over (staff chose to skip them), and what cannot have changed since (an email's spelling) is not
    checked again; everything the database or the calendar decides is.
    """

    def __init__(self, batch: ImportBatch, *, recheck: bool = False):
        self.recheck = recheck
        self.skipped_rows = {p["row"] for p in batch.errors or [] if p["level"] == "error"} if recheck else set()
        org = organisation()
        self.currency, self.tz = org.currency, org.timezone
        try:
            self.today = datetime.now(ZoneInfo(org.timezone)).date()
        except (ZoneInfoNotFoundError, ValueError):
            self.today = utcnow().date()
        self.table = batch_table(batch)
        mapping = batch.mapping or {}
        self.kind = batch.kind
        self.columns = {name: index for index, name in enumerate(mapping.get("columns", [])) if name}
        self.day_first = bool(mapping.get("day_first", True))
        self.headers = self.table.headers

    def chunks(self) -> Iterator[Chunk]:
        pending: list[tuple[int, list[str]]] = []
        done = 0
        for number, cells in self.table.rows():
            pending.append((number, cells))
            if len(pending) == CHUNK:
                done += len(pending)
                yield self._chunk(pending, done)
                pending = []
        if pending:
            done += len(pending)
            yield self._chunk(pending, done)

    def _chunk(self, rows: list[tuple[int, list[str]]], done: int) -> Chunk:
        problems: list[dict] = []
        checked = []
        for number, cells in rows:
            if number in self.skipped_rows:
                continue
            raw = {name: (cells[index].strip() if index < len(cells) else "") for name, index in self.columns.items()}
            row_problems: list[dict] = []
            values = self.check_row(number, raw, row_problems)
            problems.extend(row_problems)
            checked.append(Checked(number, values, not any(p["level"] == "error" for p in row_problems)))
        return Chunk(self.check_against_database(checked, problems), problems, done)

    def problem(self, problems: list[dict], row: int, field_name: str | None, value: str, message: str,
                level: str = "error") -> None:
        column = self.headers[self.columns[field_name]] if field_name in self.columns else ""
        problems.append({"row": row, "column": column, "value": value[:120], "message": message, "level": level})

    @abstractmethod
    def check_row(self, number: int, raw: dict, problems: list[dict]) -> dict:
        """The row's typed values; its problems are appended to `problems`."""

    @abstractmethod
    def check_against_database(self, checked: list[Checked], problems: list[dict]) -> list[Checked]:
        """Add the problems found with the database (one query per kind of check) for every row of a chunk,
        and return the rows that are valid: no problem of their own and none from the database."""

    @abstractmethod
    def preview(self, item: Checked) -> list[str]:
        """The cells shown for a valid row, in the order of preview_columns()."""


class DonorChecker(_Checker):
    def __init__(self, batch: ImportBatch, *, recheck: bool = False):
        super().__init__(batch, recheck=recheck)
        self.seen_emails: dict[str, int] = {}
        self.seen_refs: dict[str, int] = {}

    def check_row(self, number: int, raw: dict, problems: list[dict]) -> dict:
        values: dict = {name: "" for name in donor_services.PROFILE_FIELDS}
        values.update(birthday=None, email=None, preferred_channel="email", marketing_opt_in=False,
                      tags=[], interests=[], external_ref=None)
        for name in ("title", "first_name", "last_name", "organisation_name", "address_line1", "address_line2",
                     "city", "region", "postcode", "country", "source", "notes"):
            text = raw.get(name, "")
            if name in _LENGTHS and len(text) > _LENGTHS[name]:
                self.problem(problems, number, name, text, f"{DONOR_TARGETS[name].label} is longer than "
                                                           f"{_LENGTHS[name]} characters.")
            values[name] = text
        kind_text = raw.get("kind", "")
        if kind_text:
            kind = DONOR_KIND_VALUES.get(_key(kind_text))
            if kind is None:
                self.problem(problems, number, "kind", kind_text, "Donor type must be individual or organisation.")
                kind = "individual"
        else:
            kind = "organisation" if values["organisation_name"] and not (values["first_name"] or values["last_name"]) \
                else "individual"
        values["kind"] = kind
        if kind == "individual" and not (values["first_name"] or values["last_name"]):
            self.problem(problems, number, "last_name" if "last_name" in self.columns else "first_name", "",
                         "Missing name: a person needs a first or last name.")
        if kind == "organisation" and not values["organisation_name"]:
            self.problem(problems, number, "organisation_name", "", "Missing name: an organisation needs its name.")

        email = raw.get("email", "")
        if email:
            normalised = donor_services.normalise_email(email)
            if len(email) > _LENGTHS["email"]:
                self.problem(problems, number, "email", email, "Email is longer than 254 characters.")
            elif not (self.recheck or email_is_valid(email)):
                self.problem(problems, number, "email", email, "Not a valid email address.")
            elif normalised in self.seen_emails:
                self.problem(problems, number, "email", email,
                             f"Duplicate email: the same address is on row {self.seen_emails[normalised]}.")
            else:
                self.seen_emails[normalised] = number
            values["email"] = normalised

        ref = raw.get("external_ref", "")
        if ref:
            if len(ref) > _LENGTHS["external_ref"]:
                self.problem(problems, number, "external_ref", ref, "Reference is longer than 80 characters.")
            elif ref in self.seen_refs:
                self.problem(problems, number, "external_ref", ref,
                             f"Duplicate reference: the same reference is on row {self.seen_refs[ref]}.")
            else:
                self.seen_refs[ref] = number
            values["external_ref"] = ref

        phone = raw.get("phone", "")
        if phone:
            if len(phone) > _LENGTHS["phone"]:
                self.problem(problems, number, "phone", phone, "Phone is longer than 40 characters; left blank.", "warning")
                phone = ""
            elif not PHONE.match(phone):
                self.problem(problems, number, "phone", phone,
                             "Doesn't look like a phone number; imported as written.", "warning")
            values["phone"] = phone

        birthday = raw.get("birthday", "")
        if birthday:
            when = parse_when(birthday, day_first=self.day_first)
            if when is None:
                self.problem(problems, number, "birthday", birthday, "Birthday not understood; left blank.", "warning")
            elif when.day > self.today or when.day.year < 1900:
                self.problem(problems, number, "birthday", birthday,
                             "Birthday is in the future or before 1900; left blank.", "warning")
            else:
                values["birthday"] = when.day

        channel = raw.get("preferred_channel", "")
        if channel:
            values["preferred_channel"] = CHANNEL_VALUES.get(_key(channel), "")
            if not values["preferred_channel"]:
                self.problem(problems, number, "preferred_channel", channel,
                             "Preferred channel must be one of: " + ", ".join(CHANNELS.values()).lower() + ".")

        consent = raw.get("marketing_opt_in", "")
        if consent:
            if _key(consent) in YES:
                values["marketing_opt_in"] = True
            elif _key(consent) not in NO:
                self.problem(problems, number, "marketing_opt_in", consent, "Marketing consent must be yes or no.")

        for name in ("tags", "interests"):
            values[name] = donor_services.split_tags(raw.get(name, ""))
        return values

    def check_against_database(self, checked: list[Checked], problems: list[dict]) -> list[Checked]:
        emails = [c.values["email"] for c in checked if c.values["email"]]
        refs = [c.values["external_ref"] for c in checked if c.values["external_ref"]]
        taken_emails = set(db.session.scalars(select(Donor.email).where(Donor.email.in_(emails)))) if emails else set()
        taken_refs = set(db.session.scalars(select(Donor.external_ref).where(Donor.external_ref.in_(refs)))) if refs else set()
        valid = []
        for item in checked:
            ok = item.ok
            if item.values["email"] in taken_emails:
                self.problem(problems, item.row, "email", item.values["email"],
                             "A donor with this email is already on file.")
                ok = False
            if item.values["external_ref"] in taken_refs:
                self.problem(problems, item.row, "external_ref", item.values["external_ref"],
                             "A donor with this reference is already on file.")
                ok = False
            if ok:
                valid.append(item)
        return valid

    def preview(self, item: Checked) -> list[str]:
        shown = []
        for name in preview_fields(self.kind, self.columns):
            value = item.values.get(name)
            if name == "kind":
                value = DONOR_KINDS[value]
            elif name == "preferred_channel":
                value = CHANNELS.get(value, "")
            elif name == "marketing_opt_in":
                value = "Yes" if value else "No"
            elif name in ("tags", "interests"):
                value = ", ".join(value)
            elif name == "birthday":
                value = value.isoformat() if value else ""
            shown.append(value or "")
        return shown


class GiftChecker(_Checker):
    def check_row(self, number: int, raw: dict, problems: list[dict]) -> dict:
        values: dict = {"donor_id": None, "amount_minor": 0, "received_at": None, "fund": "", "campaign": "",
                        "method": "other", "reference": "", "identifier": ("", "")}
        amount = raw.get("amount", "")
        if not amount:
            self.problem(problems, number, "amount", "", "Missing amount.")
        else:
            try:
                values["amount_minor"] = parse_money(amount)
            except MoneyError as exc:
                message = str(exc)
                if message.startswith("Enter an amount"):
                    message = "Amount is not a number."
                self.problem(problems, number, "amount", amount, message)

        when_text = raw.get("received_at", "")
        if not when_text:
            self.problem(problems, number, "received_at", "", "Missing date received.")
        else:
            when = parse_when(when_text, day_first=self.day_first)
            if when is None:
                self.problem(problems, number, "received_at", when_text,
                             "Date not understood: use a date such as 2025-03-31 or 31/03/2025.")
            elif when.day > self.today:
                self.problem(problems, number, "received_at", when_text, "Date is in the future.")
            elif when.day.year < 1950:
                self.problem(problems, number, "received_at", when_text, "Date is before 1950: check the year.")
            else:
                values["received_at"] = self._to_utc(when)

        for name in ("fund", "campaign", "reference"):
            text = raw.get(name, "")
            if len(text) > GIFT_TEXT_LENGTH:
                self.problem(problems, number, name, text, f"{GIFT_TARGETS[name].label} is longer than 80 characters.")
            values[name] = text

        method = raw.get("method", "")
        if method:
            values["method"] = METHODS.get(_key(method), "")
            if not values["method"]:
                self.problem(problems, number, "method", method, "Unknown payment method: use one of "
                             + ", ".join(label.lower() for label in GIFT_METHODS.values()) + ".")

        currency = raw.get("currency", "")
        if currency and currency.upper() != self.currency:
            self.problem(problems, number, "currency", currency,
                         f"Only gifts in {self.currency} (the organisation's currency) can be imported.")

        for name in DONOR_IDENTIFIERS:
            if raw.get(name):
                if name == "donor_id" and not raw[name].isdigit():
                    self.problem(problems, number, name, raw[name], "Donor number must be a whole number.")
                else:
                    values["identifier"] = (name, raw[name])
                break
        else:
            self.problem(problems, number, None, "", "No donor email or reference: every gift needs its donor.")
        return values

    def _to_utc(self, when: When) -> datetime:
        if when.at is None:
            return local_date_to_utc(when.day, self.tz)
        local = datetime.combine(when.day, when.at, tzinfo=ZoneInfo(self.tz))
        return local.astimezone(timezone.utc).replace(tzinfo=None)

    def check_against_database(self, checked: list[Checked], problems: list[dict]) -> list[Checked]:
        wanted: dict[str, set] = {name: set() for name in DONOR_IDENTIFIERS}
        identified = [item for item in checked if item.values["identifier"][0]]
        for item in identified:
            name, value = item.values["identifier"]
            wanted[name].add(int(value) if name == "donor_id" else value)
        found: dict[str, dict] = {name: {} for name in DONOR_IDENTIFIERS}
        if wanted["donor_id"]:
            found["donor_id"] = {d: d for d in db.session.scalars(select(Donor.id).where(Donor.id.in_(wanted["donor_id"])))}
        if wanted["external_ref"]:
            found["external_ref"] = dict(db.session.execute(
                select(Donor.external_ref, Donor.id).where(Donor.external_ref.in_(wanted["external_ref"]))).all())
        if wanted["donor_email"]:
            emails = {donor_services.normalise_email(e): e for e in wanted["donor_email"]}
            by_email = dict(db.session.execute(select(Donor.email, Donor.id).where(Donor.email.in_(emails))).all())
            found["donor_email"] = {original: by_email[key] for key, original in emails.items() if key in by_email}
        valid = []
        what = {"donor_id": "number", "external_ref": "reference", "donor_email": "email"}
        for item in identified:
            name, value = item.values["identifier"]
            donor_id = found[name].get(int(value) if name == "donor_id" else value)
            if donor_id is None:
                self.problem(problems, item.row, name, value, f"Unknown donor: no donor on file with this {what[name]}.")
            elif item.ok:
                item.values["donor_id"] = donor_id
                valid.append(item)
        return valid

    def gift(self, item: Checked) -> giving.GiftInput:
        v = item.values
        return giving.GiftInput(amount_minor=v["amount_minor"], received_at=v["received_at"], currency=self.currency,
                                fund=v["fund"], campaign=v["campaign"], method=v["method"], reference=v["reference"])

    def preview(self, item: Checked) -> list[str]:
        donor = db.session.get(Donor, item.values["donor_id"])
        v = item.values
        shown = {"amount": format_money(v["amount_minor"], self.currency),
                 "received_at": to_local(v["received_at"], self.tz).strftime("%-d %b %Y"),
                 "fund": v["fund"], "campaign": v["campaign"], "method": GIFT_METHODS[v["method"]],
                 "reference": v["reference"], "currency": self.currency}
        return [f"{donor.display_name} ({donor.email})" if donor.email else donor.display_name] + [
            shown[name] for name in preview_fields(self.kind, self.columns)[1:]]


def checker_for(batch: ImportBatch) -> DonorChecker | GiftChecker:
    return DonorChecker(batch) if batch.kind == "donors" else GiftChecker(batch)


def preview_fields(kind: str, mapped) -> list[str]:
    """The fields a preview row shows, in order: the mapped ones (for gifts, the matched donor instead of
    the columns that identify them)."""
    if kind == "gifts":
        return ["donor"] + [name for name in GIFT_TARGETS if name in mapped and name not in DONOR_IDENTIFIERS]
    return [name for name in DONOR_TARGETS if name in mapped]


def preview_columns(batch: ImportBatch) -> list[str]:
    labels = {"donor": "Donor", **{name: target.label for name, target in TARGETS[batch.kind].items()}}
    return [labels[name] for name in preview_fields(batch.kind, (batch.mapping or {}).get("columns", []))]


# ---------------------------------------------------------------- the batch's life

def create_batch(kind: str, filename: str, data: bytes, *, actor=None) -> ImportBatch:
    """Store an upload after checking it is a readable CSV with data rows; the mapping is guessed."""
    if kind not in KINDS:
        raise ImportProblem("Choose whether the file holds donors or gifts.")
    text = decode_upload(data)
    table = read_table(text)
    rows = 0
    date_samples: list[str] = []
    guessed = guess_mapping(kind, table.headers)
    date_columns = [i for i, name in enumerate(guessed) if name in ("birthday", "received_at")]
    for _, cells in table.rows():
        rows += 1
        if rows <= 2000:
            date_samples.extend(cells[i] for i in date_columns if i < len(cells))
    if not rows:
        raise ImportProblem("The file has a header row but no data rows.")
    batch = ImportBatch(kind=kind, filename=(filename or "upload.csv")[:255], content=text, status="uploaded",
                        total_rows=rows, created_by_id=getattr(actor, "id", None),
                        mapping={"columns": guessed, "day_first": guess_day_first(date_samples, organisation().currency)})
    db.session.add(batch)
    db.session.commit()
    return batch


def get_batch(batch_id: int) -> ImportBatch | None:
    """The batch without its file, which can be megabytes: it is read only when used."""
    return db.session.get(ImportBatch, batch_id, options=[defer(ImportBatch.content)])


def recent_batches(limit: int = 20) -> list[ImportBatch]:
    return list(db.session.scalars(
        select(ImportBatch).options(load_only(ImportBatch.kind, ImportBatch.filename, ImportBatch.status,
                                              ImportBatch.total_rows, ImportBatch.imported_rows, ImportBatch.created_at))
        .order_by(ImportBatch.created_at.desc(), ImportBatch.id.desc()).limit(limit)))


def column_samples(batch: ImportBatch, limit: int = 3) -> list[tuple[str, list[str]]]:
    """Each column's header with its first few non-empty values (from the first 200 rows), to help staff
    match columns."""
    table = batch_table(batch)
    samples: list[list[str]] = [[] for _ in table.headers]
    for seen, (_, cells) in enumerate(table.rows()):
        for index, cell in enumerate(cells[:len(table.headers)]):
            if cell.strip() and len(samples[index]) < limit:
                samples[index].append(cell.strip()[:60])
        if seen >= 200 or all(len(s) >= limit for s in samples):
            break
    return list(zip(table.headers, samples))


def _transition(batch_id: int, from_statuses: tuple[str, ...], **values) -> bool:
    """Move a batch on only if it is still where we expect, so racing requests and re-run jobs are harmless."""
    result = db.session.execute(update(ImportBatch).where(ImportBatch.id == batch_id,
                                                          ImportBatch.status.in_(from_statuses)).values(**values))
    db.session.commit()
    return result.rowcount == 1


def save_mapping(batch: ImportBatch, columns: list[str], *, day_first: bool) -> None:
    """Check the column mapping and start checking the rows with it."""
    remappable = ("uploaded", "validated", "failed")
    if batch.status not in remappable:
        raise ImportProblem(f"This import is {STATUSES[batch.status].lower()}; its columns can no longer be changed.")
    targets = TARGETS[batch.kind]
    problems: dict[int, str] = {}
    used: dict[str, int] = {}
    headers = batch_table(batch).headers
    if len(columns) != len(headers):
        raise MappingProblem("The file's columns changed; start the import again.")
    for index, name in enumerate(columns):
        if not name:
            continue
        if name not in targets:
            problems[index] = "Choose a field from the list."
        elif name in used:
            problems[index] = f"{targets[name].label} is already taken by the column “{headers[used[name]]}”."
        else:
            used[name] = index
    if problems:
        raise MappingProblem("Each field can be filled from one column only.", problems)
    if batch.kind == "donors" and not used.keys() & {"first_name", "last_name", "organisation_name"}:
        raise MappingProblem("Match at least one column to First name, Last name or Organisation name.")
    if batch.kind == "gifts":
        missing = [targets[n].label for n in ("amount", "received_at") if n not in used]
        if missing:
            raise MappingProblem("Match a column to " + " and ".join(missing) + ": every gift needs them.")
        if not used.keys() & set(DONOR_IDENTIFIERS):
            raise MappingProblem("Match a column to Donor email, Donor reference or Donor number, "
                                 "so each gift can be matched to its donor.")
    job_id = jobs.enqueue_after_commit("default", run_validation, batch.id)
    if not _transition(batch.id, remappable, status="validating", job_id=job_id,
                       mapping={"columns": list(columns), "day_first": day_first}, errors=None, preview=None,
                       valid_rows=0, skip_invalid=False, message=""):
        raise ImportProblem("This import has just been started or cancelled elsewhere.")


def confirm(batch: ImportBatch, *, skip_invalid: bool, actor=None) -> None:
    """Staff have seen the check: import the valid rows (refused while rows are bad, unless told to skip them)."""
    if batch.status != "validated":
        raise ImportProblem(f"This import is {STATUSES[batch.status].lower()}, so it can't be started now.")
    bad = batch.total_rows - batch.valid_rows
    if not batch.valid_rows:
        raise ImportProblem("None of the rows can be imported. Fix the file and upload it again.")
    if bad and not skip_invalid:
        raise ImportProblem(f"{bad:,} row{'s have' if bad != 1 else ' has'} problems. Tick the box to skip "
                            f"{'them' if bad != 1 else 'it'} and import the {batch.valid_rows:,} valid "
                            f"row{'s' if batch.valid_rows != 1 else ''}, or fix the file and upload it again.")
    job_id = jobs.enqueue_after_commit("default", run_import, batch.id)
    started = db.session.execute(update(ImportBatch).where(ImportBatch.id == batch.id, ImportBatch.status == "validated")
                                 .values(status="importing", skip_invalid=bool(bad), job_id=job_id, message=""))
    if started.rowcount != 1:
        db.session.rollback()
        raise ImportProblem("This import has already been started or cancelled.")
    audit.record("donor.import", actor=actor,
                 summary=f"Imported {batch.kind} from {batch.filename or 'a file'}: {batch.valid_rows:,} rows",
                 detail={"batch": batch.id, "kind": batch.kind, "file": batch.filename, "rows": batch.valid_rows,
                         "skipped_rows": bad})
    db.session.commit()


def cancel(batch: ImportBatch) -> None:
    """Nothing is imported; the file's contents are discarded."""
    if not _transition(batch.id, ("uploaded", "validating", "validated", "failed"), status="cancelled", content="",
                       preview=None, message="Cancelled: nothing was imported.", finished_at=utcnow()):
        raise ImportProblem(f"This import is {STATUSES[batch.status].lower()} and can no longer be cancelled.")


def problems_page(batch: ImportBatch, page: int, per_page: int = 100) -> tuple[list[dict], int]:
    problems = batch.errors or []
    pages = max(1, -(-len(problems) // per_page))
    page = min(max(1, page), pages)
    return problems[(page - 1) * per_page: page * per_page], pages


def problem_counts(batch: ImportBatch) -> dict:
    """Rows with problems, and warnings on the rows that are (or will be) imported."""
    problems = batch.errors or []
    bad_rows = {p["row"] for p in problems if p["level"] == "error"}
    return {"bad_rows": len(bad_rows),
            "warnings": sum(1 for p in problems if p["level"] == "warning" and p["row"] not in bad_rows)}


def problems_csv(batch: ImportBatch) -> str:
    buffer = io.StringIO()
    writer = csvfile.writer(buffer)
    writer.writerow(["row", "column", "value", "problem", "level"])
    for p in batch.errors or []:
        writer.writerow([p["row"], p["column"], p["value"], p["message"], p["level"]])
    return buffer.getvalue()


def progress(batch: ImportBatch) -> dict:
    info = jobs.job_progress(batch.job_id)
    if not info["total"]:
        info["total"] = batch.total_rows
    return info


# ---------------------------------------------------------------- the jobs

def _actor(batch: ImportBatch):
    from portal.auth.models import User

    return db.session.get(User, batch.created_by_id) if batch.created_by_id else None


def _failure_reason(exc: Exception) -> str:
    if isinstance(exc, (ImportProblem, donor_services.DonorError, giving.GivingError)):
        return str(exc)
    return f"an unexpected error ({type(exc).__name__}); the details are in the server log"


@jobs.job
def run_validation(batch_id: int) -> None:
    """Check every row of the file with the saved mapping; keep every problem and a preview of valid rows."""
    batch = get_batch(batch_id)
    if batch is None or batch.status != "validating":
        return
    try:
        checker = checker_for(batch)
        total, problems, valid, preview = batch.total_rows, [], 0, []
        for chunk in checker.chunks():
            problems.extend(chunk.problems)
            valid += len(chunk.valid)
            for item in chunk.valid[:current_app.config["IMPORT_PREVIEW_ROWS"] - len(preview)]:
                preview.append({"row": item.row, "cells": checker.preview(item)})
            jobs.report_progress(chunk.rows_done, total, "Checking rows")
            db.session.expunge_all()
        problems.sort(key=lambda p: p["row"])
    except Exception as exc:
        log.exception("checking import batch %s failed", batch_id)
        db.session.rollback()
        _transition(batch_id, ("validating",), status="failed", finished_at=utcnow(),
                    message=f"The rows could not be checked: {_failure_reason(exc)}.")
        return
    _transition(batch_id, ("validating",), status="validated", valid_rows=valid, errors=problems, preview=preview)


class _Changed(ImportProblem):
    pass


@jobs.job
def run_import(batch_id: int) -> None:
    """Import the valid rows in one transaction: all of them, or nothing."""
    organisation()  # created (and committed) here if missing, not halfway through the import's transaction
    batch = db.session.scalar(select(ImportBatch).where(ImportBatch.id == batch_id).with_for_update())
    if batch is None or batch.status != "importing":
        db.session.rollback()
        return  # already imported, cancelled or failed: running again changes nothing
    try:
        imported = (_import_donors if batch.kind == "donors" else _import_gifts)(batch)
        db.session.execute(update(ImportBatch).where(ImportBatch.id == batch_id).values(
            status="imported", imported_rows=imported, finished_at=utcnow(), content="",
            message=f"Imported {imported:,} {batch.kind if imported != 1 else batch.kind[:-1]}."))
        db.session.commit()
    except Exception as exc:
        if not isinstance(exc, ImportProblem):
            log.exception("import batch %s failed", batch_id)
        db.session.rollback()
        _transition(batch_id, ("importing",), status="failed", finished_at=utcnow(),
                    message=f"Nothing was imported: {_failure_reason(exc)}")


def _checked_again(batch: ImportBatch, checker: _Checker, consume: Callable[[list[Checked]], None], label: str) -> None:
    """Check the rows again inside the import's transaction and hand the valid ones over, chunk by chunk.
    Exactly the rows staff confirmed go in: if any has become invalid since (say its email is now on file),
    the import stops, and its transaction is rolled back."""
    valid = 0
    for chunk in checker.chunks():
        errors = [p for p in chunk.problems if p["level"] == "error"]
        if errors:
            raise _Changed(f"row {errors[0]['row']} is no longer valid since the check: {errors[0]['message']} "
                           "Check the file again.")
        valid += len(chunk.valid)
        consume(chunk.valid)
        jobs.report_progress(chunk.rows_done, batch.total_rows, label)
    if valid != batch.valid_rows:
        raise _Changed(f"the file now has {valid:,} valid rows, not {batch.valid_rows:,}. Check the file again.")


def _import_donors(batch: ImportBatch) -> int:
    actor, batch_id, filename = _actor(batch), batch.id, batch.filename
    summary = f"Imported from {filename}"[:300]
    consent_source = f"import: {filename}"[:80]
    count = 0

    def add(valid: list[Checked]) -> None:
        nonlocal count
        if valid:
            donor_services.add_imported_donors([item.values for item in valid], summary=summary, actor=actor,
                                               consent_source=consent_source, channel="import",
                                               data={"import_batch_id": batch_id})
            count += len(valid)
        db.session.expunge_all()  # written rows stay in the transaction; the session needn't hold them

    _checked_again(batch, DonorChecker(batch, recheck=True), add, "Importing donors")
    return count


def _import_gifts(batch: ImportBatch) -> int:
    actor, batch_id, total = _actor(batch), batch.id, batch.total_rows
    checker = GiftChecker(batch, recheck=True)
    gifts: list[tuple[int, giving.GiftInput]] = []
    _checked_again(batch, checker, lambda valid: gifts.extend(
        (item.values["donor_id"], checker.gift(item)) for item in valid), "Checking gifts")
    giving.add_gifts(gifts, actor=actor, channel="import", data={"import_batch_id": batch_id},
                     progress=lambda done, count: jobs.report_progress(done, count, "Importing gifts"))
    jobs.report_progress(total, total, "Finishing")
    return len(gifts)


def resume_stalled() -> int:
    """Sweep: a batch still checking or importing whose job no queue holds (Redis lost it, or it was never
    enqueued) gets a new job; a job that died gets its batch marked failed (its transaction rolled back)."""
    resumed = 0
    for batch in db.session.scalars(select(ImportBatch).where(ImportBatch.status.in_(RUNNING))).all():
        found = jobs.runner().fetch(batch.job_id) if batch.job_id else None
        state = str(getattr(found.get_status(refresh=False), "value", "")) if found is not None else "gone"
        if state in ("queued", "started", "deferred", "scheduled"):
            continue
        if state in ("failed", "stopped", "canceled"):
            _transition(batch.id, (batch.status,), status="failed", finished_at=utcnow(),
                        message="The job stopped unexpectedly; nothing was imported. Check the file again.")
            continue
        task = run_validation if batch.status == "validating" else run_import
        job_id = jobs.enqueue_after_commit("default", task, batch.id)
        if _transition(batch.id, (batch.status,), job_id=job_id):
            resumed += 1
    return resumed
