"""Rendered donor-portal pages, reused while nothing they show has changed.

A donor opens their home and giving history far more often than anything on them changes. Each rendered
page is kept per donor beside a fingerprint: one SQL statement reading, for that donor, the marks every
change leaves behind (the donor and rollup row versions, how many touchpoints and points entries their
append-only logs hold, the newest ticket update and survey invitation, how many invitations await an answer,
when their suggestions were computed, the organisation and loyalty settings). Every mark is read through an
index that starts with the donor, so it costs the same for a donor with a long history. The
fingerprint is read on every request, so a change made by any process, a worker or another web process,
shows at once. Shared content edited by staff (tier names, survey and article titles) and time-based
states (an invitation expiring, points leaving the tier window) are covered by a one-minute time bucket.

A stored page has its CSRF token replaced by a placeholder; each request gets its own token put back.
Pages with flash messages are neither stored nor served from the store.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from functools import wraps
from typing import Any, Callable

from flask import current_app, g, make_response, request, session
from flask_login import current_user
from flask_wtf.csrf import generate_csrf
from sqlalchemy import bindparam, func, literal, select

from portal.donors.models import Donor
from portal.extensions import db
from portal.feedback.models import SurveyInvitation
from portal.giving.models import DonorStats
from portal.journey.models import Touchpoint
from portal.kb.models import SuggestionState
from portal.loyalty.models import LoyaltyAccount, LoyaltyRules, PointsEntry
from portal.settings.models import Organisation
from portal.support.models import Ticket
from portal.timeutil import utcnow

TIME_BUCKET_SECONDS = 60
CSRF_PLACEHOLDER = "\x00csrf-token\x00"
_DONOR = bindparam("donor_id")


def _newest(column, donor_column):
    return select(func.max(column)).where(donor_column == _DONOR).scalar_subquery()


def _how_many(donor_column, *conditions):
    # Not max(id): PostgreSQL answers that by walking the primary key backwards until it meets the donor,
    # which for a donor without recent rows means most of the table.
    return select(func.count()).where(donor_column == _DONOR, *conditions).scalar_subquery()


FINGERPRINT = select(
    select(Donor.updated_at).where(Donor.id == _DONOR).scalar_subquery(),
    select(DonorStats.updated_at).where(DonorStats.donor_id == _DONOR).scalar_subquery(),
    _how_many(Touchpoint.donor_id),
    _how_many(PointsEntry.donor_id),
    select(LoyaltyAccount.tier_id).where(LoyaltyAccount.donor_id == _DONOR).scalar_subquery(),
    _newest(Ticket.updated_at, Ticket.donor_id),
    _newest(SurveyInvitation.created_at, SurveyInvitation.donor_id),
    _how_many(SurveyInvitation.donor_id, SurveyInvitation.status == "sent"),
    select(SuggestionState.computed_at).where(SuggestionState.donor_id == _DONOR).scalar_subquery(),
    select(func.max(LoyaltyRules.updated_at)).scalar_subquery(),
    select(func.max(Organisation.name + literal("|") + Organisation.currency + literal("|") + Organisation.timezone
                    + literal("|") + Organisation.support_email + literal("|") + Organisation.impact_line)).scalar_subquery(),
)


def fingerprint(donor_id: int) -> tuple | None:
    """What a donor's portal pages depend on, read in one statement; None when the donor no longer exists."""
    # On the session's connection, without the ORM's result handling: this runs on every portal page view.
    row = tuple(db.session.connection().execute(FINGERPRINT, {"donor_id": donor_id}).one())
    if row[0] is None:
        return None
    return row + (int(utcnow().timestamp()) // TIME_BUCKET_SECONDS,)


class PageStore:
    """A bounded, thread-safe LRU of rendered pages for one web process."""

    def __init__(self, size: int):
        self.size = size
        self._pages: OrderedDict[tuple, tuple[tuple, str, str]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple, mark: tuple) -> tuple[str, str] | None:
        with self._lock:
            found = self._pages.get(key)
            if found is None or found[0] != mark:
                return None
            self._pages.move_to_end(key)
            return found[1], found[2]

    def put(self, key: tuple, mark: tuple, body: str, mimetype: str) -> None:
        with self._lock:
            self._pages[key] = (mark, body, mimetype)
            self._pages.move_to_end(key)
            while len(self._pages) > self.size:
                self._pages.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._pages.clear()

    def __len__(self) -> int:
        return len(self._pages)


def store() -> PageStore:
    return current_app.extensions["me_page_store"]


def init_app(app) -> None:
    app.config.setdefault("ME_PAGE_CACHE_SIZE", 2000)
    app.extensions["me_page_store"] = PageStore(app.config["ME_PAGE_CACHE_SIZE"])


def cached_page(view: Callable[..., Any]) -> Callable[..., Any]:
    """Serve a donor's GET page from the store while its fingerprint holds; render and store it otherwise."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        if request.method != "GET" or session.get("_flashes") or not store().size:
            return view(*args, **kwargs)
        mark = fingerprint(current_user.donor_id)
        if mark is None:
            return view(*args, **kwargs)
        key = (current_user.donor_id, request.full_path, request.headers.get("HX-Request"), request.headers.get("HX-Target"))
        found = store().get(key, mark)
        if found is not None:
            body, mimetype = found
            return make_response(body.replace(CSRF_PLACEHOLDER, generate_csrf()), 200, {"Content-Type": mimetype})
        response = make_response(view(*args, **kwargs))
        if response.status_code == 200 and not response.direct_passthrough and not session.get("_flashes"):
            body = response.get_data(as_text=True)
            token = g.get(current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"))
            store().put(key, mark, body.replace(token, CSRF_PLACEHOLDER) if token else body, response.content_type)
        return response

    return wrapper
