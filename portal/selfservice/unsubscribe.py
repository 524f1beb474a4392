"""One-click unsubscribe links from emails: no login, the signed token is the authority.

GET shows a confirmation page (mail scanners follow links, so a GET never unsubscribes);
POST unsubscribes, as RFC 8058 one-click requests from mail clients do.
"""
from __future__ import annotations

from flask import Blueprint, abort, render_template, request, url_for

from portal.donors import preferences
from portal.donors.services import get_donor
from portal.extensions import csrf
from portal.tokens import TokenError, make_token, read_token

bp = Blueprint("unsubscribe", __name__)


def _read(token: str):
    payload = read_token("unsubscribe", token)
    if not isinstance(payload, dict) or payload.get("t") not in (None, *preferences.TOPICS):
        raise TokenError("This link is not valid. It may have been copied incompletely.")
    donor = get_donor(int(payload.get("d") or 0))
    if donor is None:
        abort(404)
    return donor, payload.get("t")


def _already(donor, topic: str | None) -> bool:
    if topic is None:
        return not donor.can_receive_marketing
    return not preferences.can_email(donor, topic)


# CSRF-exempt: mail clients POST "List-Unsubscribe=One-Click" with no page and so no CSRF token (RFC 8058).
# The signed token in the URL is what proves the request comes from the recipient's own email.
@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
@csrf.exempt
def unsubscribe(token: str):
    try:
        donor, topic = _read(token)
    except TokenError as exc:
        return render_template("me/unsubscribe.html", problem=str(exc)), 400
    topic_label = preferences.TOPICS[topic][0] if topic else None
    everything_url = url_for("unsubscribe.unsubscribe", token=make_token("unsubscribe", {"d": donor.id, "t": None}))
    if request.method == "POST":
        preferences.unsubscribe(donor, topic, source="unsubscribe link")
        return render_template("me/unsubscribe.html", donor=donor, topic=topic, topic_label=topic_label, done=True,
                               everything_url=everything_url, everything_done=not donor.can_receive_marketing)
    return render_template("me/unsubscribe.html", donor=donor, topic=topic, topic_label=topic_label, done=False,
                           already=_already(donor, topic), everything_url=everything_url)
