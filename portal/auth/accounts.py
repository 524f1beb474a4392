"""Donor accounts: the staff invitation, sign-up by a donor who has given, the account's first password, and
the portal-login touchpoint. Sits above donors, giving and journey, whose services these flows call."""
from __future__ import annotations

from portal.auth.emails import link, queue_account_email
from portal.auth.models import User
from portal.auth.services import AccountError, check_password_strength, hash_password, user_by_email, user_for_donor
from portal.donors.services import donor_by_email, get_donor
from portal.extensions import db
from portal.giving.services import gifts_for
from portal.journey import services as journey
from portal.tokens import read_token, sealed_link
from portal.web import current_organisation


def invite_donor(donor, *, invited_by) -> None:
    """Email the donor a signed link (valid 14 days) to set a password. Commits."""
    if not donor.email:
        raise AccountError("Add an email address to this donor before inviting them.", "email")
    if user_for_donor(donor.id) is not None:
        raise AccountError("This donor already has a portal account.")
    if user_by_email(donor.email) is not None:
        raise AccountError("A staff account uses this email address, so it can't also be a donor login.", "email")
    queue_account_email(donor.email, "invitation", f"Your {current_organisation().name} supporter account", donor_id=donor.id,
                        purpose="portal_invitation", donor=donor, invited_by=invited_by,
                        sealed_link=sealed_link("invitation", {"d": donor.id, "e": donor.email}, "/invitation/{token}"))
    journey.record(donor.id, "portal_invited", f"Invitation sent to {donor.email}", actor=invited_by, channel="email")
    db.session.commit()


def donor_for_account_token(purpose: str, token: str):
    """The donor an invitation or signup link was made for. TokenError/AccountError carry a message for the page."""
    payload = read_token(purpose, token)
    donor = get_donor(int(payload.get("d") or 0)) if isinstance(payload, dict) else None
    if donor is None or not donor.email or donor.email != payload.get("e"):
        raise AccountError("This link was made for an email address that is no longer on our records.")
    if user_for_donor(donor.id) is not None:
        raise AccountError("You already have an account. Sign in with your email address and password.")
    return donor


def create_donor_account(purpose: str, token: str, password: str) -> User:
    """Finish an invitation or a signup: the donor chooses a password and gets a donor login. Commits."""
    donor = donor_for_account_token(purpose, token)
    check_password_strength(password, donor.email)
    if user_by_email(donor.email) is not None:
        raise AccountError("A staff account uses this email address. Please contact us.")
    user = User(email=donor.email, name=donor.display_name, role="donor", donor_id=donor.id,
                password_hash=hash_password(password))
    db.session.add(user)
    journey.record(donor.id, "portal_account_created", "Set up their portal account" + (" from an invitation" if purpose == "invitation" else ""),
                   channel="portal", data={"via": purpose})
    db.session.commit()
    return user


def request_signup(email: str) -> None:
    """Email a sign-up link if a gift was recorded under this address. The caller shows the same page
    whatever happens here, so the page never reveals whether an address is known."""
    donor = donor_by_email(email)
    if donor is None or not gifts_for(donor.id, limit=1):
        return
    name = current_organisation().name
    if user_for_donor(donor.id) is not None:
        queue_account_email(donor.email, "already_registered", f"Your {name} account", donor_id=donor.id,
                            purpose="portal_signup", donor=donor, link=link("/password/forgot"))
    else:
        queue_account_email(donor.email, "signup", f"Confirm your email to finish signing up with {name}", donor_id=donor.id,
                            purpose="portal_signup", donor=donor,
                            sealed_link=sealed_link("signup", {"d": donor.id, "e": donor.email}, "/signup/{token}"))
    db.session.commit()


def record_portal_login(sender, user: User) -> None:
    """Flask-Login's user_logged_in signal: a donor signing in is a touchpoint."""
    if user.donor_id:
        journey.record(user.donor_id, "portal_login", "Signed in to the portal", channel="portal", actor=user)
        db.session.commit()
