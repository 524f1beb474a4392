from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db


class Organisation(db.Model):
    """The single row of organisation-wide settings that admins edit."""

    __tablename__ = "organisation"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), default="Harbour Trust")
    currency: Mapped[str] = mapped_column(String(3), default="GBP")
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/London")
    support_email: Mapped[str] = mapped_column(String(254), default="support@harbourtrust.example")
    impact_line: Mapped[str] = mapped_column(String(300), default="Every £25 keeps a family's lifeboat crew trained for a month.")
    # Anonymise donors with no gift or contact for this many years; None leaves everyone as they are.
    retention_years: Mapped[int | None] = mapped_column(default=None)
