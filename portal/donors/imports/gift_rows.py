"""Checking the rows of a gift file and matching each gift to its donor."""
from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import select

from portal.donors import services as donor_services
from portal.donors.imports.fields import DONOR_IDENTIFIERS, GIFT_TARGETS
from portal.donors.imports.rows import Checked, RowChecker, preview_fields
from portal.donors.imports.values import GIFT_TEXT_LENGTH, METHODS, When, _key, parse_money, parse_when
from portal.donors.models import Donor
from portal.extensions import db
from portal.giving import services as giving
from portal.giving.models import GIFT_METHODS
from portal.money import MoneyError, format_money
from portal.timeutil import local_date_to_utc, to_local


class GiftChecker(RowChecker):
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
