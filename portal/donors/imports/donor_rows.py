"""Checking the rows of a donor file."""
from __future__ import annotations

from sqlalchemy import select

from portal.donors import services as donor_services
from portal.donors.duplicates import ImportMatcher, RowMatches
from portal.donors.imports.fields import DONOR_TARGETS
from portal.donors.imports.rows import ERASED_MESSAGE, Checked, RowChecker, preview_fields
from portal.donors.imports.values import _LENGTHS, CHANNEL_VALUES, DONOR_KIND_VALUES, NO, PHONE, YES, _key, parse_when
from portal.donors.models import CHANNELS, DONOR_KINDS, Donor, ImportBatch
from portal.email_address import email_is_valid
from portal.extensions import db
from portal.timeutil import local_date_to_utc, to_local


class DonorChecker(RowChecker):
    def __init__(self, batch: ImportBatch, *, recheck: bool = False):
        super().__init__(batch, recheck=recheck)
        self.seen_emails: dict[str, int] = {}
        self.seen_refs: dict[str, int] = {}
        # The import's second look skips the rows flagged as duplicates by number (or imports them, as staff
        # chose): whether a row is likely someone already known was staff's call at the confirm step.
        self.duplicates = None if recheck else ImportMatcher()
        self.include_erased = recheck and batch.include_erased

    def check_row(self, number: int, raw: dict, problems: list[dict]) -> dict:
        values: dict = {name: "" for name in donor_services.PROFILE_FIELDS}
        values.update(birthday=None, email=None, preferred_channel="email", marketing_opt_in=False,
                      tags=[], interests=[], external_ref=None, supporter_since=None)
        for name in ("title", "first_name", "last_name", "organisation_name", "address_line1", "address_line2",
                     "city", "region", "postcode", "country", "source", "notes"):
            text = raw.get(name, "")
            if name in _LENGTHS and len(text) > _LENGTHS[name]:
                self.problem(problems, number, name, text, f"{DONOR_TARGETS[name].label} is longer than "
                                                           f"{_LENGTHS[name]} characters.")
            values[name] = text
        self._split_full_name(number, raw, values, problems)
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
        if kind == "organisation" and not values["organisation_name"] and raw.get("full_name"):
            values["organisation_name"], values["first_name"], values["last_name"] = raw["full_name"], "", ""
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

        joined = raw.get("supporter_since", "")
        if joined:
            when = parse_when(joined, day_first=self.day_first)
            if when is None:
                self.problem(problems, number, "supporter_since", joined,
                             "Joining date not understood; the import date is used.", "warning")
            elif when.day > self.today or when.day.year < 1900:
                self.problem(problems, number, "supporter_since", joined,
                             "Joining date is in the future or before 1900; the import date is used.", "warning")
            else:
                values["supporter_since"] = local_date_to_utc(when.day, self.tz)

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

    def _split_full_name(self, number: int, raw: dict, values: dict, problems: list[dict]) -> None:
        """A single name column fills first and last name when the file has no columns for them:
        "Ann Marie Archer" and "Archer, Ann Marie" both give Ann Marie / Archer."""
        full = " ".join(raw.get("full_name", "").split())
        if not full or values["first_name"] or values["last_name"]:
            return
        if "," in full:
            last, first = (part.strip() for part in full.split(",", 1))
        else:
            first, _, last = full.rpartition(" ")
        for name, text in (("first_name", first), ("last_name", last)):
            if len(text) > _LENGTHS[name]:
                self.problem(problems, number, "full_name", full,
                             f"{DONOR_TARGETS[name].label} is longer than {_LENGTHS[name]} characters.")
            values[name] = text

    def check_against_database(self, checked: list[Checked], problems: list[dict]) -> list[Checked]:
        emails = [c.values["email"] for c in checked if c.values["email"]]
        refs = [c.values["external_ref"] for c in checked if c.values["external_ref"]]
        taken_emails = set(db.session.scalars(select(Donor.email).where(Donor.email.in_(emails)))) if emails else set()
        taken_refs = set(db.session.scalars(select(Donor.external_ref).where(Donor.external_ref.in_(refs)))) if refs else set()
        erased = set() if self.include_erased else donor_services.erased_among(set(emails) - taken_emails)
        valid = []
        for item in checked:
            ok = item.ok
            if item.values["email"] in taken_emails:
                self.problem(problems, item.row, "email", item.values["email"],
                             "A donor with this email is already on file.")
                ok = False
            elif item.values["email"] in erased:
                self.problem(problems, item.row, "email", item.values["email"], ERASED_MESSAGE, erased=True)
                ok = False
            if item.values["external_ref"] in taken_refs:
                self.problem(problems, item.row, "external_ref", item.values["external_ref"],
                             "A donor with this reference is already on file.")
                ok = False
            if ok:
                valid.append(item)
        if self.duplicates is None:
            return valid
        matches = self.duplicates.match_chunk([(item.row, item.values) for item in valid])
        for item in valid:
            if item.row in matches:
                name = item.values["organisation_name"] if item.values["kind"] == "organisation" else \
                    f"{item.values['first_name']} {item.values['last_name']}".strip()
                self.problem(problems, item.row, self._name_field(), name, _duplicate_message(matches[item.row]),
                             "duplicate", overridable=True)
        return [item for item in valid if item.row not in matches]

    def _name_field(self) -> str | None:
        return next((name for name in ("full_name", "last_name", "first_name", "organisation_name") if name in self.columns), None)

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
            elif name == "supporter_since":
                value = to_local(value, self.tz).date().isoformat() if value else ""
            elif name == "full_name":
                value = item.values["organisation_name"] if item.values["kind"] == "organisation" else \
                    f"{item.values['first_name']} {item.values['last_name']}".strip()
            shown.append(value or "")
        return shown


def _duplicate_message(found: RowMatches) -> str:
    """"Likely the same person as …" naming each donor on file and earlier row, with the reasons in words."""
    parts = [f"donor #{profile.id} {profile.name} ({_in_words(reasons)})" for profile, _, reasons in found.donors]
    parts += [f"row {row} of this file ({_in_words(reasons)})" for row, reasons in found.earlier_rows]
    return "Likely the same person as " + ", and as ".join(parts) + "."


def _in_words(reasons: list[str]) -> str:
    return "; ".join(reason[:1].lower() + reason[1:] for reason in reasons)
