"""Rendered donor-portal pages, reused while nothing they show has changed.

A donor opens their home and giving history far more often than anything on them changes. Each rendered
page is kept per donor beside a fingerprint: one SQL statement reading, for that donor, the marks every
change leaves behind (the donor and rollup row versions, how many touchpoints and points entries their
append-only logs hold, the newest ticket update and survey invitation, how many invitations await an answer,
when their suggestions were computed, the organisation and loyalty settings). Every mark is read through an
index that starts with the donor, so it stays cheap for a donor with a long history. The
fingerprint is read on every request, so a change made by any process, a worker or another web process,
shows at once. Shared content edited by staff (tier names, survey and article titles) and time-based
states (an invitation expiring, points leaving the tier window) are covered by a one-minute time bucket.

A stored page is kept split at its CSRF token: the session it was rendered for gets that token back, any
other session its own. A request for a stored page is answered before the account is loaded (see
answer_from_store).
Pages with flash messages are neither stored nor served from the store.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from functools import wraps
from typing import Any, Callable

from flask import current_app, g, make_response, request, session
from flask_login import current_user
from flask_wtf.csrf import generate_csrf
from sqlalchemy import bindparam, create_engine, event, exists, func, literal, select

from portal.auth import sessions
from portal.auth.models import User, UserSession
from portal.extensions import ping_after_idle
from portal.donors.models import Donor
from portal.extensions import db, login_manager
from portal.feedback.models import SurveyInvitation
from portal.giving.models import DonorStats
from portal.journey.models import Touchpoint
from portal.kb.models import SuggestionState
from portal.loyalty.models import LoyaltyAccount, LoyaltyRules, PointsEntry
from portal.settings.models import Organisation
from portal.support.models import Ticket
from portal.timeutil import utcnow

TIME_BUCKET_SECONDS = 60


def _newest(column, donor_column, donor):
    return select(func.max(column)).where(donor_column == donor).scalar_subquery()


def _how_many(donor_column, donor, *conditions):
    # Not max(id): PostgreSQL answers that by walking the primary key backwards until it meets the donor,
    # which for a donor without recent rows means most of the table.
    return select(func.count()).where(donor_column == donor, *conditions).scalar_subquery()


def _marks(donor) -> tuple:
    """The fingerprint's columns for `donor`: a bound parameter, or a column of an enclosing query."""
    return (
        select(Donor.updated_at).where(Donor.id == donor).scalar_subquery(),
        select(DonorStats.updated_at).where(DonorStats.donor_id == donor).scalar_subquery(),
        _how_many(Touchpoint.donor_id, donor),
        _how_many(PointsEntry.donor_id, donor),
        select(LoyaltyAccount.tier_id).where(LoyaltyAccount.donor_id == donor).scalar_subquery(),
        _newest(Ticket.updated_at, Ticket.donor_id, donor),
        _newest(SurveyInvitation.created_at, SurveyInvitation.donor_id, donor),
        _how_many(SurveyInvitation.donor_id, donor, SurveyInvitation.status == "sent"),
        select(SuggestionState.computed_at).where(SuggestionState.donor_id == donor).scalar_subquery(),
        select(func.max(LoyaltyRules.updated_at)).scalar_subquery(),
        select(func.max(Organisation.name + literal("|") + Organisation.currency + literal("|") + Organisation.timezone
                        + literal("|") + Organisation.support_email + literal("|") + Organisation.impact_line)
               ).scalar_subquery(),
    )


FINGERPRINT = select(*_marks(bindparam("donor_id")))
# The account behind a session and its donor's fingerprint, so a stored page is answered with one statement.
# A session that has been ended on the server (signed out, password changed) reads as an inactive account.
ACCOUNT_AND_FINGERPRINT = select(
    User.active & exists().where(UserSession.user_id == User.id, UserSession.key_hash == bindparam("session_key_hash"),
                                 UserSession.ended_at.is_(None)),
    User.role, User.donor_id, *_marks(User.donor_id)).where(User.id == bindparam("user_id"))
_ACCOUNT_COLUMNS = 3


def _with_time_bucket(marks: tuple) -> tuple:
    return marks + (int(utcnow().timestamp()) // TIME_BUCKET_SECONDS,)


def fingerprint(donor_id: int) -> tuple | None:
    """What a donor's portal pages depend on, read in one statement; None when the donor no longer exists."""
    # On the session's connection, without the ORM's result handling: this runs on every portal page view.
    row = tuple(db.session.connection().execute(FINGERPRINT, {"donor_id": donor_id}).one())
    if row[0] is None:
        return None
    return _with_time_bucket(row)


@dataclass(frozen=True)
class StoredPage:
    mark: tuple
    chunks: list[bytes]  # the page split at its CSRF token
    mimetype: str
    csrf_raw: str | None  # the session secret the token was signed from, and the token
    csrf_token: str | None

    def body(self) -> bytes:
        # The same session gets its token back; any other is given its own, signed afresh.
        raw = session.get(current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"))
        token = self.csrf_token if raw is not None and raw == self.csrf_raw else generate_csrf()
        return token.encode().join(self.chunks)


class PageStore:
    """A bounded, thread-safe LRU of rendered pages for one web process."""

    def __init__(self, size: int):
        self.size = size
        self._pages: OrderedDict[tuple, StoredPage] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple, mark: tuple) -> StoredPage | None:
        with self._lock:
            found = self._pages.get(key)
            if found is None or found.mark != mark:
                return None
            self._pages.move_to_end(key)
            return found

    def put(self, key: tuple, page: StoredPage) -> None:
        with self._lock:
            self._pages[key] = page
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


class AccountReader:
    """ACCOUNT_AND_FINGERPRINT compiled once and run on a DBAPI cursor: it runs on every stored-page request,
    where SQLAlchemy's per-execution work and a transaction's BEGIN and ROLLBACK would cost more than the query.

    On PostgreSQL it has a small pool of its own, in autocommit: one round trip per request. SQLite reads
    outside a transaction anyway, so it shares the app's engine. Values come back as the driver gives them:
    they are only compared with the same statement's earlier results."""

    def __init__(self, engine):
        if engine.dialect.name == "postgresql":
            app_engine = engine
            connect_args = current_app.config["SQLALCHEMY_ENGINE_OPTIONS"].get("connect_args", {})
            engine = create_engine(app_engine.url, connect_args=connect_args, isolation_level="AUTOCOMMIT", pool_size=2,
                                   max_overflow=8, pool_reset_on_return=None)
            ping_after_idle(engine, current_app.config["DB_PING_AFTER_IDLE_SECONDS"])
            event.listen(app_engine, "engine_disposed", lambda _engine: engine.dispose())
        self.engine = engine
        compiled = ACCOUNT_AND_FINGERPRINT.compile(dialect=engine.dialect)
        self.sql = str(compiled)
        self.defaults = compiled.construct_params({"user_id": 0, "session_key_hash": ""})
        self.positions = compiled.positiontup if compiled.positional else None

    def read(self, user_id: int, session_key_hash: str) -> tuple | None:
        """The account row and fingerprint. A connection that fails is discarded, never pooled again; when it
        failed because the database went away (a restart), the rest of the pool went with it, so the pool
        is replaced and the read tried once more on a new connection."""
        params = {**self.defaults, "user_id": user_id, "session_key_hash": session_key_hash}
        arguments = tuple(params[name] for name in self.positions) if self.positions is not None else params
        try:
            return self._read_once(arguments)
        except _LostConnection:
            self.engine.dispose()
        try:
            return self._read_once(arguments)
        except _LostConnection as still_lost:
            raise still_lost.__cause__ from None  # the database is down: the driver's error, for the 503 page

    def _read_once(self, arguments) -> tuple | None:
        connection = self.engine.raw_connection()
        cursor = None
        try:
            cursor = connection.cursor()
            cursor.execute(self.sql, arguments)
            row = cursor.fetchone()
            cursor.close()
        except self.engine.dialect.loaded_dbapi.Error as error:
            lost = self.engine.dialect.is_disconnect(error, connection.dbapi_connection, cursor)
            connection.invalidate(error)
            if lost:
                raise _LostConnection() from error
            raise
        finally:
            connection.close()
        return row


class _LostConnection(Exception):
    """The account read's connection had been cut by the database (restart, terminated backend)."""


def init_app(app) -> None:
    app.config.setdefault("ME_PAGE_CACHE_SIZE", 2000)
    app.extensions["me_page_store"] = PageStore(app.config["ME_PAGE_CACHE_SIZE"])
    with app.app_context():
        app.extensions["me_page_reader"] = AccountReader(db.engine)


def _page_key(donor_id: int) -> tuple:
    return donor_id, request.full_path, request.headers.get("HX-Request"), request.headers.get("HX-Target")


def _stored_response(page: StoredPage):
    return make_response(page.body(), 200, {"Content-Type": page.mimetype})


def _may_use_store() -> bool:
    return request.method == "GET" and not session.get("_flashes") and bool(store().size)


def answer_from_store():
    """Before the blueprint's sign-in check: answer a stored page without loading anything else.

    One statement read outside a transaction (nothing to begin or roll back) returns the account behind the
    session and its donor's fingerprint. Whatever this path cannot settle (no signed-in donor account, an
    inactive one, a session Flask-Login's protection would end, nothing stored) goes on to the normal path,
    which checks and renders as for any page; the fingerprint read here is kept for it."""
    view = current_app.view_functions.get(request.endpoint)
    if not getattr(view, "stored_page", False) or not _may_use_store():
        return None
    signed_in = sessions.parse_id(session.get("_user_id"))
    # Flask-Login's own check of the session's address and browser, with its effect (a stale session is made
    # non-fresh, or ended under "strong" protection, when the normal path takes over).
    if signed_in is None or login_manager._session_protection_failed():
        return None
    user_id, key = signed_in
    row = current_app.extensions["me_page_reader"].read(user_id, sessions.key_hash(key))
    if row is None:
        return None
    active, role, donor_id = row[:_ACCOUNT_COLUMNS]
    marks = tuple(row[_ACCOUNT_COLUMNS:])
    if not active or role != "donor" or donor_id is None or marks[0] is None:
        return None
    mark = _with_time_bucket(marks)
    g.page_mark = (donor_id, mark)
    found = store().get(_page_key(donor_id), mark)
    return _stored_response(found) if found is not None else None


def _mark_for(donor_id: int) -> tuple | None:
    checked = g.pop("page_mark", None)
    if checked is not None and checked[0] == donor_id:
        return checked[1]
    return fingerprint(donor_id)


def _stored(response, mark: tuple) -> StoredPage:
    field = current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
    body, token = response.get_data(), g.get(field)
    if token is None:
        return StoredPage(mark, [body], response.content_type, None, None)
    return StoredPage(mark, body.split(token.encode()), response.content_type, session.get(field), token)


def cached_page(view: Callable[..., Any]) -> Callable[..., Any]:
    """Serve a donor's GET page from the store while its fingerprint holds; render and store it otherwise."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        if not _may_use_store():
            return view(*args, **kwargs)
        mark = _mark_for(current_user.donor_id)
        if mark is None:
            return view(*args, **kwargs)
        key = _page_key(current_user.donor_id)
        found = store().get(key, mark)
        if found is not None:
            return _stored_response(found)
        response = make_response(view(*args, **kwargs))
        if response.status_code == 200 and not response.direct_passthrough and not session.get("_flashes"):
            store().put(key, _stored(response, mark))
        return response

    wrapper.stored_page = True
    return wrapper
