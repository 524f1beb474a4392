"""The fields a column can fill, and guessing them from the file's header names (including the names
other CRMs export)."""
from __future__ import annotations

import re
from dataclasses import dataclass


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
    Target("full_name", "Full name (split into first and last)", (
        "name", "full name", "fullname", "contact name", "donor name", "supporter name", "constituent name",
        "display name", "person name")),
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
    Target("supporter_since", "Joined (supporter since)", (
        "joined", "date joined", "joined date", "join date", "joined on", "date added", "added", "added on",
        "created", "created date", "date created", "created on", "record created", "member since",
        "supporter since", "donor since", "start date", "first contact date"), r"\b(joined|since)\b"),
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
                                        "payment method type", "payment mode", "method of payment", "gift type",
                                        "donation type", "type of payment", "gift payment type", "tender"),
           r"\b(method|payment type)\b"),
    Target("source_gift_id", "Gift ID in the old system", ("gift id", "gift record id", "gift system id", "donation id",
                                                           "transaction id", "payment id", "opportunity id")),
    Target("reference", "Gift reference", ("reference", "gift reference", "transaction reference", "receipt number",
                                           "receipt no", "receipt id", "payment reference", "cheque number",
                                           "check number")),
    Target("currency", "Currency", ("currency", "currency code", "gift currency")),
)}

TARGETS = {"donors": DONOR_TARGETS, "gifts": GIFT_TARGETS}
DONOR_IDENTIFIERS = ("donor_id", "external_ref", "donor_email")


def normalise_header(header: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9]+", " ", header.lower()).split())


def guess_mapping(kind: str, headers: list[str], targets: dict[str, Target] | None = None) -> list[str]:
    """For each column, the field its header most likely means ("" for none); each field at most once.
    `targets`: the fields on offer, when other domains add some (the import's own by default)."""
    targets = targets or TARGETS[kind]
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
