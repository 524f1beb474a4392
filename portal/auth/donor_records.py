"""Accounts' part in merging, erasing and exporting a donor (see portal.record_keepers)."""
from __future__ import annotations

from sqlalchemy import delete

from portal import record_keepers as records
from portal.auth.emails import link, queue_account_email
from portal.auth.models import User
from portal.auth.services import user_for_donor
from portal.donors.services import get_donor
from portal.extensions import db
from portal.web import current_organisation


def move(from_id: int, to_id: int) -> None:
    """One portal login per donor. The survivor keeps its own if it has one; the merged-away donor's login is
    then closed and its address told which login to use from now on."""
    merged_login = user_for_donor(from_id)
    if merged_login is None:
        return
    surviving_login = user_for_donor(to_id)
    if surviving_login is None:
        merged_login.donor_id = to_id
        return
    queue_account_email(merged_login.email, "accounts_combined", f"Your {current_organisation().name} records are now one",
                        donor_id=None, purpose="portal_accounts_combined", donor=get_donor(to_id),
                        login_email=surviving_login.email, closed_email=merged_login.email, link=link("/password/forgot"))
    db.session.delete(merged_login)
    db.session.flush()


def erase(donor_id: int) -> None:
    """No login is left: the account's sessions stop working at their next request (the user is gone)."""
    db.session.execute(delete(User).where(User.donor_id == donor_id))


def export(donor_id: int) -> dict[str, list[dict]]:
    login = user_for_donor(donor_id)
    return {"portal_account": records.rows([login] if login else [], ("email", "created_at", "last_login_at"))}


def register() -> None:
    records.register("auth", move=move, erase=erase, export=export)
