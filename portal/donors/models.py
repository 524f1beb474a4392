from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Column, ForeignKey, Index, String, Table, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.donors.names import match_key
from portal.extensions import db
from portal.timeutil import utcnow

DONOR_KINDS = {"individual": "Individual", "organisation": "Organisation"}
CHANNELS = {"email": "Email", "phone": "Phone", "post": "Post", "sms": "Text message"}

donor_tags = Table(
    "donor_tags",
    db.metadata,
    Column("donor_id", ForeignKey("donors.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True),
    # Covering: the donors with a tag come from the index alone.
    Index("ix_donor_tags_tag_id", "tag_id", "donor_id"),
)

donor_interests = Table(
    "donor_interests",
    db.metadata,
    Column("donor_id", ForeignKey("donors.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class Tag(db.Model):
    """A label staff put on donors; the same vocabulary names the causes donors are interested in."""

    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60), unique=True)  # stored lower-case


class Donor(db.Model):
    __tablename__ = "donors"
    # The search-as-you-type indexes carry name_key and id, so a prefix search is answered, and ordered by
    # name, from the indexes alone (index-only scans on PostgreSQL) without reading donor rows.
    __table_args__ = (
        Index("ix_donors_name_key", "name_key", "id"),
        Index("ix_donors_first_key", "first_key", "name_key", "id"),
        Index("ix_donors_email_name_key", "email", "name_key", "id"),
        Index("ix_donors_created_at", "created_at"),
        Index("ix_donors_match_key", "match_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), default="individual", index=True)
    title: Mapped[str] = mapped_column(String(20), default="")
    first_name: Mapped[str] = mapped_column(String(80), default="")
    last_name: Mapped[str] = mapped_column(String(80), default="")
    organisation_name: Mapped[str] = mapped_column(String(160), default="")
    # Lower-cased keys for prefix search with a plain b-tree index on any database.
    name_key: Mapped[str] = mapped_column(String(200), default="")
    first_key: Mapped[str] = mapped_column(String(80), default="")
    # The name with accents, case, nicknames and word order folded away: likely duplicates share it.
    match_key: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str | None] = mapped_column(String(254), unique=True)  # stored lower-case
    phone: Mapped[str] = mapped_column(String(40), default="")
    birthday: Mapped[date | None]
    address_line1: Mapped[str] = mapped_column(String(160), default="")
    address_line2: Mapped[str] = mapped_column(String(160), default="")
    city: Mapped[str] = mapped_column(String(80), default="")
    region: Mapped[str] = mapped_column(String(80), default="")
    postcode: Mapped[str] = mapped_column(String(20), default="")
    country: Mapped[str] = mapped_column(String(80), default="")
    preferred_channel: Mapped[str] = mapped_column(String(20), default="email")
    source: Mapped[str] = mapped_column(String(80), default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    # Consent: marketing needs an opt-in; transactional mail (receipts, resets) is always allowed.
    marketing_opt_in: Mapped[bool] = mapped_column(default=False, index=True)
    marketing_consent_at: Mapped[datetime | None]
    marketing_consent_source: Mapped[str] = mapped_column(String(80), default="")
    unsubscribed_at: Mapped[datetime | None]
    external_ref: Mapped[str | None] = mapped_column(String(80), unique=True)
    # When they became a supporter: the earliest of joining (as an imported file says), their first gift and
    # their first touchpoint; the record's own creation time when nothing earlier is known.
    supporter_since: Mapped[datetime | None]
    erased_at: Mapped[datetime | None]  # personal data removed at the donor's request; gifts stay
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    tags = relationship(Tag, secondary=donor_tags, order_by=Tag.name, lazy="selectin")
    interests = relationship(Tag, secondary=donor_interests, order_by=Tag.name, lazy="selectin")
    stats = relationship("DonorStats", uselist=False, lazy="joined", viewonly=True)

    @property
    def display_name(self) -> str:
        if self.erased_at is not None:
            return f"Erased donor #{self.id}"
        if self.kind == "organisation":
            return self.organisation_name or "(unnamed organisation)"
        name = f"{self.first_name} {self.last_name}".strip()
        return name or (self.email or "(unnamed donor)")

    @property
    def since(self) -> datetime:
        """When they became a supporter, as far as we know."""
        return self.supporter_since or self.created_at

    @property
    def salutation_name(self) -> str:
        if self.erased_at is not None:
            return "friend"
        if self.kind == "organisation":
            return self.organisation_name or "friend"
        return self.first_name or "friend"

    @property
    def can_receive_marketing(self) -> bool:
        return bool(self.email) and self.marketing_opt_in and self.unsubscribed_at is None

    def refresh_keys(self) -> None:
        if self.kind == "organisation":
            self.name_key = self.organisation_name.strip().lower()
        else:
            self.name_key = f"{self.last_name} {self.first_name}".strip().lower()
        self.first_key = self.first_name.strip().lower()
        self.match_key = match_key(self.kind, self.first_name, self.last_name, self.organisation_name)


class ImportBatch(db.Model):
    """A CSV upload on its way through mapping, validation and an all-or-nothing import."""

    __tablename__ = "import_batches"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # donors | gifts
    filename: Mapped[str] = mapped_column(String(255), default="")
    content: Mapped[str] = mapped_column(Text)
    mapping: Mapped[dict | None] = mapped_column(db.JSON)
    status: Mapped[str] = mapped_column(String(20), default="uploaded", index=True)
    total_rows: Mapped[int] = mapped_column(default=0)
    valid_rows: Mapped[int] = mapped_column(default=0)
    imported_rows: Mapped[int] = mapped_column(default=0)
    errors: Mapped[list | None] = mapped_column(db.JSON)
    preview: Mapped[list | None] = mapped_column(db.JSON)
    extra_counts: Mapped[dict | None] = mapped_column(db.JSON)  # extra column key -> records the import will write
    skip_invalid: Mapped[bool] = mapped_column(default=False)
    content_hash: Mapped[str] = mapped_column(String(64), default="", index=True)  # sha256 of the uploaded bytes
    source_system: Mapped[str] = mapped_column(String(80), default="")  # the old system gift ids belong to
    include_on_file: Mapped[bool] = mapped_column(default=False)  # import rows that match a gift on file anyway
    include_duplicates: Mapped[bool] = mapped_column(default=False)  # import rows flagged as likely duplicates anyway
    include_erased: Mapped[bool] = mapped_column(default=False)  # import erased donors' addresses: they asked to be added again
    job_id: Mapped[str | None] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class DuplicatePair(db.Model):
    """Two donors the duplicate scan found alike, with why; staff merge them or mark them different.
    The lower id is always donor_a, so a pair has one row whichever way round it was found."""

    __tablename__ = "duplicate_pairs"
    __table_args__ = (
        UniqueConstraint("donor_a_id", "donor_b_id", name="uq_duplicate_pairs_pair"),
        Index("ix_duplicate_pairs_status_score", "status", "score"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    donor_a_id: Mapped[int] = mapped_column(ForeignKey("donors.id", ondelete="CASCADE"))
    donor_b_id: Mapped[int] = mapped_column(ForeignKey("donors.id", ondelete="CASCADE"), index=True)
    score: Mapped[int] = mapped_column(default=0)
    reasons: Mapped[list | None] = mapped_column(db.JSON)
    status: Mapped[str] = mapped_column(String(20), default="open")  # open | not_duplicate
    found_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None]

    donor_a = relationship(Donor, foreign_keys=[donor_a_id])
    donor_b = relationship(Donor, foreign_keys=[donor_b_id])


class DonorRedirect(db.Model):
    """A donor id merged into another: links and bookmarks to the old id lead to the survivor."""

    __tablename__ = "donor_redirects"

    merged_id: Mapped[int] = mapped_column(primary_key=True)
    donor_id: Mapped[int] = mapped_column(ForeignKey("donors.id", ondelete="CASCADE"), index=True)
    merged_at: Mapped[datetime] = mapped_column(default=utcnow)


class ErasedEmail(db.Model):
    """An address whose donor was erased (by the privacy domain's erasure), kept only as a hash: it is never emailed again, and a new donor
    with it needs staff to confirm. The hash cannot be turned back into the address."""

    __tablename__ = "erased_emails"

    email_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    erased_at: Mapped[datetime] = mapped_column(default=utcnow)
