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
    financial_year_start: Mapped[int] = mapped_column(default=1)  # month the financial year starts (1 = January)
    impact_line: Mapped[str] = mapped_column(String(300), default="Every £25 keeps a family's lifeboat crew trained for a month.")
    # Who must use two-step sign-in: "admins" or "staff" (everyone in the back office). Donors may opt in.
    two_factor_required_for: Mapped[str] = mapped_column(String(10), default="admins", server_default="admins")
    # Anonymise donors with no gift or contact for this many years; None leaves everyone as they are.
    retention_years: Mapped[int | None] = mapped_column(default=None)
