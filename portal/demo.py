"""Demo and benchmark data with giving histories shaped like a real charity's.

Most donors give once; a minority give again and again; some hold a recurring gift or a sponsorship
that renews, some of those lapse or are cancelled; gifts spread over three years; inquiries, calls,
meetings and event visits sit on the timeline among the gifts.

Rows are generated as tuples and written with COPY (PostgreSQL) or executemany (SQLite), then the
rollups are rebuilt with one set-based statement, so 100k donors and 1M gifts load in about a minute.
"""
from __future__ import annotations

import json
import random
import re
import time
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Callable, Iterable

from faker import Faker
from sqlalchemy import Date, DateTime, func, select, text

from portal.auth.models import User
from portal.auth.services import create_user
from portal.donors.names import match_key
from portal.donors.models import Donor, Tag
from portal.extensions import db
from portal.giving import services as giving
from portal.giving.models import PLAN_KINDS
from portal.giving.services import add_months, rebuild_all_stats
from portal.journey.models import Touchpoint
from portal.money import format_money
from portal.settings.services import organisation
from portal.timeutil import utcnow

DEMO_PASSWORD = "harbour-demo-2026"
DEMO_LOGINS = {
    "admin": "admin@harbourtrust.example",
    "fundraiser": "fundraiser@harbourtrust.example",
    "support": "support@harbourtrust.example",
    "donor": "amelia.clarke@example.org",
}
FUNDS = ["General fund", "Lifeboat crews", "Flood relief", "Coastal schools", "Clean water", "Winter appeal"]
CAMPAIGNS = ["", "", "Spring appeal", "Summer fair", "Christmas appeal", "Harbour run", "Giving Tuesday"]
TAGS = ["volunteer", "major-donor-prospect", "board", "event-goer", "church", "legacy-interest", "corporate-partner", "press"]
INTERESTS = ["lifeboats", "education", "water", "emergencies", "environment", "children", "community"]
METHODS = ["card", "card", "online", "online", "direct_debit", "bank_transfer", "cheque", "cash"]
SOURCES = ["Website", "Spring appeal", "Event", "Friend referral", "Street fundraising", "Social media", "Legacy event"]
INTERACTIONS = [
    ("inquiry", "Asked how their gift is used"),
    ("inquiry", "Asked for a copy of last year's statement"),
    ("call", "Thank-you call after their gift"),
    ("call", "Called about changing their monthly amount"),
    ("meeting", "Coffee with the regional fundraiser"),
    ("event_attended", "Came to the Harbour Open Day"),
    ("event_attended", "Joined the Harbour Run"),
    ("note", "Prefers a call to an email"),
]


@dataclass
class Generated:
    donors: list[tuple] = field(default_factory=list)
    gifts: list[tuple] = field(default_factory=list)
    plans: list[tuple] = field(default_factory=list)
    touchpoints: list[tuple] = field(default_factory=list)
    donor_tags: list[tuple] = field(default_factory=list)
    donor_interests: list[tuple] = field(default_factory=list)


DONOR_COLUMNS = ("id", "kind", "title", "first_name", "last_name", "organisation_name", "name_key", "first_key", "match_key", "email",
                 "phone", "birthday", "address_line1", "address_line2", "city", "region", "postcode", "country",
                 "preferred_channel", "source", "notes", "marketing_opt_in", "marketing_consent_at",
                 "marketing_consent_source", "unsubscribed_at", "created_at", "updated_at")
GIFT_COLUMNS = ("id", "donor_id", "amount_minor", "currency", "received_at", "fund", "campaign", "method", "plan_id",
                "status", "reference", "created_at")
PLAN_COLUMNS = ("id", "donor_id", "kind", "amount_minor", "currency", "interval", "fund", "description", "started_at",
                "renews_on", "ended_at", "status", "end_reason", "created_at")
# Shares of donors by giving pattern. Regular givers are a minority of people but, paying monthly, they make
# most of the gift rows, as in a real charity's records.
SEGMENTS = (("prospect", 0.05), ("once", 0.48), ("occasional", 0.10), ("annual", 0.04), ("regular", 0.33))
PLAN_MIX = {"recurring_gift": 5, "sponsorship": 4, "membership": 1}
REGULAR_SINCE_DAYS = 8 * 365
TOUCHPOINT_COLUMNS = ("donor_id", "kind", "occurred_at", "channel", "summary", "data", "actor_label", "processed_at")


def email_local_part(name: str) -> str:
    """A name as the start of a valid address: ASCII letters and digits joined by single dots.
    Faker's company names carry commas ("Bailey, Smith and Jones") and its people apostrophes and accents."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return ".".join(re.findall(r"[a-z0-9]+", plain)) or "supporter"


class HistoryGenerator:
    """Builds rows for donors with ids starting at first_id; deterministic for a seed."""

    def __init__(self, seed: int, currency: str, now: datetime):
        self.rng = random.Random(seed)
        fake = Faker(["en_GB"])
        fake.seed_instance(seed)
        self.first_names = [fake.first_name() for _ in range(400)]
        self.last_names = [fake.last_name() for _ in range(600)]
        self.companies = [fake.company() for _ in range(300)]
        self.streets = [fake.street_address() for _ in range(500)]
        self.cities = [(fake.city(), fake.postcode()) for _ in range(200)]
        self.currency = currency
        self.now = now
        self.start = now - timedelta(days=3 * 365)
        self.next_gift_id = 1
        self.next_plan_id = 1

    def when(self, earliest: datetime, latest: datetime | None = None) -> datetime:
        latest = latest or self.now
        span = max(1, int((latest - earliest).total_seconds()))
        return (earliest + timedelta(seconds=self.rng.randrange(span))).replace(microsecond=0)

    def amount(self, typical: int) -> int:
        choices = [typical // 2, typical, typical, typical * 2, typical * 4]
        return max(300, self.rng.choice(choices) // 100 * 100)

    def segment(self) -> str:
        roll = self.rng.random()
        for name, share in SEGMENTS:
            if roll < share:
                return name
            roll -= share
        return SEGMENTS[-1][0]

    def donor(self, donor_id: int, out: Generated) -> None:
        rng = self.rng
        is_org = rng.random() < 0.06
        segment = self.segment()
        first = "" if is_org else rng.choice(self.first_names)
        last = "" if is_org else rng.choice(self.last_names)
        org_name = rng.choice(self.companies) if is_org else ""
        email = f"{email_local_part(org_name.split()[0] if is_org else f'{first}.{last}')}.{donor_id}@example.org"
        # Regular givers are the oldest relationships: many signed up years before the gifts on record.
        created = self.when(self.start - timedelta(days=REGULAR_SINCE_DAYS if segment == "regular" else 200))
        opted_in = rng.random() < 0.62
        unsubscribed = not opted_in and rng.random() < 0.15
        street = rng.choice(self.streets)
        city, postcode = rng.choice(self.cities)
        birthday = date(rng.randrange(1940, 2002), rng.randrange(1, 13), rng.randrange(1, 29)) if not is_org and rng.random() < 0.4 else None
        name_key = org_name.lower() if is_org else f"{last} {first}".lower()
        out.donors.append((
            donor_id, "organisation" if is_org else "individual", "", first, last, org_name, name_key, first.lower(),
            match_key("organisation" if is_org else "individual", first, last, org_name),
            email, f"07{rng.randrange(100000000, 999999999)}", birthday, street, "", city, "", postcode, "United Kingdom",
            rng.choice(["email", "email", "email", "phone", "post"]), rng.choice(SOURCES), "",
            opted_in, created if opted_in or unsubscribed else None, "signup form" if opted_in or unsubscribed else "",
            self.when(created) if unsubscribed else None, created, created,
        ))
        out.touchpoints.append((donor_id, "donor_created", created, "", "Joined", None, "", self.now))
        if rng.random() < 0.25:
            out.donor_tags.append((donor_id, rng.randrange(len(TAGS)) + 1))
        for interest in rng.sample(range(len(INTERESTS)), rng.choice([0, 1, 1, 2])):
            out.donor_interests.append((donor_id, len(TAGS) + interest + 1))
        first_touchpoint = len(out.touchpoints)
        self.history(donor_id, segment, created, is_org, out)
        self.flag_first_gift(out.touchpoints, first_touchpoint)

    @staticmethod
    def flag_first_gift(touchpoints: list[tuple], start: int) -> None:
        """Gift touchpoints carry first_gift as the app writes it; their data is serialised here, once known."""
        gifts = [i for i in range(start, len(touchpoints)) if touchpoints[i][1] == "gift_received"]
        if not gifts:
            return
        first = min(gifts, key=lambda i: touchpoints[i][2])
        touchpoints[first][5]["first_gift"] = True
        for i in gifts:
            row = touchpoints[i]
            touchpoints[i] = row[:5] + (json.dumps(row[5]),) + row[6:]

    def history(self, donor_id: int, segment: str, created: datetime, is_org: bool, out: Generated) -> None:
        rng = self.rng
        first_gift_at = self.when(max(created, self.start))
        typical = rng.choice([1000, 2000, 2500, 5000, 10000]) * (10 if is_org else 1)
        if segment == "prospect":  # an inquiry, no gift yet
            out.touchpoints.append((donor_id, "inquiry", self.when(created), "email", "Asked about sponsoring a crew", None, "", self.now))
            return
        if segment == "once":  # one gift and gone: the common story
            self.gift(donor_id, first_gift_at, self.amount(typical), None, out)
        elif segment == "occasional":  # 2-5 gifts, months apart
            when = first_gift_at
            for _ in range(rng.randrange(2, 6)):
                if when > self.now:
                    break
                self.gift(donor_id, when, self.amount(typical), None, out)
                when += timedelta(days=rng.randrange(60, 400))
        elif segment == "annual":  # loyal annual givers
            when = min(first_gift_at, self.start + timedelta(days=rng.randrange(60)))
            while when <= self.now:
                self.gift(donor_id, when, self.amount(typical * 2), None, out)
                when += timedelta(days=rng.randrange(330, 400))
        else:  # a recurring gift or sponsorship, sometimes both, and the odd appeal gift on top
            kinds = list(PLAN_MIX)
            first = rng.choices(kinds, weights=list(PLAN_MIX.values()))[0]
            kinds.remove(first)
            for kind in [first, rng.choice(kinds)] if rng.random() < 0.22 else [first]:
                self.plan(donor_id, kind, self.when(created, min(self.now, created + timedelta(days=90))), out)
            if rng.random() < 0.4:
                for _ in range(rng.randrange(1, 4)):
                    self.gift(donor_id, self.when(self.start), self.amount(typical), None, out)
        if rng.random() < 0.3:
            kind, summary = rng.choice(INTERACTIONS)
            out.touchpoints.append((donor_id, kind, self.when(first_gift_at), "staff", summary, None, "Demo data", self.now))

    def gift(self, donor_id: int, when: datetime, amount: int, plan_id: int | None, out: Generated, fund: str | None = None) -> None:
        rng = self.rng
        gift_id = self.next_gift_id
        self.next_gift_id += 1
        fund = fund or rng.choice(FUNDS)
        refunded = rng.random() < 0.005
        out.gifts.append((gift_id, donor_id, amount, self.currency, when, fund, rng.choice(CAMPAIGNS) if plan_id is None else "",
                          "direct_debit" if plan_id else rng.choice(METHODS), plan_id, "refunded" if refunded else "received", "", when))
        summary = f"{format_money(amount, self.currency)} to {fund}"
        out.touchpoints.append((donor_id, "gift_received", when, "", summary,
                                {"gift_id": gift_id, "amount_minor": amount, "currency": self.currency, "fund": fund,
                                 "first_gift": False, "plan_id": plan_id}, "", self.now))

    def plan(self, donor_id: int, kind: str, started: datetime, out: Generated) -> None:
        """A plan's payments inside the three years on record, its yearly renewals, and how it ended."""
        rng = self.rng
        plan_id = self.next_plan_id
        self.next_plan_id += 1
        sponsorship = kind == "sponsorship"
        amount = rng.choice([1000, 1500, 2000, 2500, 3000]) if kind != "membership" else 3600
        interval = "yearly" if kind == "membership" else "monthly"
        fund = "Crew sponsorship" if sponsorship else "General fund"
        fate = rng.random()
        status, ended, stopped = "active", None, None
        if fate < 0.15:
            status = "cancelled"
        elif fate < 0.22:
            status = "lapsed"
        elif fate < 0.25:
            status = "paused"
        if status != "active":
            # Payments stop inside the record, so every plan shows some of its history.
            stopped = self.when(max(started, self.start))
            ended = stopped if status != "paused" else None
        step = 12 if interval == "yearly" else 1
        day = started.date()
        stop = (stopped or self.now).date()
        first_on_record = self.start.date()
        while day <= stop:
            if day >= first_on_record:
                self.gift(donor_id, datetime.combine(day, started.time()), amount, plan_id, out, fund=fund)
            day = add_months(day, step)
        renews = add_months(started.date(), 12)
        while renews <= stop:
            if kind != "recurring_gift" and renews >= first_on_record:
                out.touchpoints.append((donor_id, "plan_renewed", datetime.combine(renews, started.time()), "",
                                        f"{PLAN_KINDS[kind]} renewed for another year", json.dumps({"plan_id": plan_id}), "", self.now))
            renews = add_months(renews, 12)
        if kind == "recurring_gift":
            renews = day
        description = f"Sponsoring the {rng.choice(['Skerry', 'Northgate', 'Bay', 'Point', 'Eastwick'])} crew" if sponsorship else ""
        reason = rng.choice(["Moving abroad", "Money is tight at the moment", "Giving to a different cause", ""]) if status == "cancelled" else ""
        out.plans.append((plan_id, donor_id, kind, amount, self.currency, interval, fund,
                          description, started.date(), renews if status in ("active", "paused") else None,
                          ended.date() if ended else None, status, reason, started))
        out.touchpoints.append((donor_id, "plan_started", started, "", f"{PLAN_KINDS[kind]} started", None, "", self.now))
        if status == "cancelled":
            out.touchpoints.append((donor_id, "plan_cancelled", ended, "", "Cancelled" + (f": {reason}" if reason else ""), None, "", self.now))
        elif status == "paused":
            out.touchpoints.append((donor_id, "plan_paused", stopped, "", f"{PLAN_KINDS[kind]} paused", None, "", self.now))


def _sqlite_value(column) -> Callable | None:
    """How a column's Python value is stored by SQLAlchemy on SQLite, for the values that need converting."""
    if isinstance(column.type, DateTime):
        return lambda v: None if v is None else v.isoformat(" ", "microseconds")  # SQLAlchemy's storage format
    if isinstance(column.type, Date):
        return lambda v: None if v is None else v.isoformat()
    return None


def _bulk_insert(table: str, columns: Iterable[str], rows: list[tuple]) -> None:
    if not rows:
        return
    columns = list(columns)
    connection = db.session.connection()
    raw = connection.connection.driver_connection
    if connection.dialect.name == "postgresql":
        with raw.cursor() as cursor:
            with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        return
    converters = [(i, convert) for i, name in enumerate(columns)
                  if (convert := _sqlite_value(db.metadata.tables[table].c[name])) is not None]

    def stored(row: tuple) -> list:
        row = list(row)
        for i, convert in converters:
            row[i] = convert(row[i])
        return row

    placeholders = ", ".join("?" for _ in columns)
    raw.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})", map(stored, rows))


def _write(out: Generated) -> None:
    _bulk_insert("donors", DONOR_COLUMNS, out.donors)
    _bulk_insert("recurring_plans", PLAN_COLUMNS, out.plans)
    _bulk_insert("gifts", GIFT_COLUMNS, out.gifts)
    _bulk_insert("touchpoints", TOUCHPOINT_COLUMNS, out.touchpoints)
    _bulk_insert("donor_tags", ("donor_id", "tag_id"), out.donor_tags)
    _bulk_insert("donor_interests", ("donor_id", "tag_id"), out.donor_interests)


def _ensure_tags() -> dict[int, int]:
    """Adds the demo's tags and interests; returns their ids by position in TAGS + INTERESTS, counted from 1,
    which is how the generator names them (a database that had tags before gives them other ids)."""
    tags = [Tag(name=name) for name in TAGS + INTERESTS]
    db.session.add_all(tags)
    db.session.flush()
    return {position: tag.id for position, tag in enumerate(tags, start=1)}


def _reset_sequences() -> None:
    """After inserting explicit ids, move PostgreSQL's sequences past them."""
    connection = db.session.connection()
    if connection.dialect.name != "postgresql":
        return
    for table in ("donors", "gifts", "recurring_plans", "tags", "touchpoints"):
        connection.execute(text(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"))


def _refuse_if_not_empty() -> None:
    if db.session.scalar(select(func.count()).select_from(Donor)):
        raise RuntimeError("The database already has donors; demo data is only loaded into an empty database.")


def generate_bulk(donors: int, *, seed: int = 7, echo: Callable[[str], None] = print, chunk: int = 10_000) -> dict[str, int]:
    """The benchmark data set: donors with their histories, written in chunks."""
    _refuse_if_not_empty()
    started = time.perf_counter()
    org = organisation()
    tag_ids = _ensure_tags()
    generator = HistoryGenerator(seed, org.currency, utcnow().replace(microsecond=0))
    counts = {"donors": 0, "gifts": 0, "plans": 0, "touchpoints": 0}
    # A million rows go in faster without their secondary indexes, which are then built in one sorted pass.
    # The tables are empty and this is one transaction, so a failure leaves them as they were.
    connection = db.session.connection()
    indexes = [index for table in ("gifts", "touchpoints") for index in db.metadata.tables[table].indexes]
    for index in indexes:
        index.drop(connection)
    for first in range(1, donors + 1, chunk):
        out = Generated()
        for donor_id in range(first, min(first + chunk, donors + 1)):
            generator.donor(donor_id, out)
        out.donor_tags = [(donor_id, tag_ids[position]) for donor_id, position in out.donor_tags]
        out.donor_interests = [(donor_id, tag_ids[position]) for donor_id, position in out.donor_interests]
        _write(out)
        counts["donors"] += len(out.donors)
        counts["gifts"] += len(out.gifts)
        counts["plans"] += len(out.plans)
        counts["touchpoints"] += len(out.touchpoints)
        echo(f"  {counts['donors']:,} donors, {counts['gifts']:,} gifts ({time.perf_counter() - started:.0f}s)")
    for index in indexes:
        index.create(connection)
    echo(f"  indexes built ({time.perf_counter() - started:.0f}s)")
    _reset_sequences()
    db.session.commit()
    rebuild_all_stats()
    echo(f"  rollups rebuilt ({time.perf_counter() - started:.0f}s)")
    return counts


def load_demo(*, donors: int = 600, seed: int = 7) -> dict[str, int]:
    """The data `make run` shows: bulk history plus demo logins and one donor with a full story."""
    counts = generate_bulk(donors, seed=seed, echo=lambda message: None)
    _ensure_demo_logins()
    return counts


def _ensure_demo_logins() -> None:
    names = {"admin": "Priya Shah", "fundraiser": "Tom Okafor", "support": "Grace Lindqvist"}
    for role, name in names.items():
        if not db.session.scalar(select(User).where(User.email == DEMO_LOGINS[role])):
            create_user(DEMO_LOGINS[role], DEMO_PASSWORD, role, name=name)
    if db.session.scalar(select(User).where(User.email == DEMO_LOGINS["donor"])):
        return
    org = organisation()
    now = utcnow()
    amelia = Donor(kind="individual", title="Ms", first_name="Amelia", last_name="Clarke", email=DEMO_LOGINS["donor"],
                   phone="07700 900123", birthday=date(1986, 5, 14), address_line1="12 Quay Street", city="Whitby",
                   postcode="YO21 3PU", country="United Kingdom", source="Spring appeal", marketing_opt_in=True,
                   marketing_consent_at=now - timedelta(days=900), marketing_consent_source="signup form",
                   created_at=now - timedelta(days=900))
    amelia.refresh_keys()
    db.session.add(amelia)
    db.session.flush()
    db.session.add(Touchpoint(donor_id=amelia.id, kind="donor_created", occurred_at=amelia.created_at, summary="Joined", processed_at=now))
    for days_ago, amount, fund in ((880, 2500, "Spring appeal"), (520, 5000, "Flood relief"), (200, 2500, "Winter appeal"), (40, 7500, "Lifeboat crews")):
        giving.add_gift(amelia.id, giving.GiftInput(amount_minor=amount, received_at=now - timedelta(days=days_ago),
                                                    currency=org.currency, fund=fund, method="online"))
    giving.start_plan(amelia.id, giving.PlanInput(kind="sponsorship", amount_minor=1500, currency=org.currency, interval="monthly",
                                                  started_at=(now - timedelta(days=330)).date(), fund="Crew sponsorship",
                                                  description="Sponsoring the Whitby crew"), commit=False)
    db.session.add(Touchpoint(donor_id=amelia.id, kind="inquiry", occurred_at=now - timedelta(days=100), channel="email",
                              summary="Asked how sponsorship letters work", processed_at=now))
    db.session.execute(Touchpoint.__table__.update().where(Touchpoint.donor_id == amelia.id).values(processed_at=now))
    db.session.commit()
    create_user(DEMO_LOGINS["donor"], DEMO_PASSWORD, "donor", name="Amelia Clarke", donor_id=amelia.id)
