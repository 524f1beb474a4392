"""Checking the rows of a gift file: each gift's values, its donor, and whether it is already on file."""
from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import select

from portal.donors import services as donor_services
from portal.donors.imports.fields import DONOR_IDENTIFIERS, GIFT_TARGETS
from portal.donors.imports.rows import Checked, RowChecker, preview_fields
from portal.donors.imports.values import (GIFT_TEXT_LENGTH, METHODS, When, _key, amount_currencies, currency_words,
                                          parse_money, parse_when)
from portal.donors.models import Donor, ImportBatch
from portal.extensions import db
from portal.giving import services as giving
from portal.giving.models import GIFT_METHODS
from portal.money import MoneyError, format_money
from portal.timeutil import local_date_to_utc, to_local

IDENTIFIER_WORDS = {"donor_id": "number", "external_ref": "reference", "donor_email": "email"}
GiftKey = tuple[int, date, int, str]  # donor, local day, amount, fund: what makes two gifts "the same gift"


def date_example(day_first: bool) -> str:
    """A date written the way this file is being read."""
    return "2025-03-31 or " + ("31/03/2025" if day_first else "03/31/2025")


class GiftChecker(RowChecker):
    def __init__(self, batch: ImportBatch, *, recheck: bool = False):
        super().__init__(batch, recheck=recheck)
        self.source_system = batch.source_system
        # Staff may choose to import rows that look like gifts already on file; ids already imported never are.
        self.include_on_file = batch.include_on_file and recheck
        self.on_file: Counter[GiftKey] = Counter()  # gifts on file not yet matched to a row, per donor loaded
        self.loaded_donors: set[int] = set()
        self.seen_gifts: dict[GiftKey, int] = {}
        self.seen_source_ids: dict[str, int] = {}

    # ------------------------------------------------------------ one row on its own

    def check_row(self, number: int, raw: dict, problems: list[dict]) -> dict:
        values: dict = {"donor_id": None, "amount_minor": 0, "received_at": None, "fund": "", "campaign": "",
                        "method": "other", "reference": "", "source_gift_id": "", "identifiers": []}
        self._check_amount(number, raw, values, problems)
        self._check_date(number, raw, values, problems)
        for name in ("fund", "campaign", "reference", "source_gift_id"):
            text = raw.get(name, "")
            if len(text) > GIFT_TEXT_LENGTH:
                self.problem(problems, number, name, text, f"{GIFT_TARGETS[name].label} is longer than 80 characters.")
            values[name] = text
        self._check_method(number, raw, values, problems)
        self._check_identifiers(number, raw, values, problems)
        return values

    def _check_amount(self, number: int, raw: dict, values: dict, problems: list[dict]) -> None:
        amount = raw.get("amount", "")
        if not amount:
            self.problem(problems, number, "amount", "", "Missing amount.")
            return
        try:
            values["amount_minor"] = parse_money(amount)
        except MoneyError as exc:
            message = str(exc)
            if message.startswith("Enter an amount"):
                message = "Amount is not a number."
            self.problem(problems, number, "amount", amount, message)
        named = amount_currencies(amount)
        stated = raw.get("currency", "").strip().upper()
        if "currency" in self.columns and stated:
            if stated != self.currency:
                self.problem(problems, number, "currency", raw["currency"],
                             f"Only gifts in {self.currency} (the organisation's currency) can be imported.")
            elif named and stated not in named:
                self.problem(problems, number, "amount", amount, f"The amount is in {currency_words(named)} but "
                             f"the currency column says {stated}.")
        elif named and self.currency not in named:
            self.problem(problems, number, "amount", amount,
                         f"The amount is in {currency_words(named)}, but amounts are read as {self.currency} "
                         "(the organisation's currency). Map a currency column, or convert the amounts.")

    def _check_date(self, number: int, raw: dict, values: dict, problems: list[dict]) -> None:
        when_text = raw.get("received_at", "")
        if not when_text:
            self.problem(problems, number, "received_at", "", "Missing date received.")
            return
        when = parse_when(when_text, day_first=self.day_first)
        if when is None:
            self.problem(problems, number, "received_at", when_text,
                         f"Date not understood: use a date such as {date_example(self.day_first)}.")
        elif when.day > self.today:
            self.problem(problems, number, "received_at", when_text, "Date is in the future.")
        elif when.day.year < 1950:
            self.problem(problems, number, "received_at", when_text, "Date is before 1950: check the year.")
        else:
            values["received_at"] = self._to_utc(when)

    def _check_method(self, number: int, raw: dict, values: dict, problems: list[dict]) -> None:
        method = raw.get("method", "")
        if method:
            values["method"] = METHODS.get(_key(method), "")
            if not values["method"]:
                self.problem(problems, number, "method", method, "Unknown payment method: use one of "
                             + ", ".join(label.lower() for label in GIFT_METHODS.values()) + ".")

    def _check_identifiers(self, number: int, raw: dict, values: dict, problems: list[dict]) -> None:
        """Every way the row names its donor, most certain first; the first decides and the others must agree."""
        for name in DONOR_IDENTIFIERS:
            if not raw.get(name):
                continue
            if name == "donor_id" and not raw[name].isdigit():
                self.problem(problems, number, name, raw[name], "Donor number must be a whole number.")
                return
            values["identifiers"].append((name, raw[name]))
        if not values["identifiers"]:
            self.problem(problems, number, None, "", "No donor email or reference: every gift needs its donor.")

    def _to_utc(self, when: When) -> datetime:
        if when.at is None:
            return local_date_to_utc(when.day, self.tz)
        local = datetime.combine(when.day, when.at, tzinfo=ZoneInfo(self.tz))
        return local.astimezone(timezone.utc).replace(tzinfo=None)

    # ------------------------------------------------------------ the chunk against the database

    def check_against_database(self, checked: list[Checked], problems: list[dict]) -> list[Checked]:
        identified = [item for item in checked if item.values["identifiers"]]
        found = self._find_donors(identified)
        matched = [item for item in identified if self._match_donor(item, found, problems)]
        return self._not_on_file(matched, problems)

    def _find_donors(self, items: list[Checked]) -> dict[str, dict]:
        wanted: dict[str, set] = {name: set() for name in DONOR_IDENTIFIERS}
        for item in items:
            for name, value in item.values["identifiers"]:
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
        return found

    def _match_donor(self, item: Checked, found: dict[str, dict], problems: list[dict]) -> bool:
        """Set the row's donor; False when it has none, or its identifiers name different donors."""
        (name, value), *others = item.values["identifiers"]
        donor_id = found[name].get(int(value) if name == "donor_id" else value)
        if donor_id is None:
            self.problem(problems, item.row, name, value, f"Unknown donor: no donor on file with this {IDENTIFIER_WORDS[name]}.")
            return False
        agrees = True
        for other, other_value in others:
            other_id = found[other].get(int(other_value) if other == "donor_id" else other_value)
            if other_id is None:
                self.problem(problems, item.row, other, other_value,
                             f"No donor on file with this {IDENTIFIER_WORDS[other]}; matched by "
                             f"{IDENTIFIER_WORDS[name]} instead.", "warning")
            elif other_id != donor_id:
                first, second = db.session.get(Donor, donor_id), db.session.get(Donor, other_id)
                self.problem(problems, item.row, other, other_value,
                             f"The {IDENTIFIER_WORDS[name]} {value} is {_named(first)} but the "
                             f"{IDENTIFIER_WORDS[other]} {other_value} is {_named(second)}: check which donor "
                             "this gift is from.")
                agrees = False
        item.values["donor_id"] = donor_id
        return agrees and item.ok

    def _not_on_file(self, items: list[Checked], problems: list[dict]) -> list[Checked]:
        """The rows to import: gifts whose old-system id was imported before never are; a row identical to a
        gift already on file (same donor, day, amount and fund) is not unless staff chose to include those.
        Each gift on file accounts for one row, so a file with two identical gifts against one on file has one
        new gift. Identical rows within the file are all imported, with a note."""
        source_ids = [item.values["source_gift_id"] for item in items if item.values["source_gift_id"]]
        imported_ids = giving.source_ids_on_file(self.source_system, source_ids) if source_ids else set()
        self._load_gifts_on_file({item.values["donor_id"] for item in items})
        valid = []
        for item in items:
            gift_id = item.values["source_gift_id"]
            if gift_id:
                if gift_id in self.seen_source_ids:
                    self.problem(problems, item.row, "source_gift_id", gift_id,
                                 f"Duplicate gift ID: the same ID is on row {self.seen_source_ids[gift_id]}.")
                    continue
                self.seen_source_ids[gift_id] = item.row
                if gift_id in imported_ids:
                    self.problem(problems, item.row, "source_gift_id", gift_id,
                                 f"Already on file: gift {gift_id} from {self.source_system} was imported before.",
                                 "on_file")
                    continue
            key = self._gift_key(item)
            if key in self.seen_gifts:
                self.problem(problems, item.row, None, "", f"Same donor, date, amount and fund as row "
                             f"{self.seen_gifts[key]}; both are imported.", "warning")
            else:
                self.seen_gifts[key] = item.row
            if self.on_file[key] > 0 and not gift_id:
                self.on_file[key] -= 1
                self.problem(problems, item.row, None, "", "Already on file: this donor has a gift of "
                             f"{format_money(key[2], self.currency)} on {key[1]:%-d %b %Y}"
                             f"{' to ' + item.values['fund'] if item.values['fund'] else ''}.", "on_file",
                             overridable=True)
                if not self.include_on_file:
                    continue
            valid.append(item)
        return valid

    def _gift_key(self, item: Checked) -> GiftKey:
        v = item.values
        return v["donor_id"], to_local(v["received_at"], self.tz).date(), v["amount_minor"], v["fund"].strip().casefold()

    def _load_gifts_on_file(self, donor_ids: set[int]) -> None:
        new = donor_ids - self.loaded_donors
        if not new:
            return
        self.loaded_donors |= new
        for donor_id, received_at, amount_minor, fund in giving.gift_facts(new):
            self.on_file[(donor_id, to_local(received_at, self.tz).date(), amount_minor, fund.strip().casefold())] += 1

    # ------------------------------------------------------------ what goes in, and what staff see

    def gift(self, item: Checked) -> giving.GiftInput:
        v = item.values
        return giving.GiftInput(amount_minor=v["amount_minor"], received_at=v["received_at"], currency=self.currency,
                                fund=v["fund"], campaign=v["campaign"], method=v["method"], reference=v["reference"],
                                source_system=self.source_system if v["source_gift_id"] else None,
                                source_gift_id=v["source_gift_id"] or None)

    def preview(self, item: Checked) -> list[str]:
        donor = db.session.get(Donor, item.values["donor_id"])
        v = item.values
        shown = {"amount": format_money(v["amount_minor"], self.currency),
                 "received_at": to_local(v["received_at"], self.tz).strftime("%-d %b %Y"),
                 "fund": v["fund"], "campaign": v["campaign"], "method": GIFT_METHODS[v["method"]],
                 "reference": v["reference"], "source_gift_id": v["source_gift_id"], "currency": self.currency}
        return [_named(donor)] + [shown[name] for name in preview_fields(self.kind, self.columns)[1:]]


def _named(donor: Donor) -> str:
    return f"{donor.display_name} ({donor.email})" if donor.email else donor.display_name
