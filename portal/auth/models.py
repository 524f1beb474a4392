from __future__ import annotations

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.timeutil import utcnow

STAFF_ROLES = ("admin", "fundraiser", "support")
ROLES = STAFF_ROLES + ("donor",)
ROLE_LABELS = {"admin": "Administrator", "fundraiser": "Fundraiser", "support": "Support specialist", "donor": "Donor"}


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)  # stored lower-case
    name: Mapped[str] = mapped_column(String(120), default="")
    password_hash: Mapped[str | None] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20), index=True)
    active: Mapped[bool] = mapped_column(default=True)
    donor_id: Mapped[int | None] = mapped_column(ForeignKey("donors.id", ondelete="SET NULL"), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]
    # Two-step sign-in (portal.auth.two_factor): the TOTP secret, when it was turned on, and the last time step
    # a code was accepted for (a code is never accepted twice).
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_enabled_at: Mapped[datetime | None]
    totp_last_step: Mapped[int | None]

    donor = relationship("Donor", foreign_keys=[donor_id])

    # The key of the server-side session this object was loaded for (see portal.auth.sessions); not a column.
    session_key = None  # str once loaded or signed in

    def get_id(self) -> str | None:
        """What Flask-Login keeps in the session cookie and the remember cookie: the user and the server-side
        session, so ending that session on the server ends both cookies."""
        return f"{self.id}:{self.session_key}" if self.session_key else None

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.active

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES

    @property
    def role_label(self) -> str:
        return ROLE_LABELS.get(self.role, self.role)

    def has_role(self, *roles: str) -> bool:
        return self.role == "admin" or self.role in roles


class UserSession(db.Model):
    """One signed-in browser. The cookies carry the key; only its SHA-256 is stored, so a copy of the
    database cannot be replayed as a session. Ending a session (sign-out, password change, an admin) stops
    both its session cookie and its remember cookie on the next request."""

    __tablename__ = "user_sessions"
    __table_args__ = (Index("ix_user_sessions_user", "user_id", "ended_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    user_agent: Mapped[str] = mapped_column(String(300), default="")
    ip_address: Mapped[str] = mapped_column(String(45), default="")
    remember: Mapped[bool] = mapped_column(default=False)
    ended_at: Mapped[datetime | None]
    end_reason: Mapped[str] = mapped_column(String(40), default="")


class RecoveryCode(db.Model):
    """A one-time code for signing in without the authenticator app. Shown once; only its hash is kept."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None]
